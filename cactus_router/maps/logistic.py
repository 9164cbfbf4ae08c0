"""Per-model logistic regression on the embedding: each model's probability of a good answer is
``sigmoid(weights[m] . e + bias[m])`` of the unit embedding ``e``, fitted to the scores as soft labels."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .._frozen import freeze_arrays
from ..ood._plain import mapping, number, unit
from ._arrays import decode, encode_array

#: Largest regularisation C a profile may record (the inverse of the L2 penalty's weight).
MAX_C = 1e6
#: Largest |logit| a constant predictor (a model the rows score one way only) is given.
MAX_LOGIT = float(np.log((1 - 1e-6) / 1e-6))


@dataclass(frozen=True)
class Logistic:
    """The logistic map, stored as data.

    Attributes:
        weights: (M, D) float32, per model the coefficients of the unit embedding.
        bias: (M,) float32 intercepts.
        c: the regularisation it was fitted with (the L2 penalty is ``|weights[m]|^2 / (2 c)``).
    """

    weights: np.ndarray = field(repr=False)
    bias: np.ndarray = field(repr=False)
    c: float
    name = "logistic"

    def __post_init__(self) -> None:
        freeze_arrays(self, weights=np.float32, bias=np.float32)
        object.__setattr__(self, "_w64", self.weights.astype(np.float64))
        object.__setattr__(self, "_b64", self.bias.astype(np.float64))

    @property
    def dim(self) -> int:
        return int(self.weights.shape[1])

    @property
    def n_models(self) -> int:
        return int(self.weights.shape[0])

    def quality(self, x: np.ndarray) -> np.ndarray:
        """(n, M) the predicted probability that each model answers each embedding well."""
        q = unit(np.atleast_2d(x).astype(np.float64))
        # einsum, not BLAS: the same arithmetic for one row and for a batch, and no thread start-up
        z = np.einsum("nd,md->nm", q, self._w64) + self._b64  # type: ignore[attr-defined]
        return np.asarray(1.0 / (1.0 + np.exp(-z)))

    def errors(self, x: np.ndarray, prior: np.ndarray) -> np.ndarray:
        """(n, M) predicted error of each model on each embedding (the cluster rule's ``prior`` unused)."""
        return np.asarray(1.0 - self.quality(x))

    def with_model(self, x: np.ndarray, scores: np.ndarray, cluster_quality: Callable[[np.ndarray], np.ndarray]
                   ) -> Logistic:
        """The map with one more model (``add-model``), fitted at this map's C on its labelled rows
        ``x`` and their (n,) ``scores`` (``cluster_quality`` unused)."""
        row = fit_logistic(x, np.asarray(scores, dtype=np.float64).reshape(-1, 1), self.c)
        return Logistic(np.vstack([self.weights, row.weights]), np.concatenate([self.bias, row.bias]), self.c)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON data (the arrays as base64 float32, little-endian)."""
        return {"method": self.name, "c": self.c, "weights": encode_array(self.weights, "float32"),
                "bias": encode_array(self.bias, "float32")}

    @classmethod
    def from_dict(cls, obj: Any, path: str, dim: int, n_models: int) -> Logistic:
        """Validate and load ``to_dict``'s output for ``dim``-dimensional embeddings and ``n_models`` models.

        Raises:
            ProfileError: a missing or malformed field, named by its JSON path.
        """
        d = mapping(obj, path)
        weights = decode(d.get("weights"), f"{path}.weights", "float32", (n_models, dim),
                         "models, embedding dimensions")
        bias = decode(d.get("bias"), f"{path}.bias", "float32", (n_models,), "models")
        return cls(weights, bias, number(d.get("c"), f"{path}.c", 1e-6, MAX_C))


def fit_logistic(x: np.ndarray, scores: np.ndarray, c: float) -> Logistic:
    """A logistic map of training embeddings ``x`` and their (n, M) scores in [0, 1] (NaN: unscored).

    Each model minimises its cross-entropy against the scores as soft labels (a proper scoring
    rule, so the fit is calibrated: with the bias unpenalised, the mean predicted probability over
    the rows a model is scored on equals its mean score) plus ``|w|^2 / (2 c)``; all models at once
    by L-BFGS (deterministic). A model scored one way only (or never) gets zero weights and the
    clipped logit of its mean score.
    """
    from scipy.optimize import minimize

    xs = unit(np.asarray(x, dtype=np.float64))
    s = np.asarray(scores, dtype=np.float64)
    have = ~np.isnan(s)
    y = np.where(have, s, 0.0)
    n_rows = np.maximum(have.sum(axis=0), 1)
    n, dim = xs.shape
    m = s.shape[1]
    mean = y.sum(axis=0) / n_rows
    free = np.array([(s[have[:, j], j].min() < s[have[:, j], j].max()) if have[:, j].any() else False
                     for j in range(m)])

    def loss(theta: np.ndarray) -> tuple[float, np.ndarray]:
        w, b = theta[: m * dim].reshape(m, dim), theta[m * dim :]
        z = xs @ w.T + b
        p = 1.0 / (1.0 + np.exp(-z))
        # per model the mean over its scored rows, so the penalty's weight does not depend on the row count
        per = np.where(have, np.logaddexp(0.0, z) - y * z, 0.0).sum(axis=0) / n_rows
        g = np.where(have, p - y, 0.0) / n_rows
        gw = g.T @ xs + w / (c * n_rows[:, None])
        value = float(per.sum() + ((w * w).sum(axis=1) / (2 * c * n_rows)).sum())
        gw[~free] = 0.0
        gb = g.sum(axis=0)
        gb[~free] = 0.0
        return value, np.concatenate([gw.ravel(), gb])

    logit = np.log(np.clip(mean, 1e-6, 1 - 1e-6) / np.clip(1 - mean, 1e-6, 1 - 1e-6))
    start = np.concatenate([np.zeros(m * dim), np.where(free, logit, 0.0)])
    theta = minimize(loss, start, jac=True, method="L-BFGS-B", options={"maxiter": 500, "gtol": 1e-7}).x
    weights = np.where(free[:, None], theta[: m * dim].reshape(m, dim), 0.0)
    bias = np.where(free, theta[m * dim :], np.clip(logit, -MAX_LOGIT, MAX_LOGIT))
    return Logistic(weights, bias, float(c))
