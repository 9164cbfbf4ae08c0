"""The C scoring core against the NumPy oracle, known answers, and its error statuses."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from oracle import route_oracle

from cactus_router import CoreError, NoEligibleModelError
from cactus_router._native import Index, mask_buffer

finite = st.floats(-10, 10, allow_nan=False, width=32)


def route(index: Index, emb: np.ndarray, eligible: object, lam: float, temperature: float = 0.0) -> tuple:
    """Index.route: cluster, similarity, margin, ranking, scores, errors, all from the one call."""
    return index.route(np.ascontiguousarray(emb, dtype=np.float32), eligible, lam, temperature)


@st.composite
def problems(draw):
    k = draw(st.integers(1, 12))
    d = draw(st.integers(1, 70))
    m = draw(st.integers(1, 9))
    cent = draw(arrays(np.float32, (k, d), elements=finite).filter(lambda a: (np.linalg.norm(a, axis=1) > 1e-3).all()))
    rates = draw(arrays(np.float32, (k, m),
                        elements=st.sampled_from([0.0, 0.25, 0.5, 1.0]) | st.floats(0, 1, width=32)))
    costs = draw(arrays(np.float64, (m,), elements=st.sampled_from([0.0, 1.0, 2.0]) | st.floats(0, 100)))
    emb = draw(arrays(np.float32, (d,), elements=finite).filter(lambda a: np.linalg.norm(a) > 1e-3))
    eligible = draw(arrays(np.uint8, (m,), elements=st.integers(0, 1)).filter(lambda a: a.any()))
    lam = draw(st.sampled_from([0.0, 1.0, 2.0]) | st.floats(0, 5))
    temperature = draw(st.sampled_from([0.0, 0.0, 0.05, 1.0]))
    return cent, rates, costs, emb, eligible, lam, temperature


@settings(max_examples=300, deadline=None)
@given(problems())
def test_route_matches_numpy_oracle(problem):
    """Cluster, similarity, margin, ranking and scores agree with an independent NumPy oracle."""
    cent, rates, costs, emb, eligible, lam, temperature = problem
    index = Index(cent, rates, costs)
    cluster, sim, margin, ranking, scores, errors = route(index, emb, mask_buffer(eligible), lam, temperature)
    sims, o_rank, o_scores, o_errors = route_oracle(cent, rates, costs, emb, eligible, lam, temperature)
    best = sims.max()
    # float32 dots may swap two clusters within rounding of each other; never a worse one.
    assert sims[cluster] >= best - 1e-5
    assert sim == pytest.approx(best, abs=1e-5)
    second = np.sort(sims)[-2] if len(sims) > 1 else None
    assert margin == pytest.approx(2.0 if second is None else best - second, abs=2e-5)
    if temperature > 0:  # soft: float similarities shift the weights slightly
        assert sorted(scores) == pytest.approx(sorted(o_scores.tolist()), abs=1e-4)
        assert sorted(errors) == pytest.approx(sorted(o_errors.tolist()), abs=1e-4)
    elif len(sims) == 1 or np.ptp(np.sort(sims)[-2:]) > 1e-5:  # unambiguous cluster: exact ranking
        assert ranking == list(o_rank)
        assert scores == pytest.approx(list(o_scores), abs=1e-6)
        assert errors == pytest.approx(list(o_errors), abs=1e-6)
    assert sorted(ranking) == sorted(np.flatnonzero(eligible).tolist())


@settings(max_examples=100, deadline=None)
@given(problems(), st.floats(1e-3, 1e3))
def test_scaling_the_embedding_never_changes_the_decision(problem, scale):
    """Embeddings are normalised in C: a scaled copy routes the same way."""
    cent, rates, costs, emb, eligible, lam, temperature = problem
    index = Index(cent, rates, costs)
    a = route(index, emb, mask_buffer(eligible), lam)
    b = route(index, (emb * np.float32(scale)).astype(np.float32), mask_buffer(eligible), lam)
    if a[2] > 1e-4:  # not a near-tie between clusters
        assert a[0] == b[0] and a[3] == b[3]


@settings(max_examples=50, deadline=None)
@given(problems(), st.integers(1, 20))
def test_batch_equals_single_calls(problem, n):
    """route_batch gives exactly the results of n single calls."""
    cent, rates, costs, emb, eligible, lam, temperature = problem
    rng = np.random.default_rng(n)
    embs = (rng.normal(size=(n, len(emb))) + 0.1).astype(np.float32)
    index = Index(cent, rates, costs)
    results, rankings, scores, errors = index.route_batch(embs, mask_buffer(eligible), lam, temperature)
    for i in range(n):
        cluster, sim, margin, ranking, sc, err = route(index, embs[i], mask_buffer(eligible), lam, temperature)
        w = results["n_ranked"][i]
        got = (results["cluster"][i], results["similarity"][i], results["margin"][i])
        assert got == (cluster, np.float32(sim), np.float32(margin))
        assert rankings[i, :w].tolist() == ranking and scores[i, :w].tolist() == sc and errors[i, :w].tolist() == err


def test_known_answer_two_clusters():
    """A hand-computed case: cluster 1 is nearest; at lambda 1 the cheap model wins."""
    cent = np.array([[1, 0], [0, 1]], dtype=np.float32)
    rates = np.array([[0.1, 0.5], [0.4, 0.2]], dtype=np.float32)  # (K, M)
    costs = np.array([10.0, 1.0])
    index = Index(cent, rates, costs)
    emb = np.array([0.6, 0.8], dtype=np.float32)
    cluster, sim, margin, ranking, scores, _ = route(index, emb, mask_buffer(None), 0.0)
    assert (cluster, ranking) == (1, [1, 0])
    assert sim == pytest.approx(0.8) and margin == pytest.approx(0.2)
    assert scores == pytest.approx([0.2, 0.4])
    # lambda 1: model 0 costs the most (normalised 1) -> 0.4 + 1 = 1.4; model 1: 0.2 + 0.
    _, _, _, ranking, scores, _ = route(index, emb, mask_buffer(None), 1.0)
    assert ranking == [1, 0] and scores == pytest.approx([0.2, 1.4])


def test_soft_assignment_known_answer():
    """Temperature > 0 mixes the clusters' rates by softmax(similarity / T); the weights come back."""
    cent = np.array([[1, 0], [0, 1]], dtype=np.float32)
    rates = np.array([[0.0, 1.0], [1.0, 0.0]], dtype=np.float32)
    index = Index(cent, rates, np.array([1.0, 1.0]))
    emb = np.array([0.8, 0.6], dtype=np.float32)
    w0 = 1 / (1 + np.exp((0.6 - 0.8) / 0.1))
    _, _, _, ranking, scores, errors = route(index, emb, mask_buffer(None), 0.0, 0.1)
    assert ranking == [0, 1] and errors == pytest.approx([1 - w0, w0], abs=1e-6)
    np.testing.assert_allclose(index.similarities(emb, 0.1), [w0, 1 - w0], atol=1e-6)
    np.testing.assert_allclose(index.similarities(emb), [0.8, 0.6], atol=1e-6)


