"""Charts of an evaluation, as PNG bytes (matplotlib).

matplotlib is optional (the ``eval`` extra) and imported here only. Figures are drawn with the
object API on Agg canvases, so no global pyplot state or backend switch touches the caller.
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import RouterError
from ..metrics import pareto

if TYPE_CHECKING:
    from ..evaluation import Evaluation

#: Curves drawn as lines, in drawing order, with their style.
_LINES = {
    "oracle": dict(color="0.55", linestyle=":", linewidth=1.5),
    "random": dict(color="0.55", linestyle="--", linewidth=1.2),
    "knn": dict(color="tab:orange", linewidth=1.6),
    "logistic": dict(color="tab:green", linewidth=1.6),
    "cactus-router": dict(color="tab:blue", linewidth=2.4),
}


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
