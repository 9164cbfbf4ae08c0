"""Measure cascades on held-out rows of a verification table, next to a router, the single models and the oracle.

Every curve is (normalised honest cost, mean quality) over the cost weights ``LAMBDAS``; costs are
divided by the mean cost of calling the chain's last model directly. The area is the project's
deferral-curve area (``metrics.area``) of the curve's points together with the single models'
points (any method can be mixed with calling one model directly, and a one-point curve would
otherwise be credited with its quality over the whole cost range); intervals are the evaluation's
95% percentile bootstrap intervals (``evaluation.bootstrap.interval``) over resamples of the test
rows (``metrics.resample_counts``), the same resamples for every curve, so a curve's area minus
the router's is a paired difference.

IBC (AutoMix's incremental benefit per cost) of a point is ``(q - q_first) / (c - c_first)``
against always using the chain's first model; the lift is its gain over the straight line from
the first model to the last, ``(IBC - IBC_line) / IBC_line``, averaged over the curve's points
whose cost lies between the two models' costs.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..evaluation.bootstrap import interval
from ..metrics import CurvePoint, area, pareto, resample_counts
from .deciders import LAMBDAS, ChainArrays
from .model import train_cascade
from .table import VerificationRow


def _decider_outcomes(arr: ChainArrays, decider: Any) -> tuple[np.ndarray, np.ndarray]:
    """(points, rows) quality and cost of a decider at each cost weight."""
    qs, cs = zip(*(arr.outcome(decider.stops(arr.verification, lam)) for lam in LAMBDAS))
    return np.stack(qs), np.stack(cs)


def _choice_outcomes(arr: ChainArrays, choices: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """(points, rows) quality and cost of routing each row straight to one chain model (no verification)."""
    rows = np.arange(len(arr.scores))
    return (np.stack([arr.scores[rows, c] for c in choices]), np.stack([arr.answer_costs[rows, c] for c in choices]))


def oracle_choice(arr: ChainArrays) -> np.ndarray:
    """Per row, the cheapest chain model reaching the row's best score (known only in hindsight)."""
    best = arr.scores.max(axis=1, keepdims=True)
    masked = np.where(arr.scores >= best, arr.answer_costs, np.inf)
    out: np.ndarray = masked.argmin(axis=1)
    return out


def _points(outcomes: tuple[np.ndarray, np.ndarray], top: float) -> list[CurvePoint]:
    """Mean quality and normalised mean cost of each point of (points, rows) outcomes."""
    q, c = outcomes
    return [CurvePoint(float(cc) / top, float(qq)) for qq, cc in zip(q.mean(axis=1), c.mean(axis=1))]


def ibc_lift(points: Sequence[CurvePoint], first: CurvePoint, last: CurvePoint) -> float | None:
    """Mean IBC lift over the points whose cost is between the first and last model's (None if none is)."""
    line = (last.quality - first.quality) / (last.cost - first.cost) if last.cost > first.cost else None
    if not line:
        return None
    lifts = [((p.quality - first.quality) / (p.cost - first.cost) - line) / line
             for p in points if first.cost < p.cost <= last.cost]
    return float(np.mean(lifts)) if lifts else None


def _bootstrap(curves: dict[str, tuple[np.ndarray, np.ndarray]], top_costs: np.ndarray, resamples: int, seed: int
               ) -> dict[str, np.ndarray]:
    """Each curve's area on the same resamples of the rows."""
    n = len(top_costs)
    out: dict[str, list[np.ndarray]] = {name: [] for name in curves}
    sq, sc = curves["single models"]
    for counts in resample_counts(n, resamples, seed):
        top = counts @ top_costs / n
        base_q, base_c = counts @ sq.T / n, counts @ sc.T / n / top[:, None]
        for name, (q, c) in curves.items():
            qb = np.concatenate([counts @ q.T / n, base_q], axis=1)
            cb = np.concatenate([counts @ c.T / n / top[:, None], base_c], axis=1)
            out[name].append(np.array([area([CurvePoint(float(x), float(y)) for x, y in zip(cr, qr)])
                                       for cr, qr in zip(cb, qb)]))
    return {name: np.concatenate(v) for name, v in out.items()}


