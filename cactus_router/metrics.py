"""Routing-quality metrics of the literature: deferral curve, its area, QNC."""

from __future__ import annotations

from collections.abc import Iterator
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


#: Cells (resamples x rows) of one chunk of bootstrap counts: bounds the memory a large table needs.
RESAMPLE_CHUNK_CELLS = 4_000_000


def resample_counts(n: int, resamples: int, seed: int) -> Iterator[np.ndarray]:
    """Bootstrap resamples of ``n`` rows as counts: how often each row is drawn.

    Yields (r, n) chunks of at most RESAMPLE_CHUNK_CELLS cells, ``resamples`` rows in all.
    """
    rng = np.random.default_rng(seed)
    per = max(1, RESAMPLE_CHUNK_CELLS // n)
    for start in range(0, resamples, per):
        yield rng.multinomial(n, np.full(n, 1.0 / n), size=min(per, resamples - start))


def resampled_figures(choices: list[np.ndarray], scores: np.ndarray, costs: np.ndarray, target: int,
                      counts: np.ndarray) -> dict[str, np.ndarray]:
    """Area, QNC and best quality of one router's curve on each resample of the rows.

    ``choices`` are the curve's choice vectors, ``counts`` a (resamples, n) chunk from
    ``resample_counts``; costs are normalised and the QNC target (model ``target``'s quality) is
    recomputed on each resample, exactly as on the rows themselves. A QNC never reached is NaN.
    """
    rows = np.arange(scores.shape[0])
    n = counts.sum(axis=1, keepdims=True).astype(np.float64)
    quality = counts @ np.stack([scores[rows, c] for c in choices]).T / n  # (resamples, points)
    cost = counts @ np.stack([costs[rows, c] for c in choices]).T / n
    top = (counts @ costs / n).max(axis=1)
    goal = counts @ scores[:, target] / n[:, 0]
    out = {"area": np.empty(len(counts)), "qnc": np.empty(len(counts)), "best_quality": quality.max(axis=1)}
    for b in range(len(counts)):
        pts = [CurvePoint(float(c) / top[b], float(q)) for c, q in zip(cost[b], quality[b])]
        out["area"][b] = area(pts)
        reached = qnc(pts, float(goal[b]))
        out["qnc"][b] = np.nan if reached is None else reached
    return out


def single_model_points(scores: np.ndarray, costs: np.ndarray) -> list[CurvePoint]:
    """One point per model: always routing to it."""
    m = scores.shape[1]
    return choices_curve([np.full(scores.shape[0], j) for j in range(m)], scores, costs)
