"""kNN shrunk toward the cluster rule: each model's mean score over a prompt's ``k`` nearest
training prompts, combined with the cluster rule's quality as if ``beta`` more neighbours had it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .. import _native
from .._frozen import freeze_arrays
from ..errors import ProfileError
from ..ood._plain import integer, mapping, number, unit
from ._arrays import decode, encode_array

#: Training rows a map stores by default (a seeded sample beyond); at most ``MAX_ROWS``.
DEFAULT_MAX_ROWS = 4096
UNIT_TOLERANCE = 1e-2


def cluster_errors(x: np.ndarray, centroids: np.ndarray, rates: np.ndarray, temperature: float) -> np.ndarray:
    """(n, M) the cluster rule's expected error per model: the nearest centroid's rates (cosine),
    or their softmax-weighted mean at ``temperature`` > 0."""
    sims = unit(np.atleast_2d(x).astype(np.float64)) @ unit(centroids).T
    if temperature == 0:
        return np.asarray(rates[sims.argmax(axis=1)])
    z = np.exp((sims - sims.max(axis=1, keepdims=True)) / temperature)
    return np.asarray((z / z.sum(axis=1, keepdims=True)) @ rates)


@dataclass(frozen=True)
class KNNPrior:
    """The knn-prior map, stored as data.

    Attributes:
        vectors: (N, D) float16 unit rows, the training embeddings (a seeded sample past ``DEFAULT_MAX_ROWS``).
        scores: (N, M) float16 in [0, 1], their scores per model (unscored: the model's mean).
        k: neighbours averaged (1 <= k <= N).
        beta: pseudo-neighbours holding the cluster rule's quality (>= 0).
    """

    vectors: np.ndarray = field(repr=False)
    scores: np.ndarray = field(repr=False)
    k: int
    beta: float
    name = "knn-prior"

    def __post_init__(self) -> None:
        freeze_arrays(self, vectors=np.float16, scores=np.float16)
        object.__setattr__(self, "_native", _native.KNNIndex(self.vectors, self.scores, self.k, self.beta))

    def __reduce__(self) -> tuple[Any, ...]:
        # Pickled by its fields (Ray ships profiles to its workers): the C handle is rebuilt on load.
        return (type(self), (self.vectors, self.scores, self.k, self.beta))

    @property
    def dim(self) -> int:
        return int(self.vectors.shape[1])

    @property
    def n_models(self) -> int:
        return int(self.scores.shape[1])

    def errors(self, x: np.ndarray, prior: np.ndarray) -> np.ndarray:
        """(n, M) predicted error of each model on each (non-zero) embedding, given the cluster
        rule's (n, M) errors, computed by the C core (csrc/cr_maps.c): each row by the same code
        alone or in a batch, so both give the same bits."""
        q = np.ascontiguousarray(np.atleast_2d(x), dtype=np.float32)
        out: np.ndarray = self._native.errors(q, np.atleast_2d(prior))  # type: ignore[attr-defined]
        return out

    def errors_reference(self, x: np.ndarray, prior: np.ndarray) -> np.ndarray:
        """``errors`` in NumPy: the definition the C core is tested against (its ties may differ)."""
        store, scores = self.vectors.astype(np.float32), self.scores.astype(np.float64)
        sims = unit(np.atleast_2d(x).astype(np.float64)) @ store.T
        k = self.k
        near = np.argsort(-sims, axis=1, kind="stable")[:, :k]
        quality = (scores[near].sum(axis=1) + self.beta * (1.0 - prior)) / (k + self.beta)
        return np.asarray(np.clip(1.0 - quality, 0.0, 1.0))

    def with_model(self, x: np.ndarray, scores: np.ndarray, cluster_quality: Callable[[np.ndarray], np.ndarray]
                   ) -> KNNPrior:
        """The map with one more model (``add-model``): its score at each stored prompt is
        ``cluster_quality`` there (its cluster-rule quality; the labelled rows ``x``, ``scores``
        are other prompts)."""
        column = np.clip(cluster_quality(self.vectors.astype(np.float64)), 0.0, 1.0)
        return KNNPrior(self.vectors, np.column_stack([self.scores, column]), self.k, self.beta)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON data (the arrays as base64 float16, little-endian)."""
        return {"method": self.name, "k": self.k, "beta": self.beta, "vectors": encode_array(self.vectors, "float16"),
                "scores": encode_array(self.scores, "float16")}

    @classmethod
    def from_dict(cls, obj: Any, path: str, dim: int, n_models: int) -> KNNPrior:
        """Validate and load ``to_dict``'s output for ``dim``-dimensional embeddings and ``n_models`` models.

        Raises:
            ProfileError: a missing or malformed field, named by its JSON path.
        """
        d = mapping(obj, path)
        vectors = decode(d.get("vectors"), f"{path}.vectors", "float16", (None, dim), "rows, embedding dimensions")
        norms = np.linalg.norm(vectors.astype(np.float32), axis=1)
        if np.any(np.abs(norms - 1.0) > UNIT_TOLERANCE):
            raise ProfileError(f"{path}.vectors row {int(np.argmax(np.abs(norms - 1.0)))} is not a unit vector")
        scores = decode(d.get("scores"), f"{path}.scores", "float16", (len(vectors), n_models), "rows, models")
        if scores.min() < 0 or scores.max() > 1:
            raise ProfileError(f"{path}.scores must lie in [0, 1]")
        k = integer(d.get("k"), f"{path}.k", 1, len(vectors))
        return cls(vectors, scores, k, number(d.get("beta"), f"{path}.beta", 0.0, 1e6))


def fit_knn_prior(x: np.ndarray, scores: np.ndarray, k: int, beta: float, seed: int = 0,
                  max_rows: int = DEFAULT_MAX_ROWS) -> KNNPrior:
    """A knn-prior map of training embeddings ``x`` and their (n, M) scores (NaN: unscored, stored
    as the model's mean), keeping a seeded sample of ``max_rows`` rows when there are more."""
    filled = np.where(np.isnan(scores), np.nanmean(scores, axis=0), scores)
    rows = np.arange(len(x))
    if len(x) > max_rows:
        rows = np.sort(np.random.default_rng(seed).choice(len(x), max_rows, replace=False))
    return KNNPrior(unit(np.asarray(x, dtype=np.float64)[rows]), np.clip(filled[rows], 0.0, 1.0), min(k, len(rows)),
                    float(beta))
