"""The maps' C kernels (csrc/cr_maps.c, cr_expected_errors, cr_rank_errors): against NumPy, a row
alone against the same row in a batch, the cluster rule taken apart and put back, hostile inputs."""

from __future__ import annotations

import pickle
from dataclasses import replace

import numpy as np
import pytest
from cr_factories import make_profile

from cactus_router import Router
from cactus_router._native import Index, KNNIndex, mask_buffer
from cactus_router.embedders import CallableEmbedder
from cactus_router.errors import ArgumentError, CoreError, RouterError
from cactus_router.maps import Ensemble, cluster_errors, fit_knn_prior, fit_logistic
from cactus_router.routing import RouteRequest


def _knn(seed: int = 0, n: int = 300, d: int = 16, m: int = 4, k: int = 7, beta: float = 3.0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d))
    return fit_knn_prior(x, (rng.random((n, m)) < 0.4).astype(float), k, beta), rng


def test_the_c_map_matches_its_numpy_definition():
    """Within float tolerance, on rows whose k-th and (k+1)-th neighbours are not a near tie."""
    knn, rng = _knn()
    x = rng.normal(size=(200, 16))
    prior = rng.random((200, 4))
    sims = np.sort((x / np.linalg.norm(x, axis=1, keepdims=True)) @ knn.vectors.astype(np.float64).T, axis=1)
    clear = sims[:, -knn.k] - sims[:, -knn.k - 1] > 1e-4
    assert clear.sum() > 150
    got, want = knn.errors(x, prior), knn.errors_reference(x, prior)
    assert np.allclose(got[clear], want[clear], atol=1e-6)
    assert want.std() > 0.05  # the comparison is not between constants


def test_a_row_alone_and_in_a_batch_get_the_same_bits():
    knn, rng = _knn(1)
    x = rng.normal(size=(64, 16)).astype(np.float32)
    prior = rng.random((64, 4))
    batch = knn.errors(x, prior)
    for i in range(0, 64, 5):
        assert np.array_equal(knn.errors(x[i:i + 1], prior[i:i + 1])[0], batch[i])


def test_ties_go_to_the_lower_row():
    """Two stored copies of one vector with different scores: k = 1 takes the first copy's."""
    x = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0]])
    knn = fit_knn_prior(x, np.array([[1.0], [0.0], [0.0]]), 1, 0.0)
    assert knn.errors(np.array([[2.0, 0.0]]), np.zeros((1, 1)))[0, 0] == 0.0  # row 0 (score 1), not row 2


@pytest.mark.parametrize("temperature", [0.0, 0.05, 1.0])
def test_the_cluster_rule_taken_apart_and_put_back_is_the_cluster_rule(temperature):
    """Ranking the index's own expected errors gives route_batch's scores, rankings and tier inputs."""
    prof = make_profile(k=6, d=16, m=5, seed=3)
    index = Index(prof.centroids, prof.error_matrix(), np.array([m.cost for m in prof.models]))
    x = np.random.default_rng(4).normal(size=(50, 16)).astype(np.float32)
    mask = np.array([1, 0, 1, 1, 1], dtype=np.uint8)
    for eligible in (None, mask):
        buffer = mask_buffer(eligible)
        routed = index.route_batch(x, buffer, 0.4, temperature)
        ranked = index.rank_batch(index.expected_errors(x, temperature), buffer, 0.4)
        n = 5 if eligible is None else int(eligible.sum())  # the slots written
        for a, b in zip(routed[1:], ranked[1:]):
            assert np.array_equal(a[:, :n], b[:, :n])
        for f in ("n_ranked", "best_error", "cheapest_error"):
            assert np.array_equal(routed[0][f], ranked[0][f])
        assert (ranked[0]["cluster"] == -1).all()
        one = index.rank_one(np.ascontiguousarray(index.expected_errors(x[:1], temperature)[0]), buffer,
                             int(routed[0]["n_ranked"][0]), 0.4)
        assert list(one[3]) == list(routed[1][0][:len(one[3])])


