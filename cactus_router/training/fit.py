"""``train``: a v1 profile from labelled prompts, in named steps."""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import numpy as np

from ..data import RoutingRow, score_matrix
from ..embedders import DEFAULT_EMBEDDER, PROBE_TEXTS, Embedder, get_embedder
from ..errors import ArgumentError, RoutingTableError
from ..profile import EmbedderInfo, ModelInfo, Profile, RoutingDefaults, TierCounts
from ..profile.catalog import load_models, model_from_dict
from ..tiers import check_tier
from .maps import check_method, choose_map
from .ood import MODES, choose_ood
from .rates import Progress, embed_rows, error_rates, fit_kmeans, tier_counts
from .select import K_CANDIDATES, OOD_QUANTILE, SMOOTHING_CANDIDATES, TEMPERATURE_CANDIDATES, Selection, select

#: ``models=TABLE_MODELS``: every model the rows score, costing its mean per-prompt cost in the rows.
TABLE_MODELS = "table"


def table_models(rows: Sequence[RoutingRow]) -> list[ModelInfo]:
    """Every model the rows score, in id order, costing its mean over the rows' per-prompt ``costs``.

    Raises:
        RoutingTableError: a scored model for which no row gives a cost.
    """
    totals: dict[str, list[float]] = {m: [] for r in rows for m in r.scores}
    for r in rows:
        for m, c in (r.costs or {}).items():
            if m in totals:
                totals[m].append(c)
    bare = sorted(m for m, cs in totals.items() if not cs)
    if bare:
        raise RoutingTableError(f"models={TABLE_MODELS!r} takes each model's cost from the rows' 'costs', and no row "
                                f"gives one for {', '.join(map(repr, bare))}; add costs, or pass a model list")
    return [model_from_dict({"id": m, "cost": float(np.mean(totals[m]))}, f"mean of the rows' costs ({m})")
            for m in sorted(totals)]


def _auto_or(value: Any, name: str, lo: float, hi: float) -> Any:
    if value == "auto":
        return value
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not lo <= value <= hi:
        raise ArgumentError(f"{name} must be 'auto' or a number in [{lo:g}, {hi:g}], got {value!r}")
    return value


