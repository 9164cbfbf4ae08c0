"""Training a profile: embed labelled prompts, cluster them, estimate per-cluster error rates."""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from .data import RoutingRow, score_matrix
from .embedders import DEFAULT_EMBEDDER, PROBE_TEXTS, Embedder, get_embedder
from .errors import ArgumentError, RoutingTableError
from .metrics import LAMBDA_GRID, area, choices_curve, cost_matrix
from .profile import EmbedderInfo, ModelInfo, Profile, RoutingDefaults
from .profile.catalog import load_models
from .routing import Pipeline, RouteRequest

#: ``models=TABLE_MODELS``: every model the rows score, costing its mean per-prompt cost in the rows.
TABLE_MODELS = "table"
#: K values tried by ``k="auto"``.
K_CANDIDATES = (2, 4, 8, 12, 16, 24, 32, 48, 64)
EMBED_CHUNK = 256

Progress = Callable[[int, int], None]


def embed_rows(embedder: Embedder, prompts: Sequence[str], progress: Progress | None = None) -> np.ndarray:
    """Embed prompts in chunks, calling ``progress(done, total)`` after each."""
    out = np.empty((len(prompts), embedder.dim), dtype=np.float32)
    for start in range(0, len(prompts), EMBED_CHUNK):
        out[start : start + EMBED_CHUNK] = embedder.embed_many(list(prompts[start : start + EMBED_CHUNK]))
        if progress is not None:
            progress(min(start + EMBED_CHUNK, len(prompts)), len(prompts))
    return out


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
    return [ModelInfo.from_dict({"id": m, "cost": float(np.mean(totals[m]))}, f"mean of the rows' costs ({m})")
            for m in sorted(totals)]


def fit_kmeans(embeddings: np.ndarray, k: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """K-means on L2-normalised embeddings; returns unit centroids (k, D) and labels (n,).

    The labels are the router's assignment (the nearest unit centroid by cosine), not K-means'
    own (nearest raw centroid by Euclidean distance), which differ for a few percent of prompts:
    the error rates must describe the clusters prompts will actually be routed to. K-means runs
    single-threaded so that a seed gives the same result on every machine.
    """
    from sklearn.cluster import KMeans
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):
        km = KMeans(n_clusters=k, n_init=4, random_state=seed).fit(embeddings.astype(np.float64))
    cent = km.cluster_centers_
    cent /= np.maximum(np.linalg.norm(cent, axis=1, keepdims=True), 1e-12)
    cent32 = cent.astype(np.float32)
    return cent32, np.argmax(embeddings @ cent32.T, axis=1).astype(np.int64)


def error_rates(labels: np.ndarray, scores: np.ndarray, k: int, smoothing: float = 0.0
                ) -> tuple[np.ndarray, np.ndarray]:
    """Per-cluster error rates (k, M) and the counts behind them (k, M).

    ``error = 1 - mean score`` over the cluster's rows that score the model. With ``smoothing`` s,
    each rate is shrunk toward the model's global rate as if s extra rows had that rate; a
    cluster with no rows for a model takes the global rate (never an invented 0.5).
    """
    m = scores.shape[1]
    have = ~np.isnan(scores)
    err = np.where(have, 1.0 - np.nan_to_num(scores), 0.0)
    counts = np.zeros((k, m), dtype=np.int64)
    sums = np.zeros((k, m))
    np.add.at(counts, labels, have.astype(np.int64))
    np.add.at(sums, labels, err)
    glob = err.sum(axis=0) / np.maximum(have.sum(axis=0), 1)
    rates = (sums + smoothing * glob) / np.maximum(counts + smoothing, 1e-12)
    rates = np.where(counts + smoothing > 0, rates, glob)
    return np.clip(rates, 0.0, 1.0), counts


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
    pipeline = Pipeline(candidate_profile(centroids, rates, costs, temperature))
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


