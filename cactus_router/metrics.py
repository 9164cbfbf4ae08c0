"""Routing-quality metrics of the literature: deferral curve, its area, QNC."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class CurvePoint:
    """One operating point: normalised mean cost and mean quality."""

    cost: float
    quality: float


def pareto(points: list[CurvePoint]) -> list[CurvePoint]:
    """The upper-left frontier: sorted by cost, each point strictly better than every cheaper one."""
    out: list[CurvePoint] = []
    for p in sorted(points, key=lambda p: (p.cost, -p.quality)):
        if not out or p.quality > out[-1].quality:
            out.append(p)
    return out


def area(points: list[CurvePoint]) -> float:
    """Area under the Pareto-cleaned curve over normalised cost [0, 1].

    Linear between points (mixing two routers at random reaches any point between them), flat
    to the left of the cheapest point and to the right of the best one.
    """
    front = pareto(points)
    if not front:
        raise ValueError("no points")
    xs = np.array([0.0] + [min(max(p.cost, 0.0), 1.0) for p in front] + [1.0])
    ys = np.array([front[0].quality] + [p.quality for p in front] + [front[-1].quality])
    return float(np.sum((xs[1:] - xs[:-1]) * (ys[1:] + ys[:-1]) / 2))


def qnc(points: list[CurvePoint], target: float) -> float | None:
    """Smallest normalised cost at which the curve reaches ``target`` quality (None: never)."""
    front = pareto(points)
    for i, p in enumerate(front):
        if p.quality >= target:
            if i == 0:
                return p.cost
            a = front[i - 1]
            return a.cost + (target - a.quality) / (p.quality - a.quality) * (p.cost - a.cost)
    return None


def best_quality(points: list[CurvePoint]) -> float:
    """The highest quality on the curve."""
    return max(p.quality for p in points)


#: Lambdas swept for a deferral curve: 0, then log-spaced far past the point where every
#: prompt goes to the cheapest model.
LAMBDA_GRID = np.concatenate([[0.0], np.geomspace(1e-3, 1e3, 121)])


def cost_matrix(n: int, model_costs: np.ndarray, prompt_costs: np.ndarray | None = None) -> np.ndarray:
    """Per-prompt costs (n, M): the given matrix, else each model's cost on every row."""
    if prompt_costs is not None:
        return np.asarray(prompt_costs, dtype=np.float64)
    return np.broadcast_to(np.asarray(model_costs, dtype=np.float64), (n, len(model_costs)))


def choices_curve(choices: list[np.ndarray], scores: np.ndarray, costs: np.ndarray) -> list[CurvePoint]:
    """Curve points of several choice vectors (one model index per row each)."""
    rows = np.arange(scores.shape[0])
    top = float(costs.mean(axis=0).max())
    return [
        CurvePoint(float(costs[rows, c].mean()) / top, float(scores[rows, c].mean())) for c in choices
    ]


def single_model_points(scores: np.ndarray, costs: np.ndarray) -> list[CurvePoint]:
    """One point per model: always routing to it."""
    m = scores.shape[1]
    return choices_curve([np.full(scores.shape[0], j) for j in range(m)], scores, costs)
