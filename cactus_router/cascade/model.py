"""A trained cascade: the chain, its decider and the operating cost weight; trained on a table, saved as JSON."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .._files import read_input, write_atomic
from .._json import MAX_PROFILE_BYTES, loads_limited
from ..errors import CascadeTableError
from ..metrics import CurvePoint, area
from .deciders import (
    LAMBDAS,
    ChainArrays,
    Decider,
    POMDPDecider,
    SelfConsistencyDecider,
    ThresholdDecider,
    decider_from_dict,
)
from .table import VerificationRow

FORMAT = "cactus-router-cascade"
METHODS = ("pomdp", "pomdp-greedy", "threshold", "self-consistency")
#: Candidate bin counts for the POMDP's observations, chosen by cross-validation.
BIN_CANDIDATES = (4, 8, 16)


@dataclass(frozen=True)
class Cascade:
    """The chain (cheapest first), the decider, the cost weight it runs at, and how it was trained."""

    chain: tuple[str, ...]
    decider: Decider
    cost_weight: float
    training: dict[str, Any] = field(default_factory=dict, compare=False)

    def to_dict(self) -> dict[str, Any]:
        return {"format": FORMAT, "version": 1, "chain": list(self.chain), "cost_weight": self.cost_weight,
                "decider": self.decider.to_dict(), "training": self.training}

    @classmethod
    def from_dict(cls, obj: Any, where: str = "cascade") -> Cascade:
        if not isinstance(obj, dict) or obj.get("format") != FORMAT or obj.get("version") != 1:
            raise CascadeTableError(f"{where}: not a cactus-router cascade file (format {FORMAT!r}, version 1)")
        chain = obj.get("chain")
        if not isinstance(chain, list) or len(chain) < 2 or not all(isinstance(m, str) for m in chain):
            raise CascadeTableError(f"{where}: 'chain' must list at least two model ids")
        weight = obj.get("cost_weight")
        if isinstance(weight, bool) or not isinstance(weight, (int, float)) or weight < 0:
            raise CascadeTableError(f"{where}: 'cost_weight' must be a number >= 0")
        return cls(tuple(chain), decider_from_dict(obj.get("decider") or {}), float(weight), obj.get("training", {}))

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the cascade as JSON (atomically: a temporary file renamed over ``path``)."""
        write_atomic(path, json.dumps(self.to_dict(), indent=1) + "\n")

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Cascade:
        p = Path(path)
        obj = loads_limited(read_input(p, "cascade", CascadeTableError, MAX_PROFILE_BYTES), str(p), CascadeTableError)
        return cls.from_dict(obj, str(p))


def fit_decider(arr: ChainArrays, method: str, bins: int = 8) -> Decider:
    """The decider ``method`` fitted on ``arr``."""
    if method == "threshold":
        return ThresholdDecider.fit(arr)
    if method == "self-consistency":
        return SelfConsistencyDecider()
    if method in ("pomdp", "pomdp-greedy"):
        return POMDPDecider.fit(arr, bins=bins, greedy=method == "pomdp-greedy")
    raise CascadeTableError(f"unknown cascade method {method!r}; choose one of {', '.join(METHODS)}")


def curve(decider: Decider, arr: ChainArrays, lambdas: Sequence[float] = LAMBDAS) -> list[CurvePoint]:
    """(normalised honest cost, mean quality) of ``decider`` on ``arr`` at each cost weight."""
    out = []
    for lam in lambdas:
        q, c = arr.outcome(decider.stops(arr.verification, lam))
        out.append(CurvePoint(float(c.mean()) / arr.top, float(q.mean())))
    return out


def _cv_bins(arr: ChainArrays, method: str, folds: int, seed: int) -> tuple[int, dict[str, float]]:
    """The POMDP bin count with the largest mean held-out curve area over ``folds`` folds."""
    order = np.random.default_rng(seed).permutation(len(arr.scores))
    parts = np.array_split(order, folds)
    areas = {}
    for bins in BIN_CANDIDATES:
        got = []
        for f in range(folds):
            train = np.concatenate([p for g, p in enumerate(parts) if g != f])
            d = fit_decider(arr.take(train), method, bins)
            got.append(area(curve(d, arr.take(parts[f]))))
        areas[str(bins)] = float(np.mean(got))
    return int(max(areas, key=lambda b: areas[b])), areas


def train_cascade(rows: Sequence[VerificationRow], chain: Sequence[str], *, method: str = "pomdp",
                  cost_weight: float = 1.0, folds: int = 3, seed: int = 0, where: str = "table") -> Cascade:
    """Fit a cascade on a verification table; the POMDP's bin count is chosen by ``folds``-fold cross-validation."""
    if method not in METHODS:
        raise CascadeTableError(f"unknown cascade method {method!r}; choose one of {', '.join(METHODS)}")
    if not cost_weight >= 0:
        raise CascadeTableError(f"cost_weight must be >= 0, got {cost_weight}")
    arr = ChainArrays.from_rows(rows, chain, where)
    training: dict[str, Any] = {"rows": len(rows), "method": method}
    bins = 8
    if method.startswith("pomdp"):
        bins, cv = _cv_bins(arr, method, folds, seed)
        training.update(bins=bins, cv_area=cv, folds=folds, seed=seed)
    return Cascade(tuple(chain), fit_decider(arr, method, bins), float(cost_weight), training)


__all__ = ["BIN_CANDIDATES", "Cascade", "FORMAT", "METHODS", "curve", "fit_decider", "train_cascade"]
