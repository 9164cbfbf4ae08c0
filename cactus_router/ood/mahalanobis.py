"""Mahalanobis distance to the nearest of K cluster means, with one shrunk covariance shared by all.

The covariance is that of the training embeddings around their own cluster's mean, shrunk by
Ledoit-Wolf (a 384-dimension covariance from a few thousand prompts is near singular without it).
The inverse is kept as its Cholesky factor L (lower triangle, float16), so that the distance is
``||(x - mean) @ L||^2``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .._frozen import freeze_arrays
from ..errors import ProfileError
from ._plain import as_matrix, decode_f16, encode_f16, mapping

DEFAULT_CLUSTERS = 32
MAX_CLUSTERS = 1024


@dataclass(frozen=True)
class TiedMahalanobis:
    """Minus the squared Mahalanobis distance to the nearest cluster mean (higher: more familiar).

    Attributes:
        means: (K, D) float16 cluster means of the training embeddings.
        factor: (D * (D + 1) / 2,) float16, the lower triangle of L (row by row), the Cholesky
            factor of the shrunk precision matrix.
    """

    means: np.ndarray = field(repr=False)
    factor: np.ndarray = field(repr=False)

    def __post_init__(self) -> None:
        freeze_arrays(self, means=np.float16, factor=np.float16)
        d = self.dim
        if self.factor.shape != (d * (d + 1) // 2,):
            raise ProfileError(f"the Cholesky factor holds {self.factor.size} values; a {d}-dimension triangle "
                               f"needs {d * (d + 1) // 2}")
        chol = np.zeros((d, d), dtype=np.float32)
        chol[np.tril_indices(d)] = self.factor
        if not (np.diag(chol) > 0).all():
            raise ProfileError("the Cholesky factor has a diagonal entry <= 0")
        mz = self.means.astype(np.float32) @ chol
        object.__setattr__(self, "_chol", chol)
        object.__setattr__(self, "_mz", mz)
        object.__setattr__(self, "_mz2", (mz**2).sum(axis=1))

    @property
    def dim(self) -> int:
        """Embedding dimension."""
        return int(self.means.shape[1])

    @property
    def nbytes(self) -> int:
        """Bytes of the stored arrays."""
        return int(self.means.nbytes + self.factor.nbytes)

    def score(self, embeddings: Any) -> np.ndarray:
        """(n,) minus each embedding's squared distance to its nearest cluster mean."""
        z = as_matrix(embeddings, self.dim) @ self._chol  # type: ignore[attr-defined]
        d = (z**2).sum(axis=1)[:, None] - 2.0 * (z @ self._mz.T) + self._mz2[None, :]  # type: ignore[attr-defined]
        return np.asarray(-d.min(axis=1), dtype=np.float64)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON data (both arrays as base64 float16, little-endian)."""
        return {"means": encode_f16(self.means), "factor": encode_f16(self.factor)}

    @classmethod
    def from_dict(cls, obj: Any, path: str) -> TiedMahalanobis:
        """Validate and load ``to_dict``'s output.

        Raises:
            ProfileError: a missing or malformed field, named by its JSON path.
        """
        d = mapping(obj, path)
        means = decode_f16(d.get("means"), f"{path}.means", 2, MAX_CLUSTERS)
        factor = decode_f16(d.get("factor"), f"{path}.factor", 1, 1 << 31)
        try:
            return cls(means, factor)
        except ProfileError as exc:
            raise ProfileError(f"{path}.factor: {exc}") from None


def fit_mahalanobis(x: np.ndarray, clusters: int = DEFAULT_CLUSTERS, seed: int = 0) -> TiedMahalanobis:
    """K-means (``clusters``, fewer if the rows are few) on ``x``, then one Ledoit-Wolf covariance of
    every row around its cluster's mean."""
    from sklearn.cluster import KMeans
    from sklearn.covariance import LedoitWolf
    from threadpoolctl import threadpool_limits

    x64 = x.astype(np.float64)
    k = max(1, min(clusters, len(x) // 4))
    with threadpool_limits(limits=1):
        labels = KMeans(n_clusters=k, n_init=4, random_state=seed).fit(x64).labels_
    used = np.unique(labels)
    means = np.stack([x64[labels == j].mean(axis=0) for j in used])
    resid = x64 - means[np.searchsorted(used, labels)]
    chol = np.linalg.cholesky(LedoitWolf().fit(resid).precision_)
    return TiedMahalanobis(means, chol[np.tril_indices(x.shape[1])])
