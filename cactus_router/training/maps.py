"""``train --method``: the learned maps' cross-validated areas beside the cluster rule's, over the
same folds and lambdas and through the same Pipeline, and the method they choose."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from ..errors import ArgumentError
from ..maps import METHODS, KNNPrior, fit_knn_prior
from .rates import error_rates, fit_kmeans
from .select import SELECTION_LAMBDAS, Selection, candidate_profile, cv_folds, profile_area

#: (k, beta) settings of knn-prior tried by cross-validation.
KNN_PRIOR_GRID = ((20, 10.0), (20, 40.0), (80, 10.0), (80, 40.0))


@dataclass(frozen=True)
class MapChoice:
    """The method cross-validation chose (``"cluster"``: no map), its setting, and the evidence."""

    method: str
    setting: tuple[int, float] | None
    areas: dict[str, float]


def check_method(method: str) -> None:
    if method not in METHODS:
        raise ArgumentError(f"method must be one of {', '.join(METHODS)}, got {method!r}")


def choose_map(embeddings: np.ndarray, scores: np.ndarray, costs: np.ndarray, sel: Selection, method: str, *,
               seed: int, folds: int) -> MapChoice:
    """The cluster rule's area (the chosen K, smoothing, temperature) and each knn-prior setting's,
    as the mean deferral area over the folds ``select`` used; ``auto`` keeps the best (ties: the
    cluster rule), ``knn-prior`` the best knn-prior setting, ``cluster`` no map."""
    cluster_key = f"k={sel.k},smoothing={sel.smoothing:g},temperature={sel.temperature:g}"
    areas = {"cluster": sel.areas.get(cluster_key, float("nan"))}
    if method == "cluster":
        return MapChoice("cluster", None, areas)
    totals = dict.fromkeys(KNN_PRIOR_GRID, 0.0)
    for fit, val in cv_folds(len(embeddings), folds, seed):
        val = val[~np.isnan(scores[val]).any(axis=1)]
        cent, labels = fit_kmeans(embeddings[fit], sel.k, seed)
        rates, _ = error_rates(labels, scores[fit], sel.k, sel.smoothing)
        base = candidate_profile(cent, rates, costs, sel.temperature)
        for k, beta in KNN_PRIOR_GRID:
            m = fit_knn_prior(embeddings[fit], scores[fit], k, beta, seed)
            mapped = replace(base, map=m)
            totals[(k, beta)] += profile_area(mapped, embeddings[val], scores[val], costs, SELECTION_LAMBDAS) / folds
    areas.update({f"{KNNPrior.name}(k={k},beta={b:g})": round(a, 6) for (k, b), a in totals.items()})
    best = max(KNN_PRIOR_GRID, key=lambda s: (round(totals[s], 4), -KNN_PRIOR_GRID.index(s)))
    if method == "auto" and not round(totals[best], 4) > round(areas["cluster"], 4):
        return MapChoice("cluster", None, areas)
    return MapChoice(KNNPrior.name, best, areas)

