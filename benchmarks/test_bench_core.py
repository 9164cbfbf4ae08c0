"""Routing speed through the public API, against a NumPy reference in the same run.

    pytest benchmarks/test_bench_core.py --benchmark-only
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from cactus_router import Profile, Router
from cactus_router.embedders import CallableEmbedder
from cactus_router.profile import EmbedderInfo, ModelInfo

M = 12


def _setup(k: int, d: int):
    rng = np.random.default_rng(0)
    cent = rng.normal(size=(k, d))
    models = tuple(ModelInfo(id=f"model-{j}", cost=float(j + 1), error_rates=rng.random(k),
                             counts=np.full(k, 10)) for j in range(M))
    prof = Profile(EmbedderInfo("bench", d), cent, np.full(k, 10), models)
    router = Router(prof, CallableEmbedder(lambda t: rng.normal(size=(len(t), d)), name="bench", dim=d))
    return prof, router, rng.normal(size=d).astype(np.float32)


def numpy_route(cent_unit, rates_km, ncost, ids, e, lam):
    """The same rule in NumPy: nearest centroid, then the ranked scores."""
    sims = cent_unit @ (e / np.linalg.norm(e))
    c = int(np.argmax(sims))
    scores = rates_km[c] + lam * ncost
    order = np.argsort(scores, kind="stable")
    return ids[order[0]], c, [(ids[j], float(scores[j])) for j in order]


SHAPES = [(k, d) for k in (4, 16, 64) for d in (384, 1024)]


@pytest.mark.parametrize("k,d", SHAPES)
def test_route_embedding(benchmark, k, d):
    _, router, e = _setup(k, d)
    benchmark(router.route_embedding, e)


@pytest.mark.parametrize("k,d", SHAPES)
def test_route_embedding_reference(benchmark, k, d):
    prof, _, e = _setup(k, d)
    cent = prof.centroids / np.linalg.norm(prof.centroids, axis=1, keepdims=True)
    costs = np.array([m.cost for m in prof.models])
    ncost = (costs - costs.min()) / (costs.max() - costs.min())
    benchmark(numpy_route, cent, prof.error_matrix(), ncost, list(prof.model_ids), e, 1.0)


def _default():
    """The bundled default profile (soft assignment, K = 48, D = 384) and its own probe embeddings:
    real prompt embeddings, all in distribution, so the common path is what is timed."""
    prof = Profile.load("default")
    router = Router(prof, CallableEmbedder(lambda t: np.ones((len(t), prof.dim)), name="bench", dim=prof.dim),
                    allow_embedder_mismatch=True)
    vecs = np.ascontiguousarray(prof.embedder.probe_vectors, dtype=np.float32)
    assert all(router.route_embedding(v).in_distribution for v in vecs)
    return prof, router, vecs


def numpy_route_soft(cent_unit, rates_km, ncost, ids, e, lam, temperature):
    """The default profile's rule in NumPy: softmax-weighted rates over all clusters, then the ranking."""
    sims = cent_unit @ (e / np.linalg.norm(e))
    w = np.exp((sims - sims.max()) / temperature)
    w /= w.sum()
    scores = w @ rates_km + lam * ncost
    order = np.argsort(scores, kind="stable")
    return ids[order[0]], int(np.argmax(sims)), [(ids[j], float(scores[j])) for j in order]


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_route_embedding_default(benchmark):
    _, router, vecs = _default()
    benchmark(router.route_embedding, vecs[0])


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_route_embedding_default_reference(benchmark):
    prof, _, vecs = _default()
    cent = prof.centroids / np.linalg.norm(prof.centroids, axis=1, keepdims=True)
    costs = np.array([m.cost for m in prof.models])
    ncost = (costs - costs.min()) / (costs.max() - costs.min())
    benchmark(numpy_route_soft, cent, prof.error_matrix(), ncost, list(prof.model_ids), vecs[0],
              prof.routing.lam(), prof.routing.temperature)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_route_embedding_default_reference_with_topic(benchmark):
    """The same NumPy rule plus the profile's topic check in NumPy (``familiarity_reference``, which
    computes both of its scores; the C check stops at a bound when one decides)."""
    prof, _, vecs = _default()
    cent = prof.centroids / np.linalg.norm(prof.centroids, axis=1, keepdims=True)
    costs = np.array([m.cost for m in prof.models])
    ncost = (costs - costs.min()) / (costs.max() - costs.min())
    topic = prof.ood.topic
    args = (cent, prof.error_matrix(), ncost, list(prof.model_ids), vecs[0], prof.routing.lam(),
            prof.routing.temperature)

    def route():
        unseen = topic.familiarity_reference(vecs[0])[0] < topic.threshold
        return numpy_route_soft(*args), unseen

    benchmark(route)


def _subsets(ids):
    """Every non-empty subset of the model ids, as allow lists: more than the eligibility cache holds."""
    import itertools

    return [list(c) for r in range(1, len(ids) + 1) for c in itertools.combinations(ids, r)]


def test_route_embedding_constrained(benchmark):
    """One fixed allow list, as an app with a fixed set of installed models routes: cache hits."""
    prof, router, e = _setup(16, 384)
    allow = list(prof.model_ids[:6])
    benchmark(router.route_embedding, e, allow=allow)


def test_route_embedding_constrained_reference(benchmark):
    """A different allow list on every call (4,095 of them), so the eligibility cache misses."""
    prof, router, e = _setup(16, 384)
    subsets = iter(_subsets(prof.model_ids) * 50)
    benchmark(lambda: router.route_embedding(e, allow=next(subsets)))


BATCH = 10_000


def test_route_many(benchmark):
    _, router, _ = _setup(16, 1024)
    x = np.random.default_rng(1).normal(size=(BATCH, 1024)).astype(np.float32)
    benchmark.extra_info["embeddings_per_call"] = BATCH
    benchmark(router.route_embeddings, x)


def test_route_many_reference(benchmark):
    prof, _, _ = _setup(16, 1024)
    x = np.random.default_rng(1).normal(size=(BATCH, 1024)).astype(np.float32)
    cent = prof.centroids / np.linalg.norm(prof.centroids, axis=1, keepdims=True)
    rates = prof.error_matrix()
    costs = np.array([m.cost for m in prof.models])
    ncost = (costs - costs.min()) / (costs.max() - costs.min())

    def run():
        c = np.argmax((x / np.linalg.norm(x, axis=1, keepdims=True)) @ cent.T, axis=1)
        return np.argsort(rates[c] + ncost, axis=1, kind="stable")

    benchmark(run)


def test_profile_load(benchmark):
    text = Profile.load("default").to_json()
    benchmark.extra_info["profile_bytes"] = len(text.encode())
    benchmark(Profile.from_json, text)


def test_profile_load_reference(benchmark):
    """json.loads of the same text: the floor that parsing alone costs."""
    text = Profile.load("default").to_json()
    benchmark(json.loads, text)