def evaluate_cascades(train: Sequence[VerificationRow], test: Sequence[VerificationRow], chain: Sequence[str], *,
                      methods: Sequence[str] = ("pomdp", "pomdp-greedy", "threshold", "self-consistency"),
                      router_choices: Sequence[np.ndarray] | None = None, bootstrap: int = 1000, seed: int = 0,
                      ) -> dict[str, Any]:
    """Train each method on ``train``, measure on ``test``; ``router_choices`` are chain indices per cost setting."""
    arr = ChainArrays.from_rows(test, chain, "test rows")
    top = arr.top
    k = len(chain)
    curves: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    trained = {}
    for method in methods:
        cascade = train_cascade(train, chain, method=method, seed=seed, where="train rows")
        trained[method] = cascade.training
        curves[f"cascade:{method}"] = _decider_outcomes(arr, cascade.decider)
    if router_choices is not None:
        curves["router"] = _choice_outcomes(arr, router_choices)
    curves["single models"] = _choice_outcomes(arr, [np.full(len(test), j) for j in range(k)])
    curves["oracle"] = _choice_outcomes(arr, [oracle_choice(arr)])
    singles = _points(curves["single models"], top)
    summary: dict[str, Any] = {"rows": {"train": len(train), "test": len(test)}, "chain": list(chain),
                               "single": {m: {"quality": p.quality, "cost": p.cost} for m, p in zip(chain, singles)},
                               "training": trained, "curves": {}}
    boot = _bootstrap(curves, arr.answer_costs[:, -1], bootstrap, seed) if bootstrap else {}
    areas = {name: area(_points(o, top) + singles) for name, o in curves.items()}
    for name, outcomes in curves.items():
        pts = _points(outcomes, top)
        entry: dict[str, Any] = {"area": areas[name], "best_quality": max(p.quality for p in pts),
                                 "ibc_lift": ibc_lift(pareto(pts), singles[0], singles[-1]),
                                 "points": [[p.cost, p.quality] for p in pareto(pts)]}
        if name in boot:
            entry["area_ci"] = interval(boot[name])
            if "router" in boot and name != "router":
                diff = boot[name] - boot["router"]
                entry["minus_router"] = {"area": areas[name] - areas["router"], "ci": interval(diff),
                                         "share_ahead": float((diff > 0).mean())}
        summary["curves"][name] = entry
    return summary


def markdown(summary: dict[str, Any]) -> str:
    """The summary as a markdown table (one row per curve)."""
    lines = ["| curve | area [95% CI] | best quality | IBC lift | area minus router [95% CI], share ahead |",
             "|---|---|---|---|---|"]
    for name, c in summary["curves"].items():
        ci = f" [{c['area_ci'][0]:.3f}, {c['area_ci'][1]:.3f}]" if "area_ci" in c else ""
        lift = "" if c["ibc_lift"] is None else f"{c['ibc_lift']:+.3f}"
        mr = c.get("minus_router")
        diff = "" if mr is None else (f"{mr['area']:+.3f} [{mr['ci'][0]:+.3f}, {mr['ci'][1]:+.3f}], "
                                      f"{mr['share_ahead']:.1%}")
        lines.append(f"| {name} | {c['area']:.3f}{ci} | {c['best_quality']:.3f} | {lift} | {diff} |")
    singles = ", ".join(f"{m} {v['quality']:.3f} at cost {v['cost']:.3f}" for m, v in summary["single"].items())
    lines.append("")
    lines.append(f"Single models (quality at normalised cost): {singles}.")
    if "router" in summary:
        lines.append(f"Router: {summary['router']}.")
    return "\n".join(lines)


__all__ = ["evaluate_cascades", "ibc_lift", "markdown", "oracle_choice"]
