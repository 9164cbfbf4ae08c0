"""The judge run's files: summary.json, report.md, results.json and agreement_matrix.csv, each written atomically."""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .._files import write_atomic
from ..report.markdown import fmt
from .figures import JUDGE, LARGEST, ORACLE, ROUTER


def _g(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.4g}"


def _pct(x: Any) -> str:
    return "n/a" if x is None else f"{x:.1%}"


def _ci(x: Any, ci: list[float] | None) -> str:
    return _pct(x) if ci is None else f"{_pct(x)} [{_pct(ci[0])}, {_pct(ci[1])}]"


def _ms(p: dict[str, float] | None) -> str:
    if p is None:
        return "n/a"
    return " / ".join(f"{p[k]:.3g}" for k in ("p50", "p95", "p99", "mean"))


def _setup(s: dict[str, Any]) -> list[str]:
    j = s["judge"]
    endpoint = ", ".join(f"{k} {v}" for k, v in j["endpoint"].items())
    lines = ["## Set-up", "",
             f"- profile `{s.get('profile', 'n/a')}`, prompts `{s.get('prompts_file', 'n/a')}` "
             f"({s['prompts']} prompts), cost_bias {s['cost_bias']:g}, embedder {s['embedder']}",
             f"- judge: backend `{j['backend']}` ({j['kind']}{', ' + endpoint if endpoint else ''}), temperature "
             f"{j['temperature']:g}, max_tokens {j['max_tokens']}, JSON mode {'asked' if j['json_object'] else 'off'}"
             f", prompt template v{j['template_version']}",
             f"- judgements: {s['run']['asked']} asked in this run, {s['run']['from_cache']} from the cache; "
             f"{s['judged']} parsed, {s['unparseable']} unparseable"
             + (f" ({', '.join(f'{k}: {v}' for k, v in s['problems'].items())})" if s["problems"] else "")]
    if s["run"]["cut_tail"]:
        lines.append("- the cache's last line had been cut off by an interrupted run; it was dropped and that "
                     "prompt asked again")
    if s["left_out"]:
        lines.append(f"- listed models the profile does not route to (left out): {', '.join(s['left_out'])}")
    lines += ["", "| model | size MB | capabilities | profile error rate | labelled | relative cost | step |",
              "|---|---|---|---|---|---|---|"]
    for m in s["candidates"]:
        lines.append(f"| {m['id']} | {fmt(m['size_mb'], 0) if m['size_mb'] is not None else 'n/a'} | "
                     f"{', '.join(m['capabilities'])} | {m['error_rate']:.3f} | {m['labelled']} | {m['cost']:g} | "
                     f"{m['step']} |")
    return lines


def _agreement(s: dict[str, Any]) -> list[str]:
    a = s["agreement"]
    ci = a.get("ci95", {})
    step = "size step" if a["step_basis"] == "size_mb" else "cost step (some sizes are unknown)"
    ids = s["confusion"]["models"]
    lines = ["## Agreement (not quality)", "",
             f"On the {a['rows']} prompts with a parsed judgement: exact agreement "
             f"{_ci(a['exact'], ci.get('exact'))}, within one {step} "
             f"{_ci(a['within_one_step'], ci.get('within_one_step'))}"
             + (" (95% bootstrap intervals)." if ci else "."), "",
             f"Confusion matrix (rows: {ROUTER}'s choice, columns: the judge's):", "",
             "| | " + " | ".join(ids) + " |", "|---" * (len(ids) + 1) + "|"]
    for mid, row in zip(ids, s["confusion"]["counts"]):
        lines.append(f"| **{mid}** | " + " | ".join(str(v) for v in row) + " |")
    return lines


def _choices(s: dict[str, Any]) -> list[str]:
    ch = s["choices"]
    names = list(ch)
    lines = ["## Models chosen", "",
             f"Savings are against always choosing the largest model ({s['largest']}).", "",
             "| model | " + " | ".join(names) + " |", "|---" * (len(names) + 1) + "|"]
    for mid in s["confusion"]["models"]:
        lines.append(f"| {mid} | " + " | ".join(str(ch[n]["counts"][mid]) for n in names) + " |")
    sized = s["agreement"]["step_basis"] == "size_mb"
    rows: list[tuple[str, str, str | None]] = [("mean relative cost", "mean_cost", None)]
    if sized:
        rows = [("mean size MB", "mean_size_mb", None), ("median size MB", "median_size_mb", None), *rows]
    rows += [("savings vs largest (cost)", "savings_vs_largest", "cost")]
    if sized:
        rows.append(("savings vs largest (size)", "savings_vs_largest", "size_mb"))
    for label, key, sub in rows:
        cells = [_g(ch[n][key]) if sub is None else _pct(ch[n][key][sub]) for n in names]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return lines


