"""Charts (PNG, matplotlib) and the self-contained HTML report of an evaluation.

matplotlib is optional (the ``eval`` extra) and imported here only. Figures are drawn with the
object API on Agg canvases, so no global pyplot state or backend switch touches the caller.
"""

from __future__ import annotations

import base64
import html
import io
from typing import TYPE_CHECKING, Any

import numpy as np

from .errors import RouterError

if TYPE_CHECKING:
    from .evaluation import Evaluation

#: Curves drawn as lines, in drawing order, with their style.
_LINES = {
    "oracle": dict(color="0.55", linestyle=":", linewidth=1.5),
    "random": dict(color="0.55", linestyle="--", linewidth=1.2),
    "knn": dict(color="tab:orange", linewidth=1.6),
    "logistic": dict(color="tab:green", linewidth=1.6),
    "cactus-router": dict(color="tab:blue", linewidth=2.4),
}
_FIXED = {"always-cheapest": "v", "always-most-expensive": "^", "best-single": "*"}


def _figure(width: float, height: float) -> Any:
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        raise RouterError("charts need matplotlib: pip install 'cactus-router[eval]' (or pass --no-charts)") from None
    fig = Figure(figsize=(width, height), dpi=110, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _png(fig: Any) -> bytes:
    """Render to memory: the caller writes the bytes atomically (no half-written PNG on an interrupted run)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def _frontier(points: list[Any]) -> tuple[list[float], list[float]]:
    from .metrics import pareto

    front = pareto(points)
    xs = [0.0] + [p.cost for p in front] + [1.0]
    ys = [front[0].quality] + [p.quality for p in front] + [front[-1].quality]
    return xs, ys


def deferral_chart(ev: Evaluation) -> bytes:
    """Every router's Pareto-cleaned deferral curve on one plot, with the single models as points."""
    fig = _figure(7.5, 5.0)
    ax = fig.add_subplot()
    curves = ev.summary["curves"]
    for name, style in _LINES.items():
        if name in ev.curves:
            xs, ys = _frontier([p for _, p in ev.curves[name]])
            ax.plot(xs, ys, label=f"{name} (area {curves[name]['area']:.3f})", **style)
    singles = ev.curves.get("single-models", [])
    if singles:
        xs, ys = _frontier([p for _, p in singles])
        ax.plot(xs, ys, color="tab:purple", linewidth=1.0, alpha=0.7,
                label=f"single-model hull (area {curves['single-models']['area']:.3f})")
        ax.scatter([p.cost for _, p in singles], [p.quality for _, p in singles], color="tab:purple", s=18, zorder=3)
        for mid, p in singles:
            ax.annotate(mid, (p.cost, p.quality), fontsize=6, xytext=(3, -8), textcoords="offset points")
    primary = next(p for p in ev.summary["operating_points"] if p["cost_bias"] == ev.summary["primary_cost_bias"])
    m = primary["routers"]["cactus-router"]
    ax.scatter([m["cost_normalised"]], [m["quality"]], color="tab:blue", marker="o", s=60, zorder=4,
               edgecolor="black", label=f"cactus-router at cost_bias {ev.summary['primary_cost_bias']:g}")
    ax.axhline(ev.summary["reference"]["best_single_quality"], color="0.8", linewidth=0.8, zorder=0)
    ax.set_xlabel("mean cost (normalised by the most expensive model)")
    ax.set_ylabel("mean quality")
    ax.set_xlim(-0.02, 1.02)
    ax.set_title(f"Deferral curves on {ev.table.n} prompts")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="lower right")
    return _png(fig)


