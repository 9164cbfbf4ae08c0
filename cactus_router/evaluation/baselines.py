"""Learned routers of the literature, as baselines: k nearest neighbours and per-model logistic regression.

Both predict every model's quality on a prompt from its embedding; a router then picks
``argmax(predicted quality - lambda * normalised cost)``, the same trade-off the cluster rule
makes with ``error_rate + lambda * normalised cost``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol

import numpy as np

from ..embedders import l2_normalise
from ..errors import ArgumentError
from ..metrics import LAMBDA_GRID, area, choices_curve, cost_matrix

#: Hyper-parameter candidates tried on a validation split of the training rows.
KNN_K_CANDIDATES = (5, 10, 20, 40, 80, 160, 320)
LOGISTIC_C_CANDIDATES = (0.1, 1.0, 10.0)


class QualityModel(Protocol):
    """Predicts each model's score in [0, 1] for each embedding."""

    name: str

    def predict(self, embeddings: np.ndarray) -> np.ndarray: ...


def normalised_costs(costs: np.ndarray) -> np.ndarray:
    """Min-max normalised model costs, as the C core computes them over all models."""
    c = np.asarray(costs, dtype=np.float64)
    span = c.max() - c.min()
    return (c - c.min()) / span if span > 0 else np.zeros_like(c)


def pick(quality: np.ndarray, costs: np.ndarray, lam: float) -> np.ndarray:
    """The model index per row minimising ``(1 - quality) + lam * normalised cost``.

    Ties go to the cheaper model, then to the lower index (the C core's rule).
    """
    order = np.lexsort((np.arange(len(costs)), costs))  # cheapest first, then model order
    score = (1.0 - quality[:, order]) + lam * normalised_costs(costs)[order]
    return np.asarray(order[np.argmin(score, axis=1)])


def _column_means(scores: np.ndarray) -> np.ndarray:
    have = ~np.isnan(scores)
    return np.asarray(np.nansum(scores, axis=0) / np.maximum(have.sum(axis=0), 1))


class KNNRouter:
    """Predicts a model's score as its mean score over the k most similar training prompts (cosine)."""

    name = "knn"

    def __init__(self, k: int = 10) -> None:
        self.k = k

    def fit(self, embeddings: np.ndarray, scores: np.ndarray) -> KNNRouter:
        """Store the unit training embeddings and their (n, M) scores (NaN = unscored)."""
        if not 1 <= self.k:
            raise ArgumentError(f"k must be >= 1, got {self.k}")
        self.embeddings_ = l2_normalise(embeddings)
        self.scores_ = np.asarray(scores, dtype=np.float64)
        self.global_ = _column_means(self.scores_)
        return self

    def predict(self, embeddings: np.ndarray) -> np.ndarray:
        """The (n, M) mean score of each prompt's k nearest training prompts (NaN-aware)."""
        q = l2_normalise(np.atleast_2d(embeddings))
        k = min(self.k, len(self.embeddings_))
        sims = q @ self.embeddings_.T
        near = np.argpartition(-sims, k - 1, axis=1)[:, :k] if k < sims.shape[1] else np.broadcast_to(
            np.arange(sims.shape[1]), sims.shape)
        picked = self.scores_[near]  # (n, k, M)
        have = ~np.isnan(picked)
        counts = have.sum(axis=1)
        sums = np.where(have, picked, 0.0).sum(axis=1)
        return np.where(counts > 0, sums / np.maximum(counts, 1), self.global_)

    def __repr__(self) -> str:
        return f"KNNRouter(k={self.k})"


class LogisticRouter:
    """One L2-regularised logistic regression per model on the embedding, fitted to the score as a soft label.

    A row with score s counts as a success with weight s and a failure with weight 1 - s (the
    cross-entropy with a soft target), so fractional scores need no threshold.
    """

    name = "logistic"

    def __init__(self, c: float = 1.0, seed: int = 0) -> None:
        self.c = c
        self.seed = seed

    def fit(self, embeddings: np.ndarray, scores: np.ndarray) -> LogisticRouter:
        """Fit one model per column of ``scores`` (NaN rows are skipped for that column)."""
        from sklearn.linear_model import LogisticRegression

        x = l2_normalise(embeddings).astype(np.float64)
        m = scores.shape[1]
        self.coef_ = np.zeros((x.shape[1], m))
        self.intercept_ = np.zeros(m)
        for j in range(m):
            have = ~np.isnan(scores[:, j])
            s = scores[have, j]
            if s.size == 0 or s.min() == s.max():
                # one outcome only: a constant predictor (logistic regression needs both classes)
                p = float(s[0]) if s.size else 0.5
                self.intercept_[j] = np.log(max(p, 1e-6) / max(1.0 - p, 1e-6))
                continue
            xs = np.vstack([x[have], x[have]])
            ys = np.concatenate([np.ones(s.size), np.zeros(s.size)])
            ws = np.concatenate([s, 1.0 - s])
            keep = ws > 0
            lr = LogisticRegression(C=self.c, max_iter=1000, random_state=self.seed)
            lr.fit(xs[keep], ys[keep], sample_weight=ws[keep])
            self.coef_[:, j] = lr.coef_[0]
            self.intercept_[j] = lr.intercept_[0]
        return self

    def predict(self, embeddings: np.ndarray) -> np.ndarray:
        """The (n, M) predicted probability that each model answers well."""
        z = l2_normalise(np.atleast_2d(embeddings)).astype(np.float64) @ self.coef_ + self.intercept_
        return 1.0 / (1.0 + np.exp(-z))

    def __repr__(self) -> str:
        return f"LogisticRouter(c={self.c})"