def _costs(s: dict[str, Any]) -> list[str]:
    lat, jc = s["latency_ms"], s["judge_cost"]
    ratio = lat["judge_over_router_median"]
    lines = ["## Latency and cost, measured", "",
             "| | p50 / p95 / p99 / mean |", "|---|---|",
             f"| {ROUTER}: Router.route per prompt, ms | {_ms(lat[ROUTER])} |",
             f"| judge: one judgement (its backend calls and retries), ms | {_ms(lat[JUDGE])} |",
             f"| judge: prompt tokens per judgement | {_ms(jc['prompt_tokens']['per_prompt'])} |",
             f"| judge: completion tokens per judgement | {_ms(jc['completion_tokens']['per_prompt'])} |"]
    if jc["usd"] is not None:
        lines.append(f"| judge: USD per judgement | {_ms(jc['usd']['per_prompt'])} |")
    lines += ["", f"The judge's median latency is {fmt(ratio, 0) if ratio is not None else 'n/a'} times the router's. "
              f"Judgements: {jc['judgements']}, backend calls {jc['calls']}, tokens {jc['prompt_tokens']['total']} in "
              f"and {jc['completion_tokens']['total']} out (as the backend reported them, for "
              f"{jc['prompt_tokens']['reported']} judgements)"
              + (f", USD {jc['usd']['total']:.4f} at the prices given" if jc["usd"] is not None else
                 "; no prices given, so no dollar figure") + ". A cached judgement keeps the time and tokens of "
              "the call that made it."]
    pre = s["run"]["preflight"]
    if pre is not None:
        lines.append(f"The preflight request took {pre['seconds'] * 1e3:.0f} ms ({pre['prompt_tokens']} prompt "
                     "tokens); it is not counted above.")
    return lines


def _quality(s: dict[str, Any]) -> list[str]:
    q = s["quality"]
    if q is None:
        return ["## Quality", "", "The prompts carry no labels (scores per model), so nothing here measures "
                "quality; give a routing table with scores to measure it."]
    lines = ["## Quality on the labels", "",
             f"On the {q['rows']} labelled prompts with a parsed judgement: the mean score of the chosen model "
             f"({'accuracy' if q['scores_binary'] else 'scores in [0, 1]'}; costs from the {q['cost_source']}). This, "
             "not agreement, is quality.", "",
             "| router | quality | mean cost | savings vs largest | oracle agreement |", "|---|---|---|---|---|"]
    for name in (ROUTER, JUDGE, LARGEST, ORACLE):
        m = q["routers"][name]
        lines.append(f"| {name} | {fmt(m['quality'])} | {fmt(m['cost'])} | {_pct(m['savings_vs_largest'])} | "
                     f"{_pct(m['oracle_agreement'])} |")
    d = q["router_minus_judge"]
    lines += ["", f"{ROUTER} minus judge, quality: {d['difference']:+.3f}"
              + (f" [{d['ci95'][0]:+.3f}, {d['ci95'][1]:+.3f}], {ROUTER} ahead in {d['share_router_better']:.1%} "
                 "of the bootstrap resamples." if "ci95" in d else ".")]
    return lines


def markdown(s: dict[str, Any]) -> str:
    """The run as a markdown report."""
    lines = ["# cactus-router against an LLM judge", "", f"**{s['statement']}**", ""]
    for part in (_setup, _agreement, _choices, _costs, _quality):
        lines += part(s) + [""]
    return "\n".join(lines)


def write_outputs(out_dir: str | os.PathLike[str], summary: dict[str, Any], results: Sequence[dict[str, Any]]
                  ) -> list[Path]:
    """Write summary.json, report.md, results.json and agreement_matrix.csv into ``out_dir``."""
    out = Path(out_dir)
    written = []

    def put(name: str, text: str) -> None:
        write_atomic(out / name, text)
        written.append(out / name)

    put("summary.json", json.dumps(summary, indent=1, ensure_ascii=False) + "\n")
    put("report.md", markdown(summary))
    put("results.json", json.dumps(list(results), ensure_ascii=False) + "\n")
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    ids = summary["confusion"]["models"]
    w.writerow([f"{ROUTER} \\ {JUDGE}", *ids])
    for mid, row in zip(ids, summary["confusion"]["counts"]):
        w.writerow([mid, *row])
    put("agreement_matrix.csv", buf.getvalue())
    return written


__all__ = ["markdown", "write_outputs"]