def choices_chart(ev: Evaluation) -> bytes:
    """How often each model is chosen, per router, at the primary operating point."""
    names = [n for n in ("cactus-router", "knn", "logistic", "oracle") if n in ev.primary_choices]
    ids = ev.table.model_ids
    m = len(ids)
    fig = _figure(7.5, 0.9 + 0.38 * m)
    ax = fig.add_subplot()
    width = 0.8 / len(names)
    y = np.arange(m)
    for k, name in enumerate(names):
        counts = np.bincount(ev.primary_choices[name], minlength=m)
        ax.barh(y + k * width, counts, height=width, label=name,
                color=_LINES.get(name, {}).get("color", "0.5"))
    ax.set_yticks(y + 0.4 - width / 2, ids, fontsize=7)
    ax.invert_yaxis()
    ax.set_xlabel("prompts routed to the model")
    ax.set_title(f"Model choice at cost_bias {ev.summary['primary_cost_bias']:g}")
    ax.legend(fontsize=7)
    ax.grid(axis="x", alpha=0.3)
    return _png(fig)


def latency_chart(ev: Evaluation) -> bytes:
    """Histograms of per-prompt embedding and scoring time."""
    fig = _figure(8.0, 3.2)
    axes = fig.subplots(1, 2)
    for ax, key, label, scale, unit in ((axes[0], "embed", "embedding", 1.0, "ms"),
                                        (axes[1], "score", "scoring (C core)", 1e3, "us")):
        values = ev.latency_ms[key] * scale
        ax.hist(values, bins=30, color="tab:blue", alpha=0.8)
        for q, style in ((50, "-"), (95, "--"), (99, ":")):
            ax.axvline(np.percentile(values, q), color="black", linestyle=style, linewidth=0.8, label=f"p{q}")
        ax.set_xlabel(f"{label} per prompt ({unit})")
        ax.set_ylabel("prompts")
        ax.legend(fontsize=7)
    fig.suptitle(f"Routing latency, {len(ev.latency_ms['embed'])} prompts routed one at a time", fontsize=9)
    return _png(fig)


def task_chart(ev: Evaluation) -> bytes:
    """Mean quality per task for the router, the learned baselines, best-single and the oracle."""
    tasks = ev.summary["tasks"]
    names = [n for n in ("cactus-router", "knn", "logistic", "best-single", "oracle") if n in ev.primary_choices]
    labels = list(tasks)
    fig = _figure(7.5, 1.0 + 0.45 * len(labels))
    ax = fig.add_subplot()
    width = 0.8 / len(names)
    y = np.arange(len(labels))
    colors = {"best-single": "tab:purple", "oracle": "0.6"}
    for k, name in enumerate(names):
        q = [tasks[t]["routers"][name]["quality"] for t in labels]
        ax.barh(y + k * width, q, height=width, label=name, color=colors.get(name, _LINES.get(name, {}).get("color")))
    ax.set_yticks(y + 0.4 - width / 2, labels, fontsize=7)
    ax.invert_yaxis()
    ax.set_xlim(0, 1)
    ax.set_xlabel("mean quality")
    ax.set_title(f"Quality per task at cost_bias {ev.summary['primary_cost_bias']:g}")
    ax.legend(fontsize=7, loc="lower right")
    ax.grid(axis="x", alpha=0.3)
    return _png(fig)


def render_charts(ev: Evaluation) -> dict[str, bytes]:
    """Every chart that has data, as PNG bytes by name (the file name without ``.png``).

    Raises:
        RouterError: matplotlib is not installed.
    """
    charts = {"deferral_curves": deferral_chart(ev), "model_choices": choices_chart(ev)}
    if ev.latency_ms:
        charts["latency"] = latency_chart(ev)
    if ev.summary["tasks"]:
        charts["task_quality"] = task_chart(ev)
    return charts


