"""Similarity to the nearest training prompts, from a bounded float16 store (a k-means coreset).

Vectors are centred on the training mean first: sentence embeddings share a large common
direction, which makes every raw cosine high.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .._frozen import freeze_arrays
from ..errors import ProfileError
from ._plain import as_matrix, decode_f16, encode_f16, integer, mapping, numbers, unit

#: Store sizes: the default, and the largest a profile may hold.
DEFAULT_STORE_SIZE = 256
MAX_STORE_SIZE = 4096
DEFAULT_NEIGHBOURS = 5
UNIT_TOLERANCE = 1e-2


def mean_top_k(q: np.ndarray, store: np.ndarray, k: int) -> np.ndarray:
    """(n,) mean of each row's ``k`` largest dot products with the store's rows."""
    sims = q @ store.T
    if k == 1:
        return np.asarray(sims.max(axis=1))
    return np.asarray(-np.partition(-sims, k - 1, axis=1)[:, :k].mean(axis=1))


@dataclass(frozen=True)
class NeighbourStore:
    """Mean cosine similarity of a prompt to its ``k`` nearest stored vectors (higher: more familiar).

    Attributes:
        centre: (D,) float32, the mean training embedding, subtracted before comparing.
        vectors: (S, D) float16 unit rows, a coreset of the centred training embeddings.
        k: neighbours averaged (1 <= k <= S).
    """

    centre: np.ndarray = field(repr=False)
    vectors: np.ndarray = field(repr=False)
    k: int

    def __post_init__(self) -> None:
        freeze_arrays(self, centre=np.float32, vectors=np.float16)
        object.__setattr__(self, "_store32", self.vectors.astype(np.float32))

    @property
    def dim(self) -> int:
        """Embedding dimension."""
        return int(self.vectors.shape[1])

    @property
    def nbytes(self) -> int:
        """Bytes of the stored arrays."""
        return int(self.vectors.nbytes + self.centre.nbytes)

    def score(self, embeddings: Any) -> np.ndarray:
        """(n,) mean similarity of each (centred) embedding to its k nearest stored vectors."""
        x = as_matrix(embeddings, self.dim)
        store: np.ndarray = self._store32  # type: ignore[attr-defined]
        return mean_top_k(unit(x - self.centre), store, self.k)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON data (the vectors as base64 float16, little-endian)."""
        return {"k": self.k, "centre": [round(float(v), 6) for v in self.centre], "vectors": encode_f16(self.vectors)}

    @classmethod
    def from_dict(cls, obj: Any, path: str) -> NeighbourStore:
        """Validate and load ``to_dict``'s output.

        Raises:
            ProfileError: a missing or malformed field, named by its JSON path.
        """
        d = mapping(obj, path)
        vectors = decode_f16(d.get("vectors"), f"{path}.vectors", 2, MAX_STORE_SIZE)
        s, dim = vectors.shape
        norms = np.linalg.norm(vectors.astype(np.float32), axis=1)
        if np.any(np.abs(norms - 1.0) > UNIT_TOLERANCE):
            raise ProfileError(f"{path}.vectors row {int(np.argmax(np.abs(norms - 1.0)))} is not a unit vector")
        k = integer(d.get("k"), f"{path}.k", 1, s)
        return cls(numbers(d.get("centre"), f"{path}.centre", dim, -1.0, 1.0), vectors, k)


def fit_neighbours(x: np.ndarray, size: int = DEFAULT_STORE_SIZE, k: int = DEFAULT_NEIGHBOURS, seed: int = 0
                   ) -> NeighbourStore:
    """A store of ``size`` unit vectors summarising the training embeddings ``x``: the k-means
    centroids of the centred rows, or the rows themselves when there are no more than ``size``."""
    centre = x.mean(axis=0)
    c = unit(x - centre)
    if len(c) > size:
        from sklearn.cluster import KMeans
        from threadpoolctl import threadpool_limits

        with threadpool_limits(limits=1):  # one thread: the same seed gives the same store everywhere
            km = KMeans(n_clusters=size, n_init=1, random_state=seed).fit(c.astype(np.float64))
        c = unit(km.cluster_centers_)
    return NeighbourStore(centre, c, min(k, len(c)))