def test_the_expected_errors_are_the_numpy_cluster_rules():
    prof = make_profile(k=6, d=16, m=5, seed=5)
    index = Index(prof.centroids, prof.error_matrix(), np.array([m.cost for m in prof.models]))
    x = np.random.default_rng(6).normal(size=(40, 16)).astype(np.float32)
    for t in (0.0, 0.1):
        want = cluster_errors(x, prof.centroids, prof.error_matrix().astype(np.float64), t)
        assert np.allclose(index.expected_errors(x, t), want, atol=1e-5)


@pytest.mark.parametrize("method", ["knn-prior", "ensemble"])
def test_route_and_route_embeddings_agree_bit_for_bit_with_a_knn_map(method):
    rng = np.random.default_rng(7)
    train_x, train_s = rng.normal(size=(120, 8)), (rng.random((120, 3)) < 0.5).astype(float)
    knn = fit_knn_prior(train_x, train_s, 5, 2.0)
    chosen = knn if method == "knn-prior" else Ensemble(fit_logistic(train_x, train_s, 10.0), knn)
    prof = replace(make_profile(k=4, d=8, m=3, seed=8), map=chosen)
    router = Router(prof, CallableEmbedder(lambda t: np.ones((len(t), 8)), name="test-space", dim=8),
                    allow_embedder_mismatch=True)
    vecs = rng.normal(size=(100, 8)).astype(np.float32)
    for request in (RouteRequest(), RouteRequest(cost_bias=0.9), RouteRequest(allow=("m0", "m2"))):
        batch = router.route_embeddings(vecs, request)
        for i in range(0, 100, 9):
            one = router.route_embedding(vecs[i], request)
            assert (one.model, one.ranking) == (batch.models[i], batch[i].ranking)


def test_a_knn_map_survives_pickling():
    knn, rng = _knn(9)
    x, prior = rng.normal(size=(5, 16)), rng.random((5, 4))
    assert np.array_equal(pickle.loads(pickle.dumps(knn)).errors(x, prior), knn.errors(x, prior))


def test_hostile_inputs_are_typed_errors():
    knn, _ = _knn(10)
    x, prior = np.ones((2, 16)), np.full((2, 4), 0.5)
    with pytest.raises(CoreError, match="embedding 1"):
        knn.errors(np.vstack([x[0], np.zeros(16)]), prior)
    with pytest.raises(CoreError, match="embedding 0"):
        knn.errors(x, np.array([[np.nan, 0, 0, 0], [0, 0, 0, 0]]))
    with pytest.raises(ArgumentError, match="prior must have shape"):
        knn.errors(x, np.full((2, 3), 0.5))
    with pytest.raises(CoreError):
        KNNIndex(np.ones((3, 4), dtype=np.float32), np.full((3, 2), 1.5, dtype=np.float32), 1, 0.0)
    with pytest.raises(CoreError):
        KNNIndex(np.ones((3, 4), dtype=np.float32), np.zeros((3, 2), dtype=np.float32), 4, 0.0)
    prof = make_profile(k=3, d=4, m=2, seed=11)
    index = Index(prof.centroids, prof.error_matrix(), np.array([m.cost for m in prof.models]))
    with pytest.raises(CoreError, match="row 1"):
        index.rank_batch(np.array([[0.1, 0.2], [0.1, -0.5]]), mask_buffer(None), 0.5)
    with pytest.raises(CoreError, match="row 0"):
        index.rank_batch(np.array([[np.inf, 0.2], [0.1, 0.5]]), mask_buffer(None), 0.5)
    with pytest.raises(ArgumentError):
        index.rank_batch(np.zeros((2, 3)), mask_buffer(None), 0.5)
    for exc in (CoreError, ArgumentError):
        assert issubclass(exc, RouterError)