def _table(headers: list[str], rows: list[list[Any]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _f(x: Any, digits: int = 3) -> str:
    return "" if x is None else (f"{x:.{digits}f}" if isinstance(x, float) else str(x))


_CSS = ("body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#222}"
        "table{border-collapse:collapse;margin:1rem 0;font-size:.85rem}"
        "td,th{border:1px solid #ccc;padding:.25rem .5rem;text-align:right}"
        "td:first-child,th:first-child{text-align:left}th{background:#f3f3f3}img{max-width:100%}"
        "h2{margin-top:2rem}.note{color:#555;font-size:.85rem}")


def report_html(ev: Evaluation, charts: dict[str, bytes]) -> str:
    """One self-contained HTML page: the tables and ``render_charts``' PNGs (embedded as data URIs)."""
    from .evaluation import comparison_rows

    s = ev.summary
    ref = s["reference"]
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>cactus-router evaluation</title>"
             f"<style>{_CSS}</style></head><body>",
             "<h1>cactus-router evaluation</h1>",
             f"<p>{s['rows']} prompts, {len(s['models'])} models, embedder {html.escape(s['embedder'])}, "
             f"costs from the {html.escape(s['cost_source'])}. Best single model: "
             f"{html.escape(ref['best_single'])} ({ref['best_single_quality']:.3f}); oracle quality "
             f"{ref['oracle_quality']:.3f}.</p>",
             f"<h2>Routers side by side (cost_bias {s['primary_cost_bias']:g})</h2>"]
    rows = []
    for r in comparison_rows(s):
        qnc = ("not reached" if r["qnc"] is None else _f(r["qnc"])) if r["curve"] else ""
        rows.append([r["router"], _f(r.get("quality")), _f(r.get("accuracy")), _f(r.get("cost_normalised")),
                     _f(r.get("size_mb"), 1), _f(r.get("savings_vs_best_single")), _f(r.get("savings_vs_largest")),
                     _f(r.get("oracle_agreement")), _f(r["area"]) if r["curve"] else "", qnc,
                     _f(r["curve_best_quality"]) if r["curve"] else ""])
    parts.append(_table(["router", "quality", "accuracy", "norm. cost", "size MB", "savings vs best single",
                         "savings vs largest", "oracle agreement", "area", "QNC", "best quality"], rows))
    if len(s["operating_points"]) > 1:
        parts.append("<h2>Operating points</h2>")
        rows = [[_f(p["cost_bias"], 2), name, _f(m["quality"]), _f(m["cost_normalised"]), _f(m["oracle_agreement"])]
                for p in s["operating_points"] for name, m in p["routers"].items()
                if name in ("cactus-router", "knn", "logistic", "random")]
        parts.append(_table(["cost_bias", "router", "quality", "norm. cost", "oracle agreement"], rows))
    for key, title in (("deferral_curves", "Deferral curves"), ("model_choices", "Model choice"),
                       ("latency", "Latency"), ("task_quality", "Per task")):
        if key in charts:
            data = base64.b64encode(charts[key]).decode("ascii")
            parts.append(f"<h2>{title}</h2><img alt='{title}' src='data:image/png;base64,{data}'>")
        if key == "latency" and s["latency"]:
            lat = s["latency"]
            rows = [[what, _f(lat[k]["p50"]), _f(lat[k]["p95"]), _f(lat[k]["p99"]), _f(lat[k]["mean"])]
                    for what, k in (("embedding", "embed_ms"), ("scoring", "score_ms"), ("total", "total_ms"))]
            rows += [[f"scoring: {n}", _f(v["p50"]), _f(v["p95"]), _f(v["p99"]), _f(v["mean"])]
                     for n, v in lat.get("baseline_score_ms", {}).items()]
            parts.append(_table(["ms per prompt", "p50", "p95", "p99", "mean"], rows))
            parts.append(f"<p class='note'>{html.escape(lat['method'])}; {lat['sample']} prompts.</p>")
    if s["tasks"]:
        names = [n for n in ("cactus-router", "knn", "logistic", "best-single", "oracle") if n in ev.primary_choices]
        rows = [[task, v["rows"], *[_f(v["routers"][n]["quality"]) for n in names]] for task, v in s["tasks"].items()]
        parts.append(_table(["task", "rows", *names], rows))
    ids = ev.table.model_ids
    parts.append("<h2>Agreement with the oracle (rows: chosen, columns: oracle)</h2>")
    parts.append(_table(["chosen \\ oracle", *ids], [[m, *ev.agreement[j].tolist()] for j, m in enumerate(ids)]))
    parts.append("<h2>Notes</h2><ul>" + "".join(f"<li>{html.escape(n)}</li>" for n in s["notes"]) + "</ul>")
    parts.append("</body></html>\n")
    return "".join(parts)