def test_ties_break_by_cost_then_model_order():
    """Equal scores: the cheaper model first; equal cost too: the earlier model first."""
    cent = np.array([[1.0, 0.0]], dtype=np.float32)
    rates = np.array([[0.3, 0.3, 0.3]], dtype=np.float32)
    index = Index(cent, rates, np.array([5.0, 5.0, 2.0]))
    _, _, _, ranking, _, _ = route(index, np.array([1, 0], dtype=np.float32), mask_buffer(None), 0.0)
    assert ranking == [2, 0, 1]


def test_cost_is_normalised_over_eligible_models_only():
    """Excluding the most expensive model rescales the cost term of the rest."""
    cent = np.array([[1.0, 0.0]], dtype=np.float32)
    rates = np.array([[0.5, 0.4, 0.0]], dtype=np.float32)
    index = Index(cent, rates, np.array([0.0, 1.0, 100.0]))
    e = np.array([1, 0], dtype=np.float32)
    _, _, _, ranking, scores, _ = route(index, e, mask_buffer(np.array([1, 1, 0], dtype=np.uint8)), 1.0)
    assert ranking == [0, 1] and scores == pytest.approx([0.5, 1.4])


@pytest.mark.parametrize(
    "emb, error",
    [
        (np.array([np.nan, 1.0], dtype=np.float32), "NaN"),
        (np.array([np.inf, 1.0], dtype=np.float32), "NaN"),
        (np.array([0.0, 0.0], dtype=np.float32), "zero norm"),
    ],
)
def test_bad_embeddings_are_typed_errors(emb, error):
    """NaN, infinity and a zero vector are CoreError, not a decision."""
    index = Index(np.eye(2, dtype=np.float32), np.full((2, 2), 0.5, dtype=np.float32), np.array([1.0, 2.0]))
    with pytest.raises(CoreError, match=error):
        route(index, emb, mask_buffer(None), 1.0)