def train(
    rows: Sequence[RoutingRow],
    models: str | os.PathLike[str] | Sequence[Any] = "cactus",
    *,
    embedder: str | Embedder = DEFAULT_EMBEDDER,
    k: int | str = "auto",
    smoothing: float | str = "auto",
    temperature: float | str = "auto",
    seed: int = 0,
    folds: int = 3,
    routing: RoutingDefaults = RoutingDefaults(),
    progress: Progress | None = None,
    provenance: dict[str, Any] | None = None,
    tiers: Sequence[str | None] | None = None,
    ood: str = "auto",
    method: str = "auto",
) -> Profile:
    """Build a v1 profile from labelled prompts. Deterministic for a given seed.

    Args:
        rows: labelled prompts (see ``cactus_router.data.read_table``).
        models: ``"cactus"`` (the catalog models the rows score; the others are listed in the
            profile's ``training.catalog_models_left_out``), ``"table"`` (every model the rows score, costing its
            mean per-prompt cost in the rows), a JSON model-list path, or a list of
            ModelInfo/dicts. Every model must be scored by at least one row.
        embedder: an Embedder or a name (see ``cactus_router.embedders.NAMES``).
        k: number of clusters, or ``"auto"``.
        smoothing: pseudo-rows shrinking each cluster's rate toward the model's global rate (a Beta
            prior with the counts as evidence), or ``"auto"``.
        temperature: soft-assignment temperature (0 = hard), or ``"auto"``.
        seed: seeds K-means and the cross-validation folds.
        folds: cross-validation folds for the ``"auto"`` settings and the OOD threshold.
        routing: lambda range, default cost_bias and fallback; temperature and the OOD threshold
            are filled in by training.
        progress: called as ``progress(done, total)`` while embedding.
        provenance: free-form facts stored under the profile's ``training`` key.
        tiers: each row's tier (``cactus_router.tiers``; None: unlabelled), stored as per-cluster
            tier counts with the chosen smoothing (docs/tiers.md); None: no tier counts.
        ood: the out-of-distribution checks (``training/ood.py``): ``"centroid"`` (the
            similarity threshold), ``"topic"`` (``cactus_router.ood.TopicDetector`` instead),
            ``"auto"`` (the topic check when it detects held-out tasks better, leave tasks out on
            ``rows``), ``"none"``; all but ``"none"`` add the script check for a MiniLM embedder.
        method: the map from embedding to predicted error (``cactus_router.maps``): ``"cluster"``
            (the cluster rates), ``"knn-prior"``, ``"logistic"`` or ``"ensemble"`` (that map at its
            best setting by cross-validation, stored as the profile's ``map``), ``"auto"`` (the
            one-standard-error rule over the cross-validated areas: the cluster rule, else the
            cheapest map within one standard error of the best); the choice is recorded in
            ``training.map``.

    ``"auto"`` settings are chosen together by the mean area under the deferral curve over
    ``folds`` cross-validation folds of ``rows`` (never on test data).

    Raises:
        RoutingTableError: no rows, a model no row scores, K larger than the rows, (with
            ``models="table"``) a model no row gives a cost for, or tiers that are not one per row.
    """
    rows = list(rows)
    if not rows:
        raise RoutingTableError("no training rows")
    if ood not in MODES:
        raise ArgumentError(f"ood must be one of {', '.join(MODES)}, got {ood!r}")
    check_method(method)
    _check_tiers(tiers, len(rows))
    specs, left_out = _models(rows, models)
    scores = score_matrix(rows, [s.id for s in specs])
    _check_settings(scores, [s.id for s in specs], len(rows), k, folds)
    smoothing = _auto_or(smoothing, "smoothing", 0.0, 1e6)
    temperature = _auto_or(temperature, "temperature", 0.0, 10.0)
    emb = get_embedder(embedder)
    vectors = embed_rows(emb, [r.prompt for r in rows], progress)
    costs = np.array([s.cost for s in specs])
    sel = select(
        vectors, scores, costs, seed=seed, folds=folds,
        ks=[kk for kk in K_CANDIDATES if kk <= len(rows)] if isinstance(k, str) else [k],
        smoothings=SMOOTHING_CANDIDATES if isinstance(smoothing, str) else [smoothing],
        temperatures=TEMPERATURE_CANDIDATES if isinstance(temperature, str) else [temperature],
    )
    chosen = choose_map(vectors, scores, costs, sel, method, seed=seed, folds=folds)
    centroids, labels = fit_kmeans(vectors, sel.k, seed)
    rates, counts = error_rates(labels, scores, sel.k, sel.smoothing)
    tasks = [r.task for r in rows]
    checks = choose_ood(vectors, tasks, ood, k=sel.k, seed=seed, embedder=emb.name)
    auto = [n for n, v in (("k", k), ("smoothing", smoothing), ("temperature", temperature)) if v == "auto"]
    facts = _facts(len(rows), sel, folds, seed, auto, tasks, left_out, provenance)
    facts["ood"] = {**checks.facts, **({"similarity_threshold": round(sel.ood_threshold, 6)} if ood != "none" else {})}
    if method != "cluster":
        facts["map"] = {"method": chosen.method, "requested": method, "cv_area": chosen.areas,
                        **({} if chosen.standard_error is None else {"standard_error": chosen.standard_error})}
    threshold = round(sel.ood_threshold, 6) if checks.similarity_threshold else None
    return Profile(
        embedder=EmbedderInfo(emb.name, emb.dim, emb.fingerprint, PROBE_TEXTS, emb.probe_embeddings()),
        centroids=centroids,
        cluster_sizes=np.bincount(labels, minlength=sel.k).astype(np.int64),
        models=tuple(replace(s, error_rates=rates[:, j], counts=counts[:, j]) for j, s in enumerate(specs)),
        routing=replace(routing, temperature=sel.temperature, ood_threshold=threshold),
        training=facts,
        cluster_tasks=_cluster_tasks(tasks, labels, sel.k),
        tiers=None if tiers is None else TierCounts(tier_counts(labels, tiers, sel.k), sel.smoothing),
        ood=checks.checks,
        map=None if chosen.setting is None else chosen.setting.fit(vectors, scores, seed),
    )


