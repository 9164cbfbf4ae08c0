"""The Scorer of a profile with a learned map: the cluster rule still gives the cluster, similarity
and margin (the out-of-distribution checks read them) and its expected errors (the maps' prior),
and the map's predicted errors give the ranking, scored by the same C code (``cr_rank_errors``),
so lambda, the normalised cost, the eligibility mask and the tie-breaks are the cluster rule's."""

from __future__ import annotations

import hashlib

import numpy as np

from ..profile import Profile
from .scorer import Chosen, Eligibility, Scorer


class MapScorer(Scorer):
    """``Scorer`` with the profile's map's errors in place of the cluster rates for the choice."""

    __slots__ = ("map", "_errors_cache")

    def __init__(self, profile: Profile) -> None:
        super().__init__(profile)
        assert profile.map is not None
        self.map = profile.map
        self._errors_cache: tuple[bytes, np.ndarray] | None = None

    def errors(self, vecs: np.ndarray) -> np.ndarray:
        """(n, M) the map's predicted error of each model, given the cluster rule's expected errors
        (computed by the C index, as a route computes them).

        A cache of the last batch's errors, keyed by the digest of its bytes, serves the same
        embeddings routed again at another lambda (a deferral curve: cross-validation, evaluate)
        without predicting them again; single rows are not cached.
        """
        key = hashlib.blake2b(vecs.tobytes(), digest_size=16).digest() if len(vecs) > 1 else None
        last = self._errors_cache  # one read: another thread may replace it
        if key is not None and last is not None and last[0] == key:
            return last[1]
        out = np.ascontiguousarray(self.map.errors(vecs, self.index.expected_errors(vecs, self.temperature)),
                                   dtype=np.float64)
        if key is not None:
            out.setflags(write=False)
            self._errors_cache = (key, out)
        return out

    def choose(self, vec: np.ndarray, eligibility: Eligibility, lam: float) -> Chosen:
        cluster, sim, margin = self.index.choose(vec, eligibility.buffer, len(eligibility.indices), lam,
                                                 self.temperature)[:3]
        routed = self.index.rank_one(self.errors(vec[None, :])[0], eligibility.buffer, len(eligibility.indices), lam)
        return self._chosen((cluster, sim, margin, *routed[3:]))

    def score_many(self, vecs: np.ndarray, eligibility: Eligibility, lam: float
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        cluster = self.index.route_batch(vecs, eligibility.buffer, lam, self.temperature)
        if not len(vecs):
            return cluster
        mapped, rankings, scores, errs = self.index.rank_batch(self.errors(vecs), eligibility.buffer, lam)
        for f in ("cluster", "similarity", "margin"):
            mapped[f] = cluster[0][f]
        return mapped, rankings, scores, errs


def scorer_for(profile: Profile) -> Scorer:
    """The scorer a profile routes with: ``MapScorer`` when it has a map, else the cluster rule's."""
    return Scorer(profile) if profile.map is None else MapScorer(profile)
