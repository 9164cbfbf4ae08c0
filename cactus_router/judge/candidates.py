"""The models a judge chooses among: each one's facts, what the profile knows of it, and its size step."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import ArgumentError
from ..profile import ModelInfo, ModelSpec, Profile
from ..profile.catalog import load_models


@dataclass(frozen=True)
class Candidate:
    """One model the judge may pick, with the facts its prompt states.

    ``cost`` is the profile's (what the router decides with); ``error_rate`` is the profile's
    overall error rate over ``labelled`` training prompts.
    """

    id: str
    cost: float
    size_mb: float | None
    capabilities: frozenset[str]
    tokens_per_sec: float | None
    context_length: int | None
    error_rate: float
    labelled: int


@dataclass(frozen=True)
class Candidates:
    """The judge's models, smallest first, and the size steps of the catalog they form.

    A step is one distinct size (``step_basis`` "size_mb"), or one distinct cost when some size is
    unknown ("cost"): models of equal size share a step, so "within one step" never separates them.
    """

    models: tuple[Candidate, ...]
    step_basis: str
    left_out: tuple[str, ...] = ()

    @property
    def ids(self) -> tuple[str, ...]:
        """Model ids, smallest first."""
        return tuple(m.id for m in self.models)

    def basis(self) -> np.ndarray:
        """Each model's size in MB, or its cost when some size is unknown."""
        if self.step_basis == "size_mb":
            return np.array([m.size_mb for m in self.models], dtype=np.float64)
        return np.array([m.cost for m in self.models], dtype=np.float64)

    def steps(self) -> np.ndarray:
        """Each model's step: the rank of its size (or cost) among the distinct sizes (or costs)."""
        b = self.basis()
        return np.searchsorted(np.unique(b), b)

    @property
    def largest(self) -> int:
        """The index of the largest model (by size when every size is known, else by cost): the first such."""
        return int(np.argmax(self.basis()))


def _candidate(info: ModelInfo, spec: ModelSpec | None) -> Candidate:
    """A candidate from the profile's model, with the list's facts where the list gives them."""
    size = info.size_mb if spec is None or spec.size_mb is None else spec.size_mb
    tps = info.tokens_per_sec if spec is None or spec.tokens_per_sec is None else spec.tokens_per_sec
    ctx = info.context_length if spec is None or spec.context_length is None else spec.context_length
    return Candidate(
        id=info.id,
        cost=info.cost,
        size_mb=size,
        capabilities=info.capabilities if spec is None else spec.capabilities,
        tokens_per_sec=tps,
        context_length=ctx,
        error_rate=info.overall_error_rate,
        labelled=int(info.counts.sum()),
    )


def build_candidates(profile: Profile, models: str | os.PathLike[str] | Sequence[Any] | None = None) -> Candidates:
    """The judge's candidates: ``models`` ("cactus", a JSON model list, a list) that the profile routes to.

    Without ``models``, every model of the profile. A listed model the profile has no error rates
    for cannot be chosen by the router, so it is left out and named in ``left_out``.

    Raises:
        RoutingTableError: a malformed model list.
        ArgumentError: fewer than two listed models are in the profile.
    """
    by_id = {m.id: m for m in profile.models}
    if models is None:
        chosen = [_candidate(m, None) for m in profile.models]
        left_out: tuple[str, ...] = ()
    else:
        specs = load_models(models)
        chosen = [_candidate(by_id[s.id], s) for s in specs if s.id in by_id]
        left_out = tuple(s.id for s in specs if s.id not in by_id)
    if len(chosen) < 2:
        raise ArgumentError(
            f"the judge needs at least two models the profile routes to; the list and the profile share "
            f"{len(chosen)} ({', '.join(c.id for c in chosen) or 'none'}); the profile's models are "
            f"{', '.join(profile.model_ids)}")
    basis = "size_mb" if all(c.size_mb is not None for c in chosen) else "cost"
    chosen.sort(key=lambda c: (c.size_mb if basis == "size_mb" else c.cost, c.cost, c.id))
    return Candidates(tuple(chosen), basis, left_out)


__all__ = ["Candidate", "Candidates", "build_candidates"]