def _check_tiers(tiers: Sequence[str | None] | None, n_rows: int) -> None:
    if tiers is None:
        return
    if len(tiers) != n_rows:
        raise RoutingTableError(f"{len(tiers)} tier labels for {n_rows} training rows; give one per row (None: none)")
    for i, t in enumerate(tiers):
        if t is not None:
            check_tier(t, f"tiers[{i}]", RoutingTableError)
    if all(t is None for t in tiers):
        raise RoutingTableError("no training row has a tier label")


def _models(rows: Sequence[RoutingRow], models: str | os.PathLike[str] | Sequence[Any]
            ) -> tuple[list[ModelInfo], list[str]]:
    """The models to train for, and the catalog models left out (no row scores them)."""
    specs = table_models(rows) if isinstance(models, str) and models == TABLE_MODELS else load_models(models)
    if not (isinstance(models, str) and models == "cactus"):
        return specs, []
    # The catalog is a menu: train the models the table scores and say which were left out.
    scored = {m for r in rows for m in r.scores}
    kept = [s for s in specs if s.id in scored]
    if not kept:
        raise RoutingTableError(f"the table scores none of the Cactus catalog's models (it scores "
                                f"{', '.join(sorted(scored)[:5])}); use --models table or a model list")
    return kept, [s.id for s in specs if s.id not in scored]


def _check_settings(scores: np.ndarray, ids: list[str], n_rows: int, k: int | str, folds: int) -> None:
    unscored = [m for m, n in zip(ids, (~np.isnan(scores)).sum(axis=0)) if n == 0]
    if unscored:
        raise RoutingTableError(f"no training row scores model(s) {', '.join(unscored)}; label them or drop them")
    if k != "auto" and (isinstance(k, bool) or not isinstance(k, int) or k < 1):
        raise ArgumentError(f"k must be a positive int or 'auto', got {k!r}")
    if isinstance(k, int) and k > n_rows:
        raise RoutingTableError(f"k={k} is more than the {n_rows} training rows")
    if not isinstance(folds, int) or isinstance(folds, bool) or folds < 2:
        raise ArgumentError(f"folds must be an int >= 2, got {folds!r}")


def _cluster_tasks(tasks: list[str | None], labels: np.ndarray, k: int) -> tuple[dict[str, int], ...] | None:
    """Per cluster, how many training prompts of each task it holds (None without tasks)."""
    if not any(tasks):
        return None
    return tuple(dict(sorted(Counter(t for t, lab in zip(tasks, labels) if lab == c and t).items())) for c in range(k))


def _facts(n_rows: int, sel: Selection, folds: int, seed: int, auto: list[str], tasks: list[str | None],
           left_out: list[str], provenance: dict[str, Any] | None) -> dict[str, Any]:
    """The provenance a profile records under ``training``."""
    facts: dict[str, Any] = {
        "rows": n_rows,
        "k": sel.k,
        "smoothing": sel.smoothing,
        "temperature": sel.temperature,
        "selection": {"method": f"mean deferral area over {folds}-fold cross-validation of the training rows",
                      "auto": auto},
        "seed": seed,
        "ood_quantile": OOD_QUANTILE,
        "tasks": sorted({t for t in tasks if t}),
    }
    if left_out:
        facts["catalog_models_left_out"] = left_out
    if len(sel.areas) > 1:
        facts["cv_area"] = sel.areas
    facts.update(provenance or {})
    return facts
