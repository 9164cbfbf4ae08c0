"""Choosing K, smoothing and temperature by cross-validated deferral area, routed through the
same Pipeline as ``Router.route``."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..errors import RoutingTableError
from ..metrics import LAMBDA_GRID, area, choices_curve, cost_matrix
from ..profile import EmbedderInfo, ModelInfo, Profile, RoutingDefaults
from ..routing import Pipeline, RouteRequest
from .rates import error_rates, fit_kmeans

#: K values tried by ``k="auto"``.
K_CANDIDATES = (2, 4, 8, 12, 16, 24, 32, 48, 64)
#: Candidates tried by the "auto" settings, and the lambda grid used while choosing among them.
SMOOTHING_CANDIDATES = (0.0, 2.0, 5.0, 20.0)
TEMPERATURE_CANDIDATES = (0.0, 0.02, 0.05, 0.1)
SELECTION_LAMBDAS = LAMBDA_GRID[::3]
#: Quantile of held-out prompts' best cluster similarity below which a prompt is out of distribution.
OOD_QUANTILE = 0.01


def candidate_profile(centroids: np.ndarray, rates: np.ndarray, costs: np.ndarray, temperature: float) -> Profile:
    """A provisional profile of a setting being cross-validated (no embedder fingerprint)."""
    k, m = rates.shape
    zeros = np.zeros(k, dtype=np.int64)
    models = tuple(ModelInfo(id=f"m{j}", cost=float(costs[j]), error_rates=rates[:, j], counts=zeros)
                   for j in range(m))
    return Profile(EmbedderInfo("candidate", centroids.shape[1]), centroids, zeros, models,
                   routing=RoutingDefaults(temperature=temperature))


def deferral_area(centroids: np.ndarray, rates: np.ndarray, costs: np.ndarray, embeddings: np.ndarray,
                  scores: np.ndarray, temperature: float = 0.0, lambdas: np.ndarray = LAMBDA_GRID) -> float:
    """Area under the deferral curve of the cluster rule on labelled rows (scores complete),
    routed through the same Pipeline as ``Router.route`` (its policies included)."""
    return profile_area(candidate_profile(centroids, rates, costs, temperature), embeddings, scores, costs, lambdas)


def profile_area(profile: Profile, embeddings: np.ndarray, scores: np.ndarray, costs: np.ndarray,
                 lambdas: np.ndarray = LAMBDA_GRID) -> float:
    """Area under the deferral curve of ``profile`` on labelled rows (scores complete), routed
    through the same Pipeline as ``Router.route``."""
    pipeline = Pipeline(profile)
    vecs = np.ascontiguousarray(embeddings, dtype=np.float32)
    request = RouteRequest()
    choices = [pipeline.decide_many(vecs, request, lam=float(lam)).model_index for lam in lambdas]
    return area(choices_curve(choices, scores, cost_matrix(len(scores), costs)))


@dataclass(frozen=True)
class Selection:
    """What cross-validation chose, and the evidence."""

    k: int
    smoothing: float
    temperature: float
    ood_threshold: float
    areas: dict[str, float]


def cv_folds(n: int, count: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """``count`` (fit rows, held-out rows) splits of n rows, shuffled by ``seed``."""
    order = np.random.default_rng(seed).permutation(n)
    parts = np.array_split(order, count)
    return [(np.concatenate(parts[:i] + parts[i + 1 :]), parts[i]) for i in range(count)]


def select(embeddings: np.ndarray, scores: np.ndarray, costs: np.ndarray, *, seed: int,
           ks: Sequence[int], smoothings: Sequence[float], temperatures: Sequence[float], folds: int = 3) -> Selection:
    """Choose K, smoothing and temperature by mean deferral area over cross-validation folds.

    Each fold fits K-means and the error rates on the other folds and measures the area on its
    own rows (those that score every model). Ties go to the smaller K, temperature and smoothing.
    The out-of-distribution threshold is the OOD_QUANTILE of held-out prompts' best similarity
    under the chosen K.
    """
    splits = cv_folds(len(embeddings), folds, seed)
    totals: dict[tuple[int, float, float], float] = {}
    held_sims: dict[int, list[np.ndarray]] = {}
    for fit, val in splits:
        val = val[~np.isnan(scores[val]).any(axis=1)]
        if len(val) == 0:
            raise RoutingTableError("automatic selection needs rows that score every model")
        for k in ks:
            if k > len(fit):
                continue
            cent, labels = fit_kmeans(embeddings[fit], k, seed)
            held_sims.setdefault(k, []).append((embeddings[val] @ cent.T).max(axis=1))
            for s in smoothings:
                rates, _ = error_rates(labels, scores[fit], k, s)
                for t in temperatures:
                    a = deferral_area(cent, rates, costs, embeddings[val], scores[val], t, SELECTION_LAMBDAS)
                    totals[(k, s, t)] = totals.get((k, s, t), 0.0) + a / folds
    if not totals:
        raise RoutingTableError(f"too few rows for K in {list(ks)}")
    best = max(totals, key=lambda key: (round(totals[key], 4), -key[0], -key[2], -key[1]))
    threshold = float(np.quantile(np.concatenate(held_sims[best[0]]), OOD_QUANTILE))
    return Selection(best[0], best[1], best[2], threshold,
                     {f"k={k},smoothing={s:g},temperature={t:g}": round(a, 6) for (k, s, t), a in totals.items()})