def test_extreme_magnitudes_route_like_unit_vectors():
    """Huge and denormal embeddings take the double path and still find the right cluster."""
    index = Index(np.eye(3, dtype=np.float32), np.full((3, 2), 0.5, dtype=np.float32), np.array([1.0, 2.0]))
    for scale in (3e38, 1e-40):
        emb = np.array([0.1, 1.0, 0.2], dtype=np.float32) * np.float32(scale)
        assert route(index, emb.astype(np.float32), mask_buffer(None), 1.0)[0] == 1


def test_empty_mask_is_no_eligible_model():
    """An all-zero mask is NoEligibleModelError."""
    index = Index(np.eye(2, dtype=np.float32), np.full((2, 2), 0.5, dtype=np.float32), np.array([1.0, 2.0]))
    with pytest.raises(NoEligibleModelError):
        route(index, np.array([1, 0], dtype=np.float32), mask_buffer(np.zeros(2, dtype=np.uint8)), 1.0)


@pytest.mark.parametrize(
    "cent, rates, costs, error",
    [
        (np.zeros((1, 2)), np.full((1, 1), 0.5), np.ones(1), "zero norm"),
        (np.eye(2), np.full((2, 1), 1.5), np.ones(1), "out of range"),
        (np.eye(2), np.full((2, 1), 0.5), -np.ones(1), "out of range"),
        (np.eye(2), np.full((2, 1), np.nan), np.ones(1), "NaN"),
    ],
)
def test_index_rejects_invalid_arrays(cent, rates, costs, error):
    """cr_index_new validates what it copies."""
    with pytest.raises(CoreError, match=error):
        Index(cent, rates, costs)


@settings(max_examples=200, deadline=None)
@given(problems())
def test_choose_reads_back_what_route_returns_and_the_tier_rule_inputs(problem):
    """Index.choose (one struct unpack of the scratch bytes) gives route's outputs and the tier rule's two minima."""
    cent, rates, costs, emb, eligible, lam, temperature = problem
    index, mask = Index(cent, rates, costs), mask_buffer(eligible)
    cluster, sim, margin, ranking, scores, errors = route(index, emb, mask, lam, temperature)
    chosen = index.choose(np.ascontiguousarray(emb), mask, int(eligible.sum()), lam, temperature)
    assert chosen[:6] == (cluster, sim, margin, tuple(ranking), tuple(scores), errors[0])
    lo, hi = costs[eligible == 1].min(), costs[eligible == 1].max()
    recomputed = [(s - lam * ((costs[j] - lo) / (hi - lo) if hi > lo else 0.0), costs[j])
                  for j, s in zip(ranking, scores)]
    assert chosen[6] == min(e for e, _ in recomputed)
    assert chosen[7] == min(e for e, c in recomputed if c == lo)
