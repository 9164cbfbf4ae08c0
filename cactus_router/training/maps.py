"""``train --method``: the learned maps' cross-validated areas beside the cluster rule's, over the
same folds and lambdas and through the same Pipeline, and the method they choose."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import numpy as np

from ..errors import ArgumentError
from ..maps import METHODS, Ensemble, KNNPrior, Logistic, Map, fit_knn_prior, fit_logistic
from ..profile import Profile
from .rates import error_rates, fit_kmeans
from .select import SELECTION_LAMBDAS, Selection, candidate_profile, cv_folds, profile_area

#: (k, beta) settings of knn-prior tried by cross-validation.
KNN_PRIOR_GRID = ((20, 10.0), (20, 40.0), (80, 10.0), (80, 40.0))
#: Regularisation C of logistic tried by cross-validation (the candidates of eval's logistic baseline).
LOGISTIC_GRID = (0.1, 1.0, 10.0)
#: The maps from the least to the most to store and score (auto's one-standard-error rule prefers the first).
COST_ORDER = (Logistic.name, KNNPrior.name, Ensemble.name)


@dataclass(frozen=True)
class Setting:
    """One map setting cross-validation tries: its method, its key in ``training.map.cv_area``, and
    how it is fitted on (embeddings, scores) with a seed."""

    method: str
    key: str
    fit: Callable[[np.ndarray, np.ndarray, int], Map]


def knn_prior_setting(k: int, beta: float) -> Setting:
    return Setting(KNNPrior.name, f"{KNNPrior.name}(k={k},beta={beta:g})",
                   lambda x, s, seed: fit_knn_prior(x, s, k, beta, seed))


def logistic_setting(c: float) -> Setting:
    return Setting(Logistic.name, f"{Logistic.name}(C={c:g})", lambda x, s, seed: fit_logistic(x, s, c))


def ensemble_setting(logistic: Setting, knn: Setting) -> Setting:
    return Setting(Ensemble.name, f"{Ensemble.name}(cluster,{logistic.key},{knn.key})",
                   lambda x, s, seed: _ensemble(logistic.fit(x, s, seed), knn.fit(x, s, seed)))


def _ensemble(logistic: Map, knn: Map) -> Ensemble:
    assert isinstance(logistic, Logistic) and isinstance(knn, KNNPrior)
    return Ensemble(logistic, knn)


@dataclass(frozen=True)
class MapChoice:
    """The method cross-validation chose (``"cluster"``: no map), its setting (None: no map), and the
    evidence: each candidate's mean area, and for ``auto`` the standard error of the best one's."""

    method: str
    setting: Setting | None
    areas: dict[str, float]
    standard_error: float | None = None


def check_method(method: str) -> None:
    if method not in METHODS:
        raise ArgumentError(f"method must be one of {', '.join(METHODS)}, got {method!r}")


def choose_map(embeddings: np.ndarray, scores: np.ndarray, costs: np.ndarray, sel: Selection, method: str, *,
               seed: int, folds: int) -> MapChoice:
    """The cluster rule's area (the chosen K, smoothing, temperature) and each map setting's, as the
    mean deferral area over the folds ``select`` used.

    ``knn-prior`` and ``logistic`` keep their best setting; ``ensemble`` combines those two bests
    with the cluster rule and is cross-validated on the same folds (its members' fold maps reused);
    ``cluster`` no map. ``auto`` takes the one-standard-error rule: of the cluster rule and each
    method's best setting, in the order of what they cost to store and score (the cluster rule,
    logistic, knn-prior, the ensemble), the first whose mean area is within one standard error
    (over the folds) of the best mean area. A map has to beat the rule by more than the folds
    disagree.
    """
    cluster_key = f"k={sel.k},smoothing={sel.smoothing:g},temperature={sel.temperature:g}"
    areas = {"cluster": sel.areas.get(cluster_key, float("nan"))}
    if method == "cluster":
        return MapChoice("cluster", None, areas)
    grids = {KNNPrior.name: [knn_prior_setting(k, b) for k, b in KNN_PRIOR_GRID],
             Logistic.name: [logistic_setting(c) for c in LOGISTIC_GRID]}
    needed = [*grids] if method in ("auto", Ensemble.name) else [method]
    splits: list[tuple[np.ndarray, np.ndarray, Profile]] = []
    for fit, val in cv_folds(len(embeddings), folds, seed):
        val = val[~np.isnan(scores[val]).any(axis=1)]
        cent, labels = fit_kmeans(embeddings[fit], sel.k, seed)
        rates, _ = error_rates(labels, scores[fit], sel.k, sel.smoothing)
        splits.append((fit, val, candidate_profile(cent, rates, costs, sel.temperature)))
    folds_of: dict[str, list[float]] = {}
    fold_maps: dict[str, list[Map]] = {}
    for setting in (s for name in needed for s in grids[name]):
        fold_maps[setting.key] = [setting.fit(embeddings[fit], scores[fit], seed) for fit, _, _ in splits]
        folds_of[setting.key] = _areas(fold_maps[setting.key], splits, embeddings, scores, costs)
    totals = {key: float(np.mean(a)) for key, a in folds_of.items()}
    best = {name: _best(grids[name], totals) for name in needed}
    tried = [s for name in needed for s in grids[name]]
    if method in ("auto", Ensemble.name):
        ens = ensemble_setting(best[Logistic.name], best[KNNPrior.name])
        members = zip(fold_maps[best[Logistic.name].key], fold_maps[best[KNNPrior.name].key])
        folds_of[ens.key] = _areas([_ensemble(lr, kp) for lr, kp in members], splits, embeddings, scores, costs)
        totals[ens.key] = float(np.mean(folds_of[ens.key]))
        best[Ensemble.name] = ens
        tried.append(ens)
    areas.update({s.key: round(totals[s.key], 6) for s in tried})
    if method != "auto":
        return MapChoice(method, best[method], areas)
    folds_of["cluster"] = _areas([None] * len(splits), splits, embeddings, scores, costs)
    key, se = one_standard_error(folds_of, ["cluster", *(best[name].key for name in COST_ORDER)])
    chosen = {t.key: t for t in tried}.get(key)
    return MapChoice("cluster" if chosen is None else chosen.method, chosen, areas, round(se, 6))


def one_standard_error(folds_of: dict[str, list[float]], order: Sequence[str]) -> tuple[str, float]:
    """The first of ``order`` whose mean area is within one standard error of the best mean (the
    best's fold-to-fold standard deviation over the square root of the folds), and that error."""
    means = {key: float(np.mean(a)) for key, a in folds_of.items()}
    top = max(means, key=lambda key: means[key])
    n = len(folds_of[top])
    se = float(np.std(folds_of[top], ddof=1) / np.sqrt(n)) if n > 1 else 0.0
    return next((k for k in order if means[k] >= means[top] - se), top), se


def _best(settings: list[Setting], totals: dict[str, float]) -> Setting:
    """The setting of largest area at 4 decimals (ties: the earlier)."""
    return max(settings, key=lambda s: (round(totals[s.key], 4), -settings.index(s)))


def _areas(maps: Sequence[Map | None], splits: list[tuple[np.ndarray, np.ndarray, Profile]], embeddings: np.ndarray,
           scores: np.ndarray, costs: np.ndarray) -> list[float]:
    """Per fold, the area of the fold's cluster rule with its fold's map (None: the rule alone)."""
    return [profile_area(replace(base, map=m), embeddings[val], scores[val], costs, SELECTION_LAMBDAS)
            for m, (_, val, base) in zip(maps, splits)]
