"""The Scorer of a profile with a learned map: the cluster rule still gives the cluster, similarity
and margin (the out-of-distribution checks read them), and the map's predicted errors give the
ranking, scored by the same C code (a one-cluster index per embedding), so lambda, the normalised
cost, the eligibility mask and the tie-breaks are the cluster rule's."""

from __future__ import annotations

import hashlib

import numpy as np

from .. import _native
from ..maps import cluster_errors
from ..profile import Profile
from .scorer import Chosen, Eligibility, Scorer

#: Rows scored per C call in a batch (the call's index holds one "cluster" per row, so the C code's
#: similarities cost BATCH^2 per row: 64 routes a cross-validation fold 1.7x as fast as 256 did).
BATCH = 64
_ONE = np.ones(1, dtype=np.float32)
_ONE.setflags(write=False)
_ONE_BY_ONE = np.ones((1, 1), dtype=np.float32)


class MapScorer(Scorer):
    """``Scorer`` with the profile's map's errors in place of the cluster rates for the choice."""

    __slots__ = ("map", "_rates", "_centroids", "_errors_cache")

    def __init__(self, profile: Profile) -> None:
        super().__init__(profile)
        assert profile.map is not None
        self.map = profile.map
        self._rates = profile.error_matrix().astype(np.float64)
        self._centroids = np.asarray(profile.centroids, dtype=np.float64)
        self._errors_cache: tuple[bytes, np.ndarray] | None = None

    def errors(self, vecs: np.ndarray) -> np.ndarray:
        """(n, M) the map's predicted error of each model.

        A cache of the last batch's errors, keyed by the digest of its bytes, serves the same
        embeddings routed again at another lambda (a deferral curve: cross-validation, evaluate)
        without predicting them again; single rows are not cached.
        """
        key = hashlib.blake2b(vecs.tobytes(), digest_size=16).digest() if len(vecs) > 1 else None
        last = self._errors_cache  # one read: another thread may replace it
        if key is not None and last is not None and last[0] == key:
            return last[1]
        out = self.map.errors(vecs, cluster_errors(vecs, self._centroids, self._rates, self.temperature))
        if key is not None:
            out.setflags(write=False)
            self._errors_cache = (key, out)
        return out

    def choose(self, vec: np.ndarray, eligibility: Eligibility, lam: float) -> Chosen:
        cluster, sim, margin = self.index.choose(vec, eligibility.buffer, len(eligibility.indices), lam,
                                                 self.temperature)[:3]
        one = _native.Index(_ONE_BY_ONE, self.errors(vec)[:1], self.costs)
        routed = one.choose(_ONE, eligibility.buffer, len(eligibility.indices), lam, 0.0)
        return self._chosen((cluster, sim, margin, *routed[3:]))

    def score_many(self, vecs: np.ndarray, eligibility: Eligibility, lam: float
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        cluster = self.index.route_batch(vecs, eligibility.buffer, lam, self.temperature)
        if not len(vecs):
            return cluster
        errors = self.errors(vecs)
        parts = []
        for at in range(0, len(vecs), BATCH):
            n = min(BATCH, len(vecs) - at)
            eye = np.eye(n, dtype=np.float32)
            parts.append(_native.Index(eye, errors[at:at + n], self.costs).route_batch(eye, eligibility.buffer, lam))
        mapped, rankings, scores, errs = (np.concatenate(p) for p in zip(*parts))
        for f in ("cluster", "similarity", "margin"):
            mapped[f] = cluster[0][f]
        return mapped, rankings, scores, errs


def scorer_for(profile: Profile) -> Scorer:
    """The scorer a profile routes with: ``MapScorer`` when it has a map, else the cluster rule's."""
    return Scorer(profile) if profile.map is None else MapScorer(profile)
