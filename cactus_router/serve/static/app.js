"use strict";
// The playground: explain the prompt at the slider's cost_bias and show why that model was chosen.
// Text is only ever set with textContent, so nothing a prompt or a profile holds runs as markup.

const $ = (id) => document.getElementById(id);
const fmt = (x) => (x === null || x === undefined ? "" : Number(x).toFixed(3));
let pending = null;

function item(list, text) {
  const li = document.createElement("li");
  li.textContent = text;
  list.appendChild(li);
}

function render(e) {
  const d = e.decision;
  $("model").textContent = d.model;
  $("summary").textContent =
    `cluster ${d.cluster} (${e.cluster_size} training prompts), similarity ${fmt(d.similarity)}, ` +
    `margin ${fmt(d.margin)}; cost_bias ${d.cost_bias}, lambda ${fmt(e.lambda)}` +
    (d.in_distribution ? "" : "; out of distribution");
  const applied = $("applied");
  applied.replaceChildren();
  if (d.applied.length === 0) item(applied, "none: the cluster rule's choice stands");
  for (const a of d.applied) item(applied, `${a.policy}: ${a.reason}`);
  const body = $("ranking").tBodies[0];
  body.replaceChildren();
  for (const t of e.terms) {
    const row = body.insertRow();
    if (t.model === d.model) row.className = "chosen";
    if (t.score === null) row.className = "ineligible";
    const cells = [t.model, fmt(t.cluster_error_rate), fmt(t.expected_error), fmt(t.cost_term),
                   t.score === null ? "not eligible" : fmt(t.score)];
    for (const c of cells) row.insertCell().textContent = c;
  }
  const tasks = $("tasks");
  tasks.replaceChildren();
  if (e.cluster_tasks.length === 0) item(tasks, "the profile records no tasks");
  for (const t of e.cluster_tasks) item(tasks, `${t.task}: ${t.count}`);
  $("result").hidden = false;
}

async function explain() {
  const prompt = $("prompt").value;
  if (!prompt.trim()) return;
  const headers = { "Content-Type": "application/json" };
  const token = $("token").value;
  if (token) headers.Authorization = `Bearer ${token}`;
  const body = JSON.stringify({ prompt, cost_bias: Number($("cost-bias").value) });
  const error = $("error");
  try {
    const reply = await fetch("/v1/explain", { method: "POST", headers, body });
    const data = await reply.json();
    if (!reply.ok) {
      if (reply.status === 401) $("token-box").open = true;
      throw new Error(`${data.error.type}: ${data.error.message}`);
    }
    error.hidden = true;
    render(data);
  } catch (exc) {
    error.textContent = String(exc.message || exc);
    error.hidden = false;
  }
}

$("route-form").addEventListener("submit", (event) => {
  event.preventDefault();
  explain();
});
$("cost-bias").addEventListener("input", () => {
  $("cost-bias-value").textContent = Number($("cost-bias").value).toFixed(2);
  clearTimeout(pending);
  pending = setTimeout(explain, 150);
});
