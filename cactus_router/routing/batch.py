"""DecisionBatch: the decisions of one batch as columns, and the columns policies change."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .._native import Routed
from ..tiers import TIERS
from .decision import Applied, Decision
from .ranking import Ranking

_NONE: tuple[Applied, ...] = ()


class Columns:
    """A batch's decisions while policies apply: NumPy columns, changed in place by row."""

    __slots__ = ("ids", "costs", "cluster", "similarity", "margin", "model_index", "expected_error", "cost",
                 "score", "rankings", "scores", "in_distribution", "applied", "tier_code", "tier_probability")

    def __init__(self, ids: tuple[str, ...], costs: np.ndarray, results: np.ndarray, rankings: np.ndarray,
                 scores: np.ndarray, errors: np.ndarray) -> None:
        n = len(results)
        width = int(results["n_ranked"][0]) if n else 0
        self.ids = ids
        self.costs = costs
        self.cluster = results["cluster"]
        self.similarity = results["similarity"]
        self.margin = results["margin"]
        self.rankings = np.ascontiguousarray(rankings[:, :width])
        self.scores = np.ascontiguousarray(scores[:, :width])
        self.model_index = self.rankings[:, 0].copy() if width else np.zeros(0, dtype=np.int32)
        self.expected_error = errors[:, 0].astype(np.float64) if width else np.zeros(0)
        self.score = self.scores[:, 0].copy() if width else np.zeros(0, dtype=np.float32)
        self.cost = costs[self.model_index]
        self.in_distribution = np.ones(n, dtype=bool)
        self.applied: list[tuple[Applied, ...]] = [_NONE] * n
        self.tier_code = np.full(n, -1, dtype=np.int8)  # index into TIERS; -1: no tier
        self.tier_probability = np.full(n, np.nan)  # NaN: none

    def __len__(self) -> int:
        return int(self.cluster.shape[0])

    def rechoose(self, rows: np.ndarray, routed: Routed, policy: str, reasons: Sequence[str], *,
                 in_distribution: bool | None = None) -> None:
        """Give ``rows`` the choice of another ranking (the same for every row), recording why."""
        _, _, _, ranking, scores, errors = routed
        self.rankings[rows] = ranking
        self.scores[rows] = scores
        self.model_index[rows] = ranking[0]
        self.expected_error[rows] = errors[0]
        self.score[rows] = scores[0]
        self.cost[rows] = self.costs[ranking[0]]
        if in_distribution is not None:
            self.in_distribution[rows] = in_distribution
        for i, reason in zip(rows.tolist(), reasons):
            self.applied[i] = (*self.applied[i], Applied(policy, reason))

    def decision(self, i: int, cost_bias: float, embed_ms: float, score_ms: float) -> Decision:
        """Row ``i`` as a Decision."""
        ids = self.ids
        return Decision(ids[int(self.model_index[i])], int(self.cluster[i]), float(self.similarity[i]),
                        float(self.margin[i]), float(self.expected_error[i]), float(self.cost[i]),
                        float(self.score[i]),
                        Ranking(ids, self.rankings[i].tolist(), self.scores[i].tolist()),
                        cost_bias, embed_ms, score_ms, bool(self.in_distribution[i]), self.applied[i],
                        _tier(int(self.tier_code[i])), _probability(float(self.tier_probability[i])))

    def replace_row(self, i: int, d: Decision) -> None:
        """Write a policy's changed decision back into row ``i``."""
        index = {m: j for j, m in enumerate(self.ids)}
        self.rankings[i] = [index[m] for m, _ in d.ranking]
        self.scores[i] = [s for _, s in d.ranking]
        self.model_index[i] = index[d.model]
        self.expected_error[i] = d.expected_error
        self.score[i] = d.score
        self.cost[i] = d.cost
        self.in_distribution[i] = d.in_distribution
        self.applied[i] = d.applied
        self.tier_code[i] = -1 if d.tier is None else TIERS.index(d.tier)
        self.tier_probability[i] = np.nan if d.tier_probability is None else d.tier_probability


def _tier(code: int) -> str | None:
    return None if code < 0 else TIERS[code]


def _probability(p: float) -> float | None:
    return None if np.isnan(p) else p


class DecisionBatch(Sequence[Decision]):
    """The decisions of one batch, held as arrays; indexing or iterating yields Decisions.

    Columnar attributes (read-only NumPy arrays of length n) serve bulk use without building n
    objects: ``models`` (ids), ``model_index``, ``cluster``, ``similarity``, ``margin``,
    ``expected_error``, ``cost``, ``score``, ``in_distribution``, ``tier_probability`` (NaN: none);
    ``tiers`` gives each row's tier name (or None); ``applied`` holds each row's policy changes.
    """

    __slots__ = ("_cols", "model_index", "cluster", "similarity", "margin", "expected_error", "cost", "score",
                 "in_distribution", "tier_probability", "applied", "cost_bias", "embed_ms", "score_ms")
    model_index: np.ndarray
    cluster: np.ndarray
    similarity: np.ndarray
    margin: np.ndarray
    expected_error: np.ndarray
    cost: np.ndarray
    score: np.ndarray
    in_distribution: np.ndarray
    tier_probability: np.ndarray

    def __init__(self, cols: Columns, cost_bias: float, embed_ms: float, score_ms: float) -> None:
        self._cols = cols
        for name in ("model_index", "cluster", "similarity", "margin", "expected_error", "cost", "score",
                     "in_distribution", "tier_probability"):
            a = getattr(cols, name)
            a.setflags(write=False)
            setattr(self, name, a)
        cols.rankings.setflags(write=False)
        cols.scores.setflags(write=False)
        self.applied: tuple[tuple[Applied, ...], ...] = tuple(cols.applied)
        self.cost_bias = cost_bias
        self.embed_ms = embed_ms
        self.score_ms = score_ms

    @property
    def models(self) -> tuple[str, ...]:
        """The chosen model id of every row."""
        ids = self._cols.ids
        return tuple(ids[j] for j in self.model_index.tolist())

    @property
    def tiers(self) -> tuple[str | None, ...]:
        """The tier of every row (None where no tier policy ran)."""
        return tuple(_tier(c) for c in self._cols.tier_code.tolist())

    def __len__(self) -> int:
        return len(self._cols)

    def __getitem__(self, i: Any) -> Any:
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        n = len(self)
        if isinstance(i, bool) or not isinstance(i, (int, np.integer)):
            raise TypeError(f"decision indices are integers or slices, not {type(i).__name__}")
        if not -n <= i < n:
            raise IndexError(f"decision index {i} out of range for a batch of {n}")
        return self._cols.decision(int(i) % n, self.cost_bias, self.embed_ms, self.score_ms)

    def to_dicts(self) -> list[dict[str, Any]]:
        """Every row's ``Decision.to_dict()``."""
        return [d.to_dict() for d in self]

    def __repr__(self) -> str:
        return f"DecisionBatch(n={len(self)}, cost_bias={self.cost_bias})"
