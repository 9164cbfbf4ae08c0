"""The evaluation rows as arrays, and the fixed facts (cheapest, best single, oracle) every router is compared with."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..data import RoutingRow, row_locations, score_matrix
from ..errors import RoutingTableError
from ..profile import Profile


@dataclass(frozen=True)
class EvalTable:
    """Evaluation rows as arrays in the profile's model order."""

    model_ids: tuple[str, ...]
    scores: np.ndarray  # (n, M) in [0, 1]
    costs: np.ndarray  # (n, M): per-prompt costs, or each model's profile cost on every row
    model_costs: np.ndarray  # (M,) the profile's costs: what every router decides with
    size_mb: np.ndarray | None  # (M,) when every model's size is known
    tasks: tuple[str | None, ...]
    cost_source: str  # "profile" or "rows"

    @property
    def n(self) -> int:
        """Number of rows."""
        return int(self.scores.shape[0])

    @property
    def binary(self) -> bool:
        """Whether every score is 0 or 1 (then quality is accuracy)."""
        return bool(np.isin(self.scores, (0.0, 1.0)).all())


def eval_table(rows: Sequence[RoutingRow], profile: Profile, *, source: str | os.PathLike[str] | None = None
               ) -> EvalTable:
    """Arrays for evaluating ``profile`` on ``rows``.

    Every row must score every profile model. Per-prompt costs are used when every row gives them
    for every model, else the profile's costs; a mix is an error.

    Raises:
        RoutingTableError: no rows, a missing score, or per-prompt costs on some rows only.
    """
    if not rows:
        raise RoutingTableError(f"{source or 'evaluation data'}: no rows")
    ids = profile.model_ids
    scores = score_matrix(rows, ids)
    missing = np.isnan(scores)
    if missing.any():
        i = int(np.argwhere(missing.any(axis=1))[0, 0])
        names = ", ".join(m for m, gone in zip(ids, missing[i]) if gone)
        where = row_locations(source, len(rows))[i]
        raise RoutingTableError(f"{where}: no score for profile model(s) {names}; every evaluation row must "
                                "score every model of the profile")
    model_costs = np.array([m.cost for m in profile.models], dtype=np.float64)
    with_costs = [r.costs is not None and all(m in r.costs for m in ids) for r in rows]
    if all(with_costs):
        costs = np.array([[r.costs[m] for m in ids] for r in rows], dtype=np.float64)  # type: ignore[index]
        source_kind = "rows"
    elif not any(r.costs for r in rows):
        costs = np.broadcast_to(model_costs, scores.shape).copy()
        source_kind = "profile"
    else:
        i = with_costs.index(False)
        where = row_locations(source, len(rows))[i]
        raise RoutingTableError(f"{where}: 'costs' missing or incomplete while other rows give per-prompt costs; "
                                "give costs for every model on every row, or on none")
    sizes = [m.size_mb for m in profile.models]
    size_mb = None if any(s is None for s in sizes) else np.array(sizes, dtype=np.float64)
    return EvalTable(ids, scores, costs, model_costs, size_mb, tuple(r.task for r in rows), source_kind)


def oracle_choices(scores: np.ndarray, costs: np.ndarray) -> np.ndarray:
    """Per row, the cheapest model reaching that row's best score (ties: the lower index)."""
    best = scores.max(axis=1, keepdims=True)
    return np.asarray(np.where(scores >= best, costs, np.inf).argmin(axis=1))


@dataclass(frozen=True)
class Reference:
    """The fixed facts every operating point is compared with."""

    cheapest: int
    priciest: int
    largest: int  # by size_mb when every size is known, else the most expensive
    best_single: int
    oracle: np.ndarray
    top_cost: float  # the most expensive model's mean cost: the cost normaliser

    @classmethod
    def of(cls, t: EvalTable) -> Reference:
        """The reference models and the oracle of ``t``."""
        mean_cost = t.costs.mean(axis=0)
        quality = t.scores.mean(axis=0)
        # ties: cheaper first, then model order
        cheapest = int(np.lexsort((np.arange(len(mean_cost)), mean_cost))[0])
        priciest = int(np.lexsort((np.arange(len(mean_cost)), -mean_cost))[0])
        largest = priciest if t.size_mb is None else int(np.lexsort((np.arange(len(t.size_mb)), -t.size_mb))[0])
        best_single = int(np.lexsort((np.arange(len(quality)), mean_cost, -quality))[0])
        return cls(cheapest, priciest, largest, best_single, oracle_choices(t.scores, t.costs), float(mean_cost.max()))

