"""Tier metrics: the tier router against the 9-cell oracle's labels, and its quality and cost beside
always-medium, always-large, the cluster rule and the oracle on the same rows.

Arithmetic on arrays only (``tier_run`` routes and labels the rows). Tiers are codes, indices into
``TIERS`` (Standard, Complex, Ambiguous); -1 is a row the oracle could not label, left out of the
confusion matrix and the accuracy. A confusion matrix has the oracle's tier as rows and the
router's as columns. Costs are normalised by always-large's mean cost, so always-large costs 1.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..metrics import CurvePoint, qnc, resample_counts
from ..tiers import AMBIGUOUS, COMPLEX, STANDARD, TIERS

TIER_ROUTER, TIER_THRESHOLD = "tier-router", "tier-router, Complex at P >= t (curve)"
ALWAYS_MEDIUM, ALWAYS_LARGE, CLUSTER_RULE, PAIR_ORACLE = "always-medium", "always-large", "cluster-rule", "oracle"
CLUSTER_CURVE = "cluster-rule (curve)"
#: Quantiles of P(Complex) tried as thresholds for the threshold curve.
THRESHOLD_QUANTILES = tuple(float(q) for q in np.linspace(0.0, 1.0, 101))


def confusion_matrix(truth: np.ndarray, predicted: np.ndarray) -> np.ndarray:
    """(3, 3) counts: row = the oracle's tier, column = the predicted one; rows coded -1 left out."""
    truth, predicted = np.asarray(truth, dtype=np.int64), np.asarray(predicted, dtype=np.int64)
    keep = (truth >= 0) & (predicted >= 0)
    out = np.zeros((len(TIERS), len(TIERS)), dtype=np.int64)
    np.add.at(out, (truth[keep], predicted[keep]), 1)
    return out


def tier_accuracy(confusion: np.ndarray) -> float | None:
    """The share of labelled rows whose predicted tier is the oracle's (None: no labelled row)."""
    total = int(confusion.sum())
    return None if total == 0 else float(np.trace(confusion)) / total


def per_tier(confusion: np.ndarray) -> dict[str, dict[str, Any]]:
    """Each tier's count by the oracle and by the router, its recall and precision (None: undefined)."""
    out = {}
    for i, tier in enumerate(TIERS):
        truth, said, hit = int(confusion[i].sum()), int(confusion[:, i].sum()), int(confusion[i, i])
        out[tier] = {"oracle": truth, "predicted": said, "recall": hit / truth if truth else None,
                     "precision": hit / said if said else None}
    return out


def pair_oracle(scores: np.ndarray, costs: np.ndarray, medium: int, large: int) -> np.ndarray:
    """Per row, of the two models the cheaper one reaching the better of their two scores."""
    sm, sl = scores[:, medium], scores[:, large]
    medium_first = costs[:, medium] <= costs[:, large]
    pick_medium = (sm > sl) | ((sm == sl) & medium_first)
    return np.where(pick_medium, medium, large)


def by_tier(codes: np.ndarray, tier_models: Mapping[str, int]) -> np.ndarray:
    """The model index each row's tier maps to (``tier_models``: tier -> model index, all three)."""
    lookup = np.array([tier_models[t] for t in TIERS], dtype=np.int64)
    return np.asarray(lookup[np.asarray(codes, dtype=np.int64)])


def threshold_codes(probabilities: np.ndarray, t: float) -> np.ndarray:
    """The tiers of the rule "Complex when P(Complex) >= t, else the likelier of Standard and Ambiguous"
    (ties: Standard)."""
    p = np.asarray(probabilities, dtype=np.float64)
    s, c, a = TIERS.index(STANDARD), TIERS.index(COMPLEX), TIERS.index(AMBIGUOUS)
    return np.where(p[:, c] >= t, c, np.where(p[:, a] > p[:, s], a, s))


def threshold_curve(probabilities: np.ndarray, tier_models: Mapping[str, int]) -> tuple[list[float], list[np.ndarray]]:
    """Choices of ``threshold_codes`` for t over the quantiles of P(Complex) on these rows, and one
    above them all (never Complex)."""
    pc = np.asarray(probabilities, dtype=np.float64)[:, TIERS.index(COMPLEX)]
    ts = sorted({float(x) for x in np.quantile(pc, THRESHOLD_QUANTILES, method="lower")})
    ts.append(float("inf"))
    return ts, [by_tier(threshold_codes(probabilities, t), tier_models) for t in ts]


@dataclass(frozen=True)
class TierRows:
    """What ``tier_figures`` scores: the rows' scores and costs, the pair, the tiers and every router's choices."""

    scores: np.ndarray  # (n, M)
    costs: np.ndarray  # (n, M)
    medium: int
    large: int
    truth: np.ndarray  # (n,) the oracle's tier codes, -1: unlabelled
    predicted: np.ndarray  # (n,) the tier router's tier codes
    points: dict[str, np.ndarray]  # router name -> choice vector (one model index per row)
    curves: dict[str, list[np.ndarray]]  # router name -> the choice vectors of its curve


