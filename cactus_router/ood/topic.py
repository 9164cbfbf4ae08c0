"""The "unseen topic" check: two familiarity scores, each ranked against held-out training prompts, averaged.

Neither score wins everywhere (benchmarks/ood_detection.py, leave tasks out): the tied
Mahalanobis distance is the best on LLMRouter and ZeroEval and the worst on RouteLLM's MMLU
subjects, where the nearest neighbours do better. Each is turned into a rank, its place among
the scores of held-out training prompts (cross-fitted: each fold is scored by components fitted
without it), and the prompt's familiarity is the mean of its two ranks. The threshold is the
``fpr`` quantile of the held-out prompts' familiarity, so about ``fpr`` of prompts like the
training ones are flagged.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .. import _native
from ..errors import ArgumentError, ProfileError
from ._plain import as_matrix, mapping, number, numbers, unit
from .mahalanobis import DEFAULT_CLUSTERS, TiedMahalanobis, fit_mahalanobis
from .neighbours import DEFAULT_NEIGHBOURS, DEFAULT_STORE_SIZE, MAX_STORE_SIZE, NeighbourStore, fit_neighbours

#: Target share of in-distribution prompts flagged, set on held-out training prompts.
DEFAULT_FPR = 0.01
#: Points of each component's held-out score distribution kept (its quantiles).
GRID = 257
KIND = "neighbours+mahalanobis"


def _ranks(values: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """Each value's place in [0, 1] among held-out scores summarised by their quantiles ``grid``."""
    return np.asarray(np.interp(values, grid, np.linspace(0.0, 1.0, len(grid))))