def picks(quality: np.ndarray, costs: np.ndarray, lambdas: Sequence[float] = tuple(LAMBDA_GRID)) -> list[np.ndarray]:
    """The choice vector of an (n, M) quality matrix at each lambda: the points of its deferral curve."""
    return [pick(quality, costs, float(lam)) for lam in lambdas]


def sweep(model: QualityModel, embeddings: np.ndarray, costs: np.ndarray,
          lambdas: Sequence[float] = tuple(LAMBDA_GRID)) -> list[np.ndarray]:
    """The choice vector of ``model`` at each lambda (one prediction, many picks)."""
    return picks(model.predict(embeddings), costs, lambdas)


def tune(make: Callable[[float], QualityModel], candidates: Sequence[float], embeddings: np.ndarray,
         scores: np.ndarray, costs: np.ndarray, *, seed: int = 0,
         validation_fraction: float = 0.25) -> tuple[float, dict[float, float]]:
    """Pick a hyper-parameter by deferral-curve area on a seeded validation split of the training rows.

    ``make(value)`` returns an unfitted model with a ``fit(embeddings, scores)`` method. Only
    validation rows that score every model are scored. Ties go to the earlier candidate.
    """
    n = len(embeddings)
    order = np.random.default_rng(seed).permutation(n)
    n_val = max(1, int(round(n * validation_fraction)))
    val, fit = order[:n_val], order[n_val:]
    val = val[~np.isnan(scores[val]).any(axis=1)]
    if len(val) == 0 or len(fit) == 0:
        return candidates[0], {}
    costs_val = cost_matrix(len(val), costs)
    areas: dict[float, float] = {}
    for value in candidates:
        model = make(value).fit(embeddings[fit], scores[fit])  # type: ignore[attr-defined]
        areas[value] = area(choices_curve(sweep(model, embeddings[val], costs), scores[val], costs_val))
    best = max(candidates, key=lambda v: (round(areas[v], 6), -candidates.index(v)))
    return best, areas


def fit_learned(embeddings: np.ndarray, scores: np.ndarray, costs: np.ndarray, *, knn_k: int | None = None,
                logistic_c: float | None = None, seed: int = 0) -> tuple[dict[str, QualityModel], dict[str, Any]]:
    """A kNN and a logistic router fitted on the training rows, and their hyper-parameters.

    A hyper-parameter given as None is first picked by ``tune`` from its candidates; the second
    value holds each one's validation areas (empty for a given one), as the evaluation summary
    reports them.
    """
    if knn_k is None:
        k_best, k_areas = tune(lambda v: KNNRouter(int(v)), KNN_K_CANDIDATES, embeddings, scores, costs, seed=seed)
        knn_k = int(k_best)
    else:
        k_areas = {}
    if logistic_c is None:
        logistic_c, c_areas = tune(lambda v: LogisticRouter(v, seed), LOGISTIC_C_CANDIDATES, embeddings, scores,
                                   costs, seed=seed)
    else:
        c_areas = {}
    models: dict[str, QualityModel] = {"knn": KNNRouter(knn_k).fit(embeddings, scores),
                                       "logistic": LogisticRouter(logistic_c, seed).fit(embeddings, scores)}
    info = {
        "knn": {"k": knn_k, "validation_area_by_k": {str(k): round(a, 6) for k, a in k_areas.items()}},
        "logistic": {"C": logistic_c, "validation_area_by_C": {str(c): round(a, 6) for c, a in c_areas.items()}},
        "selection": "hyper-parameters by deferral-curve area on a seeded 25% validation split of the "
                     "training rows",
    }
    return models, info
