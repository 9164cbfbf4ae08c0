"""The Scorer: the cluster rule over the C index, and the eligibility masks of requests."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

import numpy as np

from .. import _native
from ..errors import NoEligibleModelError
from ..profile import Profile
from .ranking import Ranking
from .request import RouteRequest

#: What the derived tier rule reads of one ranking, as C computed it with the call's lambda and
#: eligibility: the ranking, the lowest expected error of its models and the lowest of the
#: cheapest ones' (each recomputed from its score, as ``policies.tier`` does for any other ranking).
DerivedInputs = tuple[Ranking, float, float]

#: What ``Scorer.choose`` returns: cluster, similarity, margin, ranking, the first model's
#: index, expected error and score, and the derived tier rule's inputs (``DerivedInputs``).
Chosen = tuple[int, float, float, Ranking, int, float, float, DerivedInputs]

#: Eligibility masks kept per scorer (one per distinct set of constraints), at most this many
#: bytes in all (an entry holds a mask and the eligible indices: about 40 bytes per model);
#: cleared when full. An application routes with a few fixed constraint sets, which then cost a
#: dictionary lookup instead of a pass over the models (benchmarks/test_bench_core.py).
ELIGIBILITY_CACHE_BYTES = 4 * 1024 * 1024
ELIGIBILITY_CACHE_SIZE = 256
#: Under hard assignment a ranking depends only on (eligibility, lambda, cluster), so the scorer
#: keeps the rankings it has built and reuses one on a repeat: at most this
#: many bytes in all (about 80 bytes per model per entry), cleared when full. Measured in
#: benchmarks/test_bench_core.py (K x D rows, hard assignment) and by benchmarks/latency_gate.py.
RANKING_CACHE_BYTES = 4 * 1024 * 1024


@dataclass(frozen=True, eq=False)
class Eligibility:
    """The models a request's constraints leave, as a mask and as the C core's view of it.

    Attributes:
        mask: uint8 per model (1 = eligible), or None when every model is.
        buffer: the C view of ``mask`` (NULL for None); valid while this object lives.
        indices: the eligible model indices, in profile order.
        key: the constraints it was made for (``RouteRequest.constraints``).
    """

    mask: np.ndarray | None
    buffer: Any
    indices: tuple[int, ...]
    key: tuple[Any, ...] = ((), None, None)

    def allows(self, j: int) -> bool:
        """Whether model index ``j`` is eligible."""
        return self.mask is None or bool(self.mask[j])


class Scorer:
    """Scores embeddings with a profile's cluster rule: the one path that routing, training's
    cross-validation, evaluation and calibration all go through (via ``Pipeline``).

    Immutable after construction but for its eligibility cache, which is locked and bounded.
    """

    __slots__ = ("ids", "index_of", "costs", "cost_of", "overall_errors", "temperature", "index", "_overall",
                 "_profile", "_eligibility_cache", "_eligibility_limit", "_ranking_cache", "_ranking_limit", "_lock",
                 "_all")

    def __init__(self, profile: Profile) -> None:
        self._profile = profile
        self.ids = profile.model_ids
        self.index_of = {m: j for j, m in enumerate(self.ids)}
        self.costs = np.array([m.cost for m in profile.models], dtype=np.float64)
        self.cost_of = tuple(float(c) for c in self.costs)
        self.overall_errors = np.array([m.overall_error_rate for m in profile.models], dtype=np.float64)
        self.temperature = profile.routing.temperature
        self.index = _native.Index(profile.centroids, profile.error_matrix(), self.costs)
        # Overall error rates as a one-cluster index: the same C scoring, with no cluster to pick.
        self._overall = _native.Index(np.ones((1, 1)), self.overall_errors[None, :], self.costs)
        self._eligibility_cache: dict[tuple[Any, ...], Eligibility] = {}
        self._eligibility_limit = max(1, min(ELIGIBILITY_CACHE_SIZE, ELIGIBILITY_CACHE_BYTES // (40 * len(self.ids))))
        self._ranking_cache: dict[tuple[Any, float, int], tuple[Ranking, int, float, float, DerivedInputs]] = {}
        self._ranking_limit = max(16, RANKING_CACHE_BYTES // (80 * len(self.ids)))
        self._lock = threading.Lock()
        self._all = Eligibility(None, _native.mask_buffer(None), tuple(range(len(self.ids))))

    def eligibility(self, request: RouteRequest) -> Eligibility:
        """The eligibility of ``request``'s constraints (computed once per distinct set, cached).

        Raises:
            NoEligibleModelError: ``allow`` names unknown models, or no model meets the constraints.
        """
        if not request.require and request.allow is None and request.max_size_mb is None:
            return self._all
        key = request.constraints
        hit = self._eligibility_cache.get(key)
        if hit is not None:
            return hit
        entry = self._eligibility(request)
        with self._lock:
            if len(self._eligibility_cache) >= self._eligibility_limit:
                self._eligibility_cache.clear()
            return self._eligibility_cache.setdefault(key, entry)

    def _eligibility(self, request: RouteRequest) -> Eligibility:
        if request.allow is not None:
            missing = set(request.allow) - set(self.ids)
            if missing:
                raise NoEligibleModelError(f"allow names model(s) not in the profile: {', '.join(sorted(missing))}")
        ok = np.ones(len(self.ids), dtype=np.uint8)
        for j, m in enumerate(self._profile.models):
            if not set(request.require) <= m.capabilities:
                ok[j] = 0
            if request.allow is not None and m.id not in request.allow:
                ok[j] = 0
            if request.max_size_mb is not None and (m.size_mb is None or m.size_mb > request.max_size_mb):
                ok[j] = 0
        if not ok.any():
            raise NoEligibleModelError(
                f"no model in the profile meets {request.describe()}; relax a constraint or add a model")
        if ok.all():
            return self._all
        ok.setflags(write=False)
        return Eligibility(ok, _native.mask_buffer(ok), tuple(int(j) for j in np.flatnonzero(ok)), request.constraints)

    def choose(self, vec: np.ndarray, eligibility: Eligibility, lam: float) -> Chosen:
        """The cluster rule on one float32 embedding laid out for C: the cluster, similarity,
        margin, the ranking, the first model's index, expected error and score, and the derived
        tier rule's inputs for that ranking."""
        routed = self.index.choose(vec, eligibility.buffer, len(eligibility.indices), lam, self.temperature)
        if self.temperature != 0.0:
            return self._chosen(routed)
        cluster, sim, margin = routed[0], routed[1], routed[2]
        key = (eligibility.key, lam, cluster)
        hit = self._ranking_cache.get(key)
        if hit is not None:
            return cluster, sim, margin, *hit
        chosen = self._chosen(routed)
        with self._lock:
            if len(self._ranking_cache) >= self._ranking_limit:
                self._ranking_cache.clear()
            self._ranking_cache[key] = chosen[3:]
        return chosen

    def _chosen(self, routed: _native.Chosen) -> Chosen:
        cluster, sim, margin, order, scores, error, best_error, cheapest_error = routed
        ranking = Ranking.indexed_by(self.ids, order, scores)
        return (cluster, sim, margin, ranking, order[0], error, scores[0],
                (ranking, best_error, cheapest_error))

    def score_many(self, vecs: np.ndarray, eligibility: Eligibility, lam: float
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """The cluster rule on an (n, d) float32 array in one C call."""
        return self.index.route_batch(vecs, eligibility.buffer, lam, self.temperature)

    def overall(self, eligibility: Eligibility, lam: float) -> _native.Routed:
        """The eligible models ranked on their overall error rates with the same lambda and the
        same tie-breaks as the cluster rule: one C call on a one-cluster index (about a
        microsecond, so not cached)."""
        return self._overall.route(_ONE, eligibility.buffer, lam, 0.0)

    def similarities(self, vec: np.ndarray) -> np.ndarray:
        """Cosine similarity of one embedding to every centroid."""
        return self.index.similarities(vec)


_ONE = np.ones(1, dtype=np.float32)
_ONE.setflags(write=False)