def _folds(n: int, folds: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    order = np.random.default_rng(seed).permutation(n)
    parts = np.array_split(order, folds)
    return [(np.concatenate(parts[:i] + parts[i + 1 :]), parts[i]) for i in range(folds)]


def select(embeddings: np.ndarray, scores: np.ndarray, costs: np.ndarray, *, seed: int,
           ks: Sequence[int], smoothings: Sequence[float], temperatures: Sequence[float], folds: int = 3) -> Selection:
    """Choose K, smoothing and temperature by mean deferral area over cross-validation folds.

    Each fold fits K-means and the error rates on the other folds and measures the area on its
    own rows (those that score every model). Ties go to the smaller K, temperature and smoothing.
    The out-of-distribution threshold is the OOD_QUANTILE of held-out prompts' best similarity
    under the chosen K.
    """
    splits = _folds(len(embeddings), folds, seed)
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

    ``"auto"`` settings are chosen together by the mean area under the deferral curve over
    ``folds`` cross-validation folds of ``rows`` (never on test data).

    Raises:
        RoutingTableError: no rows, a model no row scores, K larger than the rows, or (with
            ``models="table"``) a model no row gives a cost for.
    """
    rows = list(rows)
    if not rows:
        raise RoutingTableError("no training rows")
    specs = table_models(rows) if isinstance(models, str) and models == TABLE_MODELS else load_models(models)
    left_out: list[str] = []
    if isinstance(models, str) and models == "cactus":
        # The catalog is a menu: train the models the table scores and say which were left out.
        scored = {m for r in rows for m in r.scores}
        left_out = [s.id for s in specs if s.id not in scored]
        specs = [s for s in specs if s.id in scored]
        if not specs:
            raise RoutingTableError(f"the table scores none of the Cactus catalog's models (it scores "
                                    f"{', '.join(sorted(scored)[:5])}); use --models table or a model list")
    ids = [s.id for s in specs]
    scores = score_matrix(rows, ids)
    unscored = [m for m, n in zip(ids, (~np.isnan(scores)).sum(axis=0)) if n == 0]
    if unscored:
        raise RoutingTableError(f"no training row scores model(s) {', '.join(unscored)}; label them or drop them")
    if k != "auto" and (isinstance(k, bool) or not isinstance(k, int) or k < 1):
        raise ArgumentError(f"k must be a positive int or 'auto', got {k!r}")
    if isinstance(k, int) and k > len(rows):
        raise RoutingTableError(f"k={k} is more than the {len(rows)} training rows")
    smoothing = _auto_or(smoothing, "smoothing", 0.0, 1e6)
    temperature = _auto_or(temperature, "temperature", 0.0, 10.0)
    if not isinstance(folds, int) or isinstance(folds, bool) or folds < 2:
        raise ArgumentError(f"folds must be an int >= 2, got {folds!r}")
    emb = get_embedder(embedder)
    vectors = embed_rows(emb, [r.prompt for r in rows], progress)
    costs = np.array([s.cost for s in specs])
    sel = select(
        vectors, scores, costs, seed=seed, folds=folds,
        ks=[kk for kk in K_CANDIDATES if kk <= len(rows)] if isinstance(k, str) else [k],
        smoothings=SMOOTHING_CANDIDATES if isinstance(smoothing, str) else [smoothing],
        temperatures=TEMPERATURE_CANDIDATES if isinstance(temperature, str) else [temperature],
    )
    centroids, labels = fit_kmeans(vectors, sel.k, seed)
    rates, counts = error_rates(labels, scores, sel.k, sel.smoothing)
    tasks = [r.task for r in rows]
    cluster_tasks = None
    if any(tasks):
        cluster_tasks = tuple(
            dict(sorted(Counter(t for t, lab in zip(tasks, labels) if lab == c and t).items())) for c in range(sel.k)
        )
    facts: dict[str, Any] = {
        "rows": len(rows),
        "k": sel.k,
        "smoothing": sel.smoothing,
        "temperature": sel.temperature,
        "selection": {"method": f"mean deferral area over {folds}-fold cross-validation of the training rows",
                      "auto": [n for n, v in (("k", k), ("smoothing", smoothing), ("temperature", temperature))
                               if v == "auto"]},
        "seed": seed,
        "ood_quantile": OOD_QUANTILE,
        "tasks": sorted({t for t in tasks if t}),
    }
    if left_out:
        facts["catalog_models_left_out"] = left_out
    if len(sel.areas) > 1:
        facts["cv_area"] = sel.areas
    facts.update(provenance or {})
    return Profile(
        embedder=EmbedderInfo(emb.name, emb.dim, emb.fingerprint, PROBE_TEXTS, emb.probe_embeddings()),
        centroids=centroids,
        cluster_sizes=np.bincount(labels, minlength=sel.k).astype(np.int64),
        models=tuple(
            ModelInfo(
                id=s.id, cost=s.cost, error_rates=rates[:, j], counts=counts[:, j], size_mb=s.size_mb,
                tokens_per_sec=s.tokens_per_sec, context_length=s.context_length, capabilities=s.capabilities,
            )
            for j, s in enumerate(specs)
        ),
        routing=replace(routing, temperature=sel.temperature, ood_threshold=round(sel.ood_threshold, 6)),
        training=facts,
        cluster_tasks=cluster_tasks,
    )