def _weighted(counts: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Each resample's mean of ``x`` over rows (counts: (r, n) draws)."""
    return np.asarray(counts @ x / counts.sum(axis=1))


def _savings(cost: np.ndarray, quality: np.ndarray, target: float) -> float | None:
    """The cost saved against always-large (cost 1) where the curve first reaches ``target`` quality."""
    reached = qnc([CurvePoint(float(c), float(q)) for c, q in zip(cost, quality)], target)
    return None if reached is None else 1.0 - reached


class _Figures:
    """The figures of one set of rows (all of them, or one resample), each as a flat dict of floats."""

    def __init__(self, r: TierRows, counts: np.ndarray) -> None:
        self.r, self.counts = r, counts
        self._rows = np.arange(r.scores.shape[0])
        self.large_cost = _weighted(counts, r.costs[:, r.large])
        self.target = _weighted(counts, r.scores[:, r.large])

    def _score(self, choice: np.ndarray) -> np.ndarray:
        return np.asarray(self.r.scores[self._rows, choice])

    def _cost(self, choice: np.ndarray) -> np.ndarray:
        return np.asarray(self.r.costs[self._rows, choice])

    def routers(self) -> Iterator[tuple[str, str, np.ndarray]]:
        """(router, figure, per-resample values)."""
        for name, c in self.r.points.items():
            q, cost = _weighted(self.counts, self._score(c)), _weighted(self.counts, self._cost(c)) / self.large_cost
            yield name, "quality", q
            yield name, "cost_normalised", cost
            yield name, "large_share", _weighted(self.counts, (c == self.r.large).astype(np.float64))
            yield name, "savings_at_large_quality", np.where(q >= self.target - 1e-12, 1.0 - cost, np.nan)
        for name, cs in self.r.curves.items():
            q = np.stack([_weighted(self.counts, self._score(c)) for c in cs], axis=1)
            cost = np.stack([_weighted(self.counts, self._cost(c)) for c in cs], axis=1) / self.large_cost[:, None]
            saved = [_savings(cost[b], q[b], float(self.target[b])) for b in range(len(self.counts))]
            yield name, "best_quality", q.max(axis=1)
            yield name, "savings_at_large_quality", np.array([np.nan if s is None else s for s in saved])

    def tiers(self) -> Iterator[tuple[str, np.ndarray]]:
        """(figure, per-resample values) of the tiers: accuracy, the Ambiguous share and its answers' scores."""
        r = self.r
        labelled = (r.truth >= 0).astype(np.float64)
        hit = ((r.truth == r.predicted) & (r.truth >= 0)).astype(np.float64)
        with np.errstate(invalid="ignore", divide="ignore"):
            yield "accuracy", (self.counts @ hit) / (self.counts @ labelled)
            amb = (r.predicted == TIERS.index(AMBIGUOUS)).astype(np.float64)
            yield "ambiguous_share", _weighted(self.counts, amb)
            n_amb = self.counts @ amb
            chosen = r.points[TIER_ROUTER]
            for key, s in (("ambiguous_score", self._score(chosen)), ("ambiguous_medium_score", r.scores[:, r.medium]),
                           ("ambiguous_large_score", r.scores[:, r.large])):
                yield key, (self.counts @ (amb * s)) / n_amb


def _value(x: np.ndarray) -> float | None:
    return None if np.isnan(x[0]) else float(x[0])


def _interval(key: str, x: np.ndarray) -> list[float | None]:
    """The 2.5th and 97.5th percentiles of a figure over the resamples. A saving never reached
    (NaN) counts as below every value; another undefined figure (no Ambiguous row drawn) is left out."""
    x = np.where(np.isnan(x), -np.inf, x) if key.startswith("savings") else x[~np.isnan(x)]
    if x.size == 0:
        return [None, None]
    q = np.quantile(x, [0.025, 0.975], method="inverted_cdf")
    return [float(v) if np.isfinite(v) else None for v in q]  # None: not reached


def tier_figures(r: TierRows, resamples: int, seed: int) -> dict[str, Any]:
    """Every tier figure on the rows, each with its 95% bootstrap interval (``resamples`` 0: none).

    Savings are read at always-large's quality: a router (or its curve) that does not reach it
    has None (not reached); see ``_interval`` for undefined figures on a resample.
    """
    n = r.scores.shape[0]
    whole = _Figures(r, np.ones((1, n)))
    routers: dict[str, dict[str, Any]] = {}
    for name, key, v in whole.routers():
        routers.setdefault(name, {})[key] = _value(v)
    tiers: dict[str, Any] = {key: _value(v) for key, v in whole.tiers()}
    if resamples:
        draws: dict[tuple[str, str], list[np.ndarray]] = {}
        for counts in resample_counts(n, resamples, seed):
            f = _Figures(r, counts.astype(np.float64))
            for name, key, v in f.routers():
                draws.setdefault((name, key), []).append(v)
            for key, v in f.tiers():
                draws.setdefault(("", key), []).append(v)
        for (name, key), vs in draws.items():
            target = tiers if name == "" else routers[name]
            target[f"{key}_ci95"] = _interval(key, np.concatenate(vs))
    confusion = confusion_matrix(r.truth, r.predicted)
    return {"rows": n, "labelled_rows": int((r.truth >= 0).sum()), **tiers,
            "confusion": {"rows": "oracle", "columns": "predicted", "tiers": list(TIERS),
                          "counts": confusion.tolist()},
            "per_tier": per_tier(confusion), "routers": routers}