@dataclass(frozen=True)
class TopicDetector:
    """Familiarity of a prompt's embedding to the training prompts, and the threshold below which it is unseen.

    Attributes:
        neighbours: similarity to the nearest stored training prompts.
        mahalanobis: distance to the nearest cluster mean.
        grids: each component's held-out training scores at GRID quantiles (ascending).
        threshold: familiarity (mean rank, in [0, 1]) below which a prompt is out of distribution.
        fpr: the share of held-out training prompts below ``threshold`` it was calibrated to.
    """

    neighbours: NeighbourStore
    mahalanobis: TiedMahalanobis
    grids: tuple[np.ndarray, np.ndarray] = field(repr=False)
    threshold: float
    fpr: float

    def __post_init__(self) -> None:
        if self.neighbours.dim != self.mahalanobis.dim:
            raise ProfileError(f"the neighbour store is {self.neighbours.dim}-dimensional and the Mahalanobis "
                               f"score {self.mahalanobis.dim}-dimensional")
        grids = []
        for g in self.grids:
            a = np.array(g, dtype=np.float64)
            if a.ndim != 1 or len(a) < 2 or not np.isfinite(a).all() or (np.diff(a) < 0).any():
                raise ProfileError("each grid must hold at least 2 finite numbers in ascending order")
            a.setflags(write=False)
            grids.append(a)
        object.__setattr__(self, "grids", (grids[0], grids[1]))
        n, m = self.neighbours, self.mahalanobis
        object.__setattr__(self, "_native", _native.TopicIndex(
            n.centre, n.vectors, n.k, m.means, m.factor, grids[0], grids[1]))

    def __reduce__(self) -> tuple[Any, ...]:
        # Pickled by its fields (Ray ships profiles to its workers): the C handle is rebuilt on load.
        return (type(self), (self.neighbours, self.mahalanobis, self.grids, self.threshold, self.fpr))

    @property
    def dim(self) -> int:
        """Embedding dimension."""
        return self.neighbours.dim

    @property
    def nbytes(self) -> int:
        """Bytes of the stored arrays (grids included)."""
        return self.neighbours.nbytes + self.mahalanobis.nbytes + sum(8 * len(g) for g in self.grids)

    def familiarity(self, embeddings: Any) -> np.ndarray:
        """(n,) mean rank of the two scores of the (unit-normalised) embeddings among held-out
        training prompts' (0: stranger than all), computed by the C core (csrc/cr_ood.c)."""
        return self.native_familiarity(self._checked(embeddings))

    def native_familiarity(self, vectors: np.ndarray, cutoff: float = 1.0) -> np.ndarray:
        """``familiarity`` of an already checked (n, D) C-contiguous float32 array (the router's
        path). Values at or above ``cutoff`` may be a bound >= cutoff instead (one score skipped);
        below it they are exact, so ``cutoff=threshold`` decides ``unseen`` the same."""
        out: np.ndarray = self._native.familiarity(vectors, cutoff)  # type: ignore[attr-defined]
        return out

    def familiarity_one(self, vector: np.ndarray, cutoff: float = 1.0) -> float:
        """``native_familiarity`` of one checked float32 vector of length D (the per-route path)."""
        out: float = self._native.familiarity_one(vector, cutoff)  # type: ignore[attr-defined]
        return out

    def familiarity_reference(self, embeddings: Any) -> np.ndarray:
        """``familiarity`` in NumPy: the definition the C core is tested against."""
        x = unit(as_matrix(embeddings, self.dim))
        a, b = _ranks(self.neighbours.score(x), self.grids[0]), _ranks(self.mahalanobis.score(x), self.grids[1])
        return np.asarray((a + b) / 2)

    def unseen(self, embeddings: Any) -> np.ndarray:
        """(n,) bool: the embeddings below the threshold."""
        return np.asarray(self.native_familiarity(self._checked(embeddings), self.threshold) < self.threshold)

    def _checked(self, embeddings: Any) -> np.ndarray:
        x = np.ascontiguousarray(as_matrix(embeddings, self.dim))
        if not np.linalg.norm(x, axis=1).all():
            raise ArgumentError("embeddings must not hold a zero vector")
        return x

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON data."""
        return {"kind": KIND, "threshold": round(self.threshold, 6), "fpr": self.fpr,
                "neighbours": self.neighbours.to_dict(), "mahalanobis": self.mahalanobis.to_dict(),
                "grids": [[float(np.float32(v)) for v in g] for g in self.grids]}

    @classmethod
    def from_dict(cls, obj: Any, path: str = "$.ood.topic") -> TopicDetector:
        """Validate and load ``to_dict``'s output.

        Raises:
            ProfileError: a missing or malformed field, named by its JSON path.
        """
        d = mapping(obj, path)
        if d.get("kind") != KIND:
            raise ProfileError(f"{path}.kind must be {KIND!r}, got {d.get('kind')!r}")
        store = NeighbourStore.from_dict(d.get("neighbours"), f"{path}.neighbours")
        maha = TiedMahalanobis.from_dict(d.get("mahalanobis"), f"{path}.mahalanobis")
        if maha.dim != store.dim:
            raise ProfileError(f"{path}.mahalanobis is {maha.dim}-dimensional, {path}.neighbours {store.dim}")
        raw = d.get("grids")
        if not isinstance(raw, list) or len(raw) != 2:
            raise ProfileError(f"{path}.grids must be a list of 2 lists of numbers")
        grids = []
        for i, g in enumerate(raw):
            a = numbers(g, f"{path}.grids[{i}]", None, -1e30, 1e30)
            if len(a) < 2 or len(a) > 4 * GRID or (np.diff(a) < 0).any():
                raise ProfileError(f"{path}.grids[{i}] must hold 2 to {4 * GRID} numbers in ascending order")
            grids.append(a)
        return cls(store, maha, (grids[0], grids[1]), number(d.get("threshold"), f"{path}.threshold", 0.0, 1.0),
                   number(d.get("fpr"), f"{path}.fpr", 0.0, 0.5))


def fit_topic(embeddings: Any, *, store_size: int = DEFAULT_STORE_SIZE, k: int = DEFAULT_NEIGHBOURS,
              clusters: int = DEFAULT_CLUSTERS, fpr: float = DEFAULT_FPR, folds: int = 3, seed: int = 0
              ) -> TopicDetector:
    """Fit the "unseen topic" check on training embeddings and calibrate it on held-out folds of them.

    Args:
        embeddings: (n, D) training embeddings (the embedder's unit vectors).
        store_size: vectors kept by the neighbour store (at most MAX_STORE_SIZE).
        k: neighbours averaged.
        clusters: cluster means of the Mahalanobis score.
        fpr: target share of held-out training prompts flagged.
        folds: cross-fitting folds for the calibration.
        seed: seeds the folds and k-means.

    Raises:
        ArgumentError: bad arguments, or too few rows.
    """
    for name, v, lo, hi in (("store_size", store_size, 1, MAX_STORE_SIZE), ("k", k, 1, store_size),
                            ("clusters", clusters, 1, 1024), ("folds", folds, 2, 100)):
        if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
            raise ArgumentError(f"{name} must be an int in [{lo}, {hi}], got {v!r}")
    if isinstance(fpr, bool) or not isinstance(fpr, (int, float)) or not 0.0 < fpr <= 0.5:
        raise ArgumentError(f"fpr must be in (0, 0.5], got {fpr!r}")
    x = np.asarray(embeddings, dtype=np.float32)
    if x.ndim != 2 or not np.isfinite(x).all():
        raise ArgumentError("embeddings must be a finite (n, D) array")
    if len(x) < 10 * folds or len(x) * (folds - 1) < folds * k:
        raise ArgumentError(f"{len(x)} training rows are too few to fit and calibrate over {folds} folds")
    parts = np.array_split(np.random.default_rng(seed).permutation(len(x)), folds)
    held = np.empty((len(x), 2))
    for i, part in enumerate(parts):
        rest = x[np.concatenate(parts[:i] + parts[i + 1 :])]
        held[part, 0] = fit_neighbours(rest, store_size, k, seed).score(x[part])
        held[part, 1] = fit_mahalanobis(rest, clusters, seed).score(x[part])
    q = np.linspace(0.0, 1.0, GRID)
    grids = (np.quantile(held[:, 0], q), np.quantile(held[:, 1], q))
    familiar = (_ranks(held[:, 0], grids[0]) + _ranks(held[:, 1], grids[1])) / 2
    return TopicDetector(fit_neighbours(x, store_size, k, seed), fit_mahalanobis(x, clusters, seed), grids,
                         float(np.quantile(familiar, fpr)), float(fpr))
