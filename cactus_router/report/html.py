"""The self-contained HTML report of an evaluation: its tables and charts on one page, nothing fetched."""

from __future__ import annotations

import base64
import html
from typing import TYPE_CHECKING, Any

from .markdown import comparison_rows
from .tiers import ambiguous_line, confusion_rows, router_rows

if TYPE_CHECKING:
    from ..evaluation import Evaluation


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
    if "tiers" in s:
        t = s["tiers"]
        parts.append(f"<h2>Tiers ({html.escape(t['medium'])} / {html.escape(t['large'])})</h2>"
                     f"<p>Tier accuracy {_f(t['accuracy'])} on {t['labelled_rows']} labelled rows of {t['rows']}.</p>")
        parts += [_table(*confusion_rows(t)), _table(*router_rows(t)), f"<p>{html.escape(ambiguous_line(t))}</p>"]
    ids = ev.table.model_ids
    parts.append("<h2>Agreement with the oracle (rows: chosen, columns: oracle)</h2>")
    parts.append(_table(["chosen \\ oracle", *ids], [[m, *ev.agreement[j].tolist()] for j, m in enumerate(ids)]))
    parts.append("<h2>Notes</h2><ul>" + "".join(f"<li>{html.escape(n)}</li>" for n in s["notes"]) + "</ul>")
    parts.append("</body></html>\n")
    return "".join(parts)
