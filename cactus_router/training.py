"""Training a profile: embed labelled prompts, cluster them, estimate per-cluster error rates."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from . import _native
from .catalog import ModelSpec, load_models
from .data import RoutingRow, score_matrix
from .embedders import PROBE_TEXTS, Embedder, get_embedder
from .errors import RoutingTableError
from .metrics import LAMBDA_GRID, area, choices_curve, cost_matrix
from .profile import EmbedderInfo, ModelInfo, Profile, RoutingDefaults

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


def fit_kmeans(embeddings: np.ndarray, k: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """K-means on L2-normalised embeddings; returns unit centroids (k, D) and labels (n,).

    Single-threaded so that the result is the same on every machine for a given seed.
    """
    from sklearn.cluster import KMeans
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):
        km = KMeans(n_clusters=k, n_init=4, random_state=seed).fit(embeddings.astype(np.float64))
    cent = km.cluster_centers_
    cent /= np.maximum(np.linalg.norm(cent, axis=1, keepdims=True), 1e-12)
    return cent.astype(np.float32), km.labels_.astype(np.int64)


def error_rates(labels: np.ndarray, scores: np.ndarray, k: int, smoothing: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
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


def deferral_area(centroids: np.ndarray, rates: np.ndarray, costs: np.ndarray, embeddings: np.ndarray,
                  scores: np.ndarray) -> float:
    """Area under the deferral curve of the cluster rule on labelled rows (scores complete)."""
    index = _native.Index(centroids, rates, costs)
    mask = _native.mask_buffer(None)
    choices = [index.route_batch(embeddings, mask, float(lam))[1][:, 0] for lam in LAMBDA_GRID]
    return area(choices_curve(choices, scores, cost_matrix(len(scores), costs)))


def choose_k(embeddings: np.ndarray, scores: np.ndarray, costs: np.ndarray, *, seed: int, smoothing: float,
             candidates: Sequence[int] = K_CANDIDATES, validation_fraction: float = 0.25) -> tuple[int, dict[int, float]]:
    """Pick K by deferral-curve area on a seeded validation split of the training rows."""
    n = len(embeddings)
    order = np.random.default_rng(seed).permutation(n)
    n_val = max(1, int(round(n * validation_fraction)))
    val, fit = order[:n_val], order[n_val:]
    complete = ~np.isnan(scores[val]).any(axis=1)
    if not complete.any():
        raise RoutingTableError("k='auto' needs validation rows that score every model")
    areas = {}
    for k in candidates:
        if k > len(fit):
            break
        cent, labels = fit_kmeans(embeddings[fit], k, seed)
        rates, _ = error_rates(labels, scores[fit], k, smoothing)
        areas[k] = deferral_area(cent, rates, costs, embeddings[val][complete], scores[val][complete])
    best = max(areas, key=lambda k: (round(areas[k], 6), -k))
    return best, areas


def train(
    rows: Sequence[RoutingRow],
    models: str | os.PathLike[str] | Sequence[Any] = "cactus",
    *,
    embedder: str | Embedder = "minilm",
    k: int | str = 16,
    seed: int = 0,
    smoothing: float = 0.0,
    routing: RoutingDefaults = RoutingDefaults(),
    progress: Progress | None = None,
    provenance: dict[str, Any] | None = None,
) -> Profile:
    """Build a v1 profile from labelled prompts. Deterministic for a given seed.

    Args:
        rows: labelled prompts (see ``cactus_router.data.read_table``).
        models: ``"cactus"`` (the catalog), a JSON model-list path, or a list of ModelSpec/dicts.
            Every model must be scored by at least one row.
        embedder: an Embedder or a name (``"minilm"``, ``"hash"``, ``"cactus:PATH"``).
        k: number of clusters, or ``"auto"`` to pick it by deferral-curve area on a validation
            split of ``rows``.
        seed: seeds K-means and the validation split.
        smoothing: pseudo-rows shrinking each cluster's rate toward the model's global rate.
        routing: the profile's lambda range and default cost_bias.
        progress: called as ``progress(done, total)`` while embedding.
        provenance: free-form facts stored under the profile's ``training`` key.

    Raises:
        RoutingTableError: no rows, a model no row scores, or K larger than the rows.
    """
    rows = list(rows)
    if not rows:
        raise RoutingTableError("no training rows")
    specs: list[ModelSpec] = load_models(models)
    ids = [s.id for s in specs]
    scores = score_matrix(rows, ids)
    unscored = [m for m, n in zip(ids, (~np.isnan(scores)).sum(axis=0)) if n == 0]
    if unscored:
        raise RoutingTableError(f"no training row scores model(s) {', '.join(unscored)}; label them or drop them")
    if smoothing < 0:
        raise ValueError(f"smoothing must be >= 0, got {smoothing}")
    emb = get_embedder(embedder)
    vectors = embed_rows(emb, [r.prompt for r in rows], progress)
    costs = np.array([s.cost for s in specs])
    k_areas: dict[int, float] = {}
    if k == "auto":
        k_final, k_areas = choose_k(vectors, scores, costs, seed=seed, smoothing=smoothing)
    elif isinstance(k, int) and not isinstance(k, bool) and k >= 1:
        k_final = k
    else:
        raise ValueError(f"k must be a positive int or 'auto', got {k!r}")
    if k_final > len(rows):
        raise RoutingTableError(f"k={k_final} is more than the {len(rows)} training rows")
    centroids, labels = fit_kmeans(vectors, k_final, seed)
    rates, counts = error_rates(labels, scores, k_final, smoothing)
    facts: dict[str, Any] = {
        "rows": len(rows),
        "k": k_final,
        "k_selection": "auto" if k == "auto" else "given",
        "seed": seed,
        "smoothing": smoothing,
        "tasks": sorted({r.task for r in rows if r.task}),
    }
    if k_areas:
        facts["validation_area_by_k"] = {str(kk): round(a, 6) for kk, a in k_areas.items()}
    facts.update(provenance or {})
    probes = emb.probe_embeddings()
    return Profile(
        embedder=EmbedderInfo(emb.name, emb.dim, emb.fingerprint, PROBE_TEXTS, probes),
        centroids=centroids,
        cluster_sizes=np.bincount(labels, minlength=k_final).astype(np.int64),
        models=tuple(
            ModelInfo(
                id=s.id, cost=s.cost, error_rates=rates[:, j], counts=counts[:, j], size_mb=s.size_mb,
                tokens_per_sec=s.tokens_per_sec, context_length=s.context_length, capabilities=s.capabilities,
            )
            for j, s in enumerate(specs)
        ),
        routing=routing,
        training=facts,
    )

