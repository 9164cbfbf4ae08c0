"""The learned state of a profile: embeddings of the labelled prompts, K-means centroids, and
each cluster's error rates with the counts behind them."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from ..embedders import Embedder, l2_normalise
from ..tiers import TIERS

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

    The labels are the router's assignment (the nearest unit centroid by cosine), not K-means'
    own (nearest raw centroid by Euclidean distance), which differ for a few percent of prompts:
    the error rates must describe the clusters prompts will actually be routed to. K-means runs
    single-threaded so that a seed gives the same result on every machine.
    """
    from sklearn.cluster import KMeans
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):
        km = KMeans(n_clusters=k, n_init=4, random_state=seed).fit(embeddings.astype(np.float64))
    cent32 = l2_normalise(km.cluster_centers_, np.float64).astype(np.float32)
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




def tier_counts(labels: np.ndarray, tiers: Sequence[str | None], k: int) -> np.ndarray:
    """Per cluster, how many rows of each tier it holds: (k, 3) in ``TIERS`` order (untiered rows: nowhere)."""
    counts = np.zeros((k, len(TIERS)), dtype=np.int64)
    for cluster, tier in zip(labels.tolist(), tiers):
        if tier is not None:
            counts[cluster, TIERS.index(tier)] += 1
    return counts
