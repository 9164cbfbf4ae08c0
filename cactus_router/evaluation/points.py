"""Operating points: every router's choice of model per row at one cost_bias, and what that choice scores."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from ..routing import DecisionBatch, Router
from . import baselines as bl
from .names import BEST_SINGLE, CHEAPEST, ORACLE, PRICIEST, RANDOM, ROUTER
from .table import EvalTable, Reference

#: cost_bias values of ``sweep=True``.
SWEEP_BIASES = tuple(round(float(b), 2) for b in np.linspace(0.0, 1.0, 11))


def point_metrics(choices: np.ndarray, t: EvalTable, ref: Reference) -> dict[str, Any]:
    """Quality, cost, savings and oracle agreement of one choice vector (a model index per row)."""
    rows = np.arange(t.n)
    quality = float(t.scores[rows, choices].mean())
    cost = float(t.costs[rows, choices].mean())

    def savings(j: int) -> float | None:
        base = float(t.costs[:, j].mean())
        return None if base == 0 else 1.0 - cost / base

    m = len(t.model_ids)
    return {
        "quality": quality,
        "accuracy": quality if t.binary else None,
        "cost": cost,
        "cost_normalised": cost / ref.top_cost if ref.top_cost > 0 else 0.0,
        "size_mb": None if t.size_mb is None else float(t.size_mb[choices].mean()),
        "savings_vs_best_single": savings(ref.best_single),
        "savings_vs_largest": savings(ref.largest),
        "oracle_agreement": float(np.mean(choices == ref.oracle)),
        "choice_counts": {t.model_ids[j]: int(c) for j, c in enumerate(np.bincount(choices, minlength=m))},
    }


def agreement_matrix(choices: np.ndarray, oracle: np.ndarray, m: int) -> np.ndarray:
    """Counts (M, M): row = the chosen model, column = the oracle's model."""
    out = np.zeros((m, m), dtype=np.int64)
    np.add.at(out, (choices, oracle), 1)
    return out


def random_matched(t: EvalTable, ref: Reference, target_cost: float, order: np.ndarray) -> np.ndarray:
    """Random routing between always-cheapest and always-most-expensive at a given mean cost.

    ``order`` (a fixed permutation of the rows) decides which rows go to the expensive model, so
    the number sent there matches the cost to within one prompt.
    """
    lo, hi = float(t.costs[:, ref.cheapest].mean()), float(t.costs[:, ref.priciest].mean())
    p = 0.0 if hi <= lo else min(max((target_cost - lo) / (hi - lo), 0.0), 1.0)
    return random_mix(t.n, ref, p, order)


def random_mix(n: int, ref: Reference, p: float, order: np.ndarray) -> np.ndarray:
    """The first ``round(p * n)`` rows of ``order`` to the most expensive model, the rest to the cheapest."""
    out = np.full(n, ref.cheapest)
    out[order[: int(round(p * n))]] = ref.priciest
    return out


@dataclass(frozen=True)
class OperatingPoints:
    """Every router's choices at each cost_bias, the router's own batches, and the summary's points."""

    points: list[dict[str, Any]]
    choices_at: dict[float, dict[str, np.ndarray]]
    batches: dict[float, DecisionBatch]


def operating_points(router: Router, emb: np.ndarray, t: EvalTable, ref: Reference,
                     predictions: Mapping[str, np.ndarray], biases: Sequence[float],
                     order: np.ndarray) -> OperatingPoints:
    """Route ``emb`` at each cost_bias; score the router beside every baseline at the same lambda or cost.

    ``predictions`` are the learned baselines' predicted qualities of every row; ``order`` is the
    random baseline's permutation of the rows.
    """
    fixed = {CHEAPEST: np.full(t.n, ref.cheapest), PRICIEST: np.full(t.n, ref.priciest),
             BEST_SINGLE: np.full(t.n, ref.best_single), ORACLE: ref.oracle}
    points: list[dict[str, Any]] = []
    choices_at: dict[float, dict[str, np.ndarray]] = {}
    batches = {}
    for b in biases:
        lam = router.profile.routing.lam(b)
        batch = router.route_embeddings(emb, cost_bias=b)
        batches[b] = batch
        ours = np.asarray(batch.model_index, dtype=np.int64)
        chosen = {ROUTER: ours}
        for name, pred in predictions.items():
            chosen[name] = bl.pick(pred, t.model_costs, lam)
        chosen[RANDOM] = random_matched(t, ref, float(t.costs[np.arange(t.n), ours].mean()), order)
        chosen.update(fixed)
        choices_at[b] = chosen
        metrics = {name: point_metrics(c, t, ref) for name, c in chosen.items()}
        in_dist = getattr(batch, "in_distribution", None)
        if in_dist is not None:  # profiles with an out-of-distribution threshold route such prompts to a fallback
            metrics[ROUTER]["out_of_distribution_share"] = float(1.0 - np.mean(in_dist))
        points.append({"cost_bias": b, "lambda": lam, "routers": metrics})
    return OperatingPoints(points, choices_at, batches)


def task_breakdown(t: EvalTable, ref: Reference, chosen: Mapping[str, np.ndarray]) -> dict[str, Any]:
    """Each router's metrics on each task's rows (rows without a task: "(none)"); empty when no row has one."""
    tasks: dict[str, Any] = {}
    if any(task is not None for task in t.tasks):
        labels = np.array([task if task is not None else "(none)" for task in t.tasks])
        for task in sorted(set(labels.tolist())):
            sel = labels == task
            sub = replace(t, scores=t.scores[sel], costs=t.costs[sel])
            subref = replace(ref, oracle=ref.oracle[sel])
            tasks[task] = {"rows": int(sel.sum()), "routers": {
                name: {k: v for k, v in point_metrics(c[sel], sub, subref).items() if k != "choice_counts"}
                for name, c in chosen.items()}}
    return tasks
