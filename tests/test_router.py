"""The public Router API: decisions, constraints, the cost knob, embedder checks, threads."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from cr_factories import make_profile
from hypothesis import given, settings
from hypothesis import strategies as st

from cactus_router import (
    ArgumentError,
    Decision,
    EmbedderMismatchError,
    NoEligibleModelError,
    PromptError,
    Router,
)
from cactus_router.embedders import CallableEmbedder
from cactus_router.embedders.hashing import HashEmbedder


@pytest.fixture()
def router(hash_profile, hash_embedder):
    return Router(hash_profile, hash_embedder)


def test_route_returns_a_consistent_decision(router):
    """The decision's fields agree with its ranking and the profile."""
    d = router.route("What is the capital of France?")
    assert isinstance(d, Decision)
    assert d.model == d.ranking[0][0] and d.score == d.ranking[0][1]
    assert [s for _, s in d.ranking] == sorted(s for _, s in d.ranking)
    m = router.profile.models[router.profile.model_ids.index(d.model)]
    assert d.expected_error == pytest.approx(m.error_rates[d.cluster]) and d.cost == m.cost
    assert d.embed_ms > 0 and d.score_ms > 0


def test_decision_is_frozen(router):
    """Decisions cannot be modified."""
    d = router.route("hello there")
    with pytest.raises(AttributeError):
        d.model = "other"  # type: ignore[misc]


def test_route_equals_route_embedding_of_the_embedding(router, hash_embedder):
    """route(prompt) is route_embedding(embed(prompt))."""
    prompt = "Write a haiku about routers"
    a = router.route(prompt)
    b = router.route_embedding(hash_embedder.embed(prompt))
    assert (a.model, a.cluster, a.ranking) == (b.model, b.cluster, b.ranking)


def test_route_many_equals_route(router):
    """The batch path gives the same decisions as one call per prompt."""
    prompts = [f"question number {i} about {w}" for i, w in enumerate(["maths", "code", "poems", "law"] * 5)]
    many = router.route_many(prompts, cost_bias=0.3)
    for p, d in zip(prompts, many):
        one = router.route(p, cost_bias=0.3)
        assert (d.model, d.cluster, d.ranking, d.similarity) == (one.model, one.cluster, one.ranking, one.similarity)
    assert len(router.route_many([])) == 0
    assert many.models == tuple(d.model for d in many) and list(many[1:3]) == [many[1], many[2]]


def test_caches_overflow_and_keep_decisions(router, monkeypatch):
    """Cached eligibility masks and hard-assignment rankings give the batch path's decisions (which
    caches nothing), also across masks and cost_bias values that overflow and clear both caches."""
    monkeypatch.setattr("cactus_router.routing.scorer.ELIGIBILITY_CACHE_SIZE", 2)
    monkeypatch.setattr("cactus_router.routing.scorer.RANKING_CACHE_BYTES", 1)
    router = Router(router.profile, router.embedder)  # the limit is read when a router is built
    ids = router.profile.model_ids
    prompts = [f"question number {i} about {w}" for i, w in enumerate(["maths", "code", "poems", "law"] * 4)]
    calls = [{}, {"cost_bias": 0.9}, {"allow": ids[:2]}, {"allow": ids[1:], "cost_bias": 0.1}, {"allow": ids[::2]}]
    for kwargs in calls * 2:
        for p, b in zip(prompts, router.route_many(prompts, **kwargs)):
            d = router.route(p, **kwargs)
            assert (d.model, d.ranking, d.expected_error, d.score) == (b.model, b.ranking, b.expected_error, b.score)


def test_require_allow_and_size_cap_restrict_the_ranking(hash_embedder):
    """Only eligible models are ranked; the constraints combine."""
    prof = make_profile(k=3, d=64, m=4, embedder=hash_embedder, sizes=[100.0, 200.0, 300.0, None],
                        caps=[frozenset({"text"}), frozenset({"text", "vision"}), frozenset({"text", "vision"}),
                              frozenset({"text", "tools"})])
    r = Router(prof, hash_embedder)
    assert {m for m, _ in r.route("x y z", require=["vision"]).ranking} == {"m1", "m2"}
    assert {m for m, _ in r.route("x y z", allow=["m0", "m3"]).ranking} == {"m0", "m3"}
    assert {m for m, _ in r.route("x y z", max_size_mb=250).ranking} == {"m0", "m1"}
    assert r.eligible(require=["vision"], max_size_mb=250) == ("m1",)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"require": ["vision"]}, r"no model in the profile meets require=\['vision'\]"),
        ({"allow": ["ghost"]}, "allow names model"),
        ({"max_size_mb": 1}, r"max_size_mb=1"),
    ],
)
def test_no_eligible_model_names_the_constraint(router, kwargs, message):
    """An impossible constraint is NoEligibleModelError naming it."""
    with pytest.raises(NoEligibleModelError, match=message):
        router.route("anything", **kwargs)


@pytest.mark.parametrize("bad", [-0.1, 1.5, float("nan"), "0.5", True])
def test_cost_bias_out_of_range_is_rejected(router, bad):
    """cost_bias must be a number in [0, 1]."""
    with pytest.raises(ValueError, match="cost_bias"):
        router.route("anything", cost_bias=bad)


@pytest.mark.parametrize("bad", [None, b"bytes", 3, "", "   \n", "bad \ud800 surrogate"])
def test_unroutable_prompts_are_prompt_errors(router, bad):
    """Non-strings, empty text and lone surrogates are PromptError."""
    with pytest.raises(PromptError):
        router.route(bad)  # type: ignore[arg-type]


def test_embedding_of_wrong_shape_is_rejected(router):
    """route_embedding checks the dimension before calling C."""
    with pytest.raises(ArgumentError, match=r"expected \(64,\)"):
        router.route_embedding(np.ones(3))


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 10_000), a=st.floats(0, 1), b=st.floats(0, 1))
def test_raising_cost_bias_never_raises_the_chosen_cost(hash_embedder, seed, a, b):
    """The knob is monotone: more cost_bias never picks a more expensive model."""
    prof = make_profile(k=5, d=64, m=6, seed=seed, embedder=hash_embedder,
                        costs=list(np.random.default_rng(seed).uniform(0, 10, 6)))
    r = Router(prof, hash_embedder)
    lo, hi = sorted((a, b))
    for prompt in ("summarise this text", "def f(x): return x", "2 + 2 = ?"):
        assert r.route(prompt, cost_bias=hi).cost <= r.route(prompt, cost_bias=lo).cost


def test_cost_bias_extremes(hash_embedder):
    """cost_bias 0 picks the lowest error rate; cost_bias 1 with a wide lambda picks the cheapest."""
    prof = make_profile(k=2, d=64, m=4, embedder=hash_embedder)
    prof = type(prof)(prof.embedder, prof.centroids, prof.cluster_sizes, prof.models,
                      type(prof.routing)(0.0, 100.0, 0.5))
    r = Router(prof, hash_embedder)
    d0 = r.route("pick the best", cost_bias=0.0)
    assert d0.expected_error == pytest.approx(min(m.error_rates[d0.cluster] for m in prof.models), abs=1e-6)
    assert r.route("pick the cheapest", cost_bias=1.0).model == "m0"


def test_wrong_embedder_is_refused(hash_profile):
    """A profile built with one embedder refuses another of the same dimension."""
    other = CallableEmbedder(lambda t: np.random.default_rng(0).normal(size=(len(t), 64)), name="other", dim=64)
    with pytest.raises(EmbedderMismatchError, match="hash-ngram-v1"):
        Router(hash_profile, other)
    with pytest.raises(EmbedderMismatchError, match="dimensions"):
        Router(hash_profile, HashEmbedder(32))


def test_same_name_different_space_is_refused(hash_profile):
    """Reusing the profile's embedder name with another model is caught by the probes."""
    impostor = CallableEmbedder(lambda t: np.random.default_rng(1).normal(size=(len(t), 64)),
                                name="hash-ngram-v1", dim=64)
    with pytest.raises(EmbedderMismatchError, match="probe cosine"):
        Router(hash_profile, impostor)


def test_mismatch_can_be_overridden_explicitly(hash_profile):
    """allow_embedder_mismatch=True routes, with a warning."""
    other = CallableEmbedder(lambda t: np.ones((len(t), 64)), name="other", dim=64)
    with pytest.warns(RuntimeWarning, match="meaningless"):
        r = Router(hash_profile, other, allow_embedder_mismatch=True)
    assert r.route("hi").model in hash_profile.model_ids


def test_load_by_path_and_name_resolution(tmp_path, hash_profile):
    """Router.load takes a path and recreates the recorded hash embedder from its name."""
    path = tmp_path / "p.json"
    hash_profile.save(path)
    r = Router.load(str(path))
    assert r.embedder.name == "hash-ngram-v1" and r.embedder.dim == 64
    assert r.route("hello").model in hash_profile.model_ids


def test_shared_router_across_threads_matches_sequential(router):
    """8 threads routing through one Router give exactly the sequential decisions."""
    prompts = [f"prompt {i} {'x' * (i % 7)}" for i in range(200)]
    expected = [(d.model, d.cluster, d.ranking) for d in (router.route(p) for p in prompts)]
    results: dict[int, list] = {}

    def work(t: int) -> None:
        results[t] = [(d.model, d.cluster, d.ranking) for d in (router.route(p) for p in prompts)]

    threads = [threading.Thread(target=work, args=(t,)) for t in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(results[t] == expected for t in range(8))


def _with_routing(prof, **changes):
    from dataclasses import replace

    return replace(prof, routing=replace(prof.routing, **changes))


def _overall_scores(prof, cost_bias, eligible=None):
    """The OOD ranking's scores by hand: overall rate + lambda x min-max normalised cost."""
    models = [m for m in prof.models if eligible is None or m.id in eligible]
    costs = np.array([m.cost for m in models])
    span = costs.max() - costs.min()
    lam = prof.routing.lam(cost_bias)
    return {m.id: m.overall_error_rate + lam * ((m.cost - costs.min()) / span if span else 0.0) for m in models}


@pytest.mark.parametrize("cost_bias", [0.0, 0.5, 1.0])
def test_out_of_distribution_prompts_keep_the_cost_knob(hash_profile, hash_embedder, cost_bias):
    """Below the OOD threshold the models are ranked on their overall rates with the request's
    lambda, the decision says so, and its ranking is the one that chose (issue 11, item 8)."""
    prof = _with_routing(hash_profile, ood_threshold=0.99)
    r = Router(prof, hash_embedder)
    d = r.route("nothing like the centroids", cost_bias=cost_bias)
    expected = _overall_scores(prof, cost_bias)
    assert not d.in_distribution and [a.policy for a in d.applied] == ["out-of-distribution"]
    assert d.model == min(expected, key=lambda m: (round(expected[m], 5), prof.models[prof.model_ids.index(m)].cost))
    assert d.ranking[0][0] == d.model and [m for m, _ in d.ranking] == sorted(expected, key=dict(d.ranking).get)
    assert d.score == pytest.approx(expected[d.model], abs=1e-5)
    m = prof.models[prof.model_ids.index(d.model)]
    assert d.expected_error == pytest.approx(m.overall_error_rate, abs=1e-6) and d.cost == m.cost
    batch = r.route_many(["nothing like the centroids", "another one"], cost_bias=cost_bias)
    assert not batch.in_distribution.any() and batch.models == (d.model, d.model)
    assert batch[0].ranking == d.ranking and batch[0].applied == d.applied


def test_out_of_distribution_fallback_respects_constraints(hash_profile, hash_embedder):
    """The OOD ranking holds only the eligible models, whatever the cost knob."""
    prof = _with_routing(hash_profile, ood_threshold=0.99)
    r = Router(prof, hash_embedder)
    for bias in (0.0, 1.0):
        d = r.route("far away", allow=["m0", "m2"], cost_bias=bias)
        expected = _overall_scores(prof, bias, {"m0", "m2"})
        assert {m for m, _ in d.ranking} == {"m0", "m2"} and d.model == min(expected, key=expected.get)


def test_cheapest_and_best_differ_out_of_distribution(hash_profile, hash_embedder):
    """cost_bias 0 and 1 pick different models out of distribution when the best is not the
    cheapest (the old fallback ignored the knob)."""
    prof = _with_routing(hash_profile, ood_threshold=0.99)
    r = Router(prof, hash_embedder)
    best = min(prof.models, key=lambda m: m.overall_error_rate)
    cheapest = min(prof.models, key=lambda m: m.cost)
    assert best.id != cheapest.id
    assert r.route("far away", cost_bias=0.0).model == best.id
    assert r.route("far away", cost_bias=1.0).model != best.id


def test_named_fallback_and_eligibility(hash_profile, hash_embedder):
    """A fallback named by the profile is used when eligible; otherwise the OOD ranking chooses."""
    prof = _with_routing(hash_profile, ood_threshold=0.99, fallback="m2")
    r = Router(prof, hash_embedder)
    d = r.route("far away", cost_bias=1.0)
    assert d.model == "m2" and d.ranking[0][0] == "m2" and "fallback model m2" in d.applied[0].reason
    assert r.route_many(["far away"], cost_bias=1.0).models == ("m2",)
    other = r.route("far away", allow=["m0", "m1"])
    assert other.model in {"m0", "m1"} and "not eligible" in other.applied[0].reason


def test_in_distribution_prompts_are_scored_normally(hash_profile, hash_embedder):
    """With a threshold of -1 nothing is out of distribution."""
    d = Router(_with_routing(hash_profile, ood_threshold=-1.0), hash_embedder).route("hello")
    assert d.in_distribution and d.model == d.ranking[0][0]


def test_soft_assignment_mixes_cluster_rates(hash_profile, hash_embedder):
    """With a temperature the expected error is the weighted mix of the clusters' rates."""
    prof = _with_routing(hash_profile, temperature=0.05)
    r = Router(prof, hash_embedder)
    vec = hash_embedder.embed("mix me")
    sims = r.pipeline.scorer.similarities(vec)
    w = np.exp((sims - sims.max()) / 0.05)
    w /= w.sum()
    d = r.route("mix me", cost_bias=0.0)
    expected = {m.id: float(w @ m.error_rates) for m in prof.models}
    assert d.expected_error == pytest.approx(expected[d.model], abs=1e-5)
    assert d.model == min(expected, key=expected.get)


def test_explain_accounts_for_every_model(hash_embedder):
    """explain lists each model's rate, count and score terms, consistent with the decision."""
    prof = make_profile(k=3, d=64, m=4, embedder=hash_embedder, sizes=[1.0, 2.0, 3.0, 400.0])
    r = Router(prof, hash_embedder)
    ex = r.explain("why this model?", max_size_mb=10)
    assert ex.decision.model == ex.terms[0].model
    assert [t.model for t in ex.terms][-1] == "m3" and ex.terms[-1].score is None
    for t in ex.terms[:-1]:
        assert t.expected_error + t.cost_term == pytest.approx(t.score, abs=1e-6)
        m = prof.models[prof.model_ids.index(t.model)]
        assert t.cluster_error_rate == pytest.approx(m.error_rates[ex.decision.cluster])
    assert "not eligible" in str(ex) and f"cluster {ex.decision.cluster}" in str(ex)


def test_decision_round_trips_through_json(hash_profile, hash_embedder):
    """to_dict is JSON data; from_dict reads it back to the same JSON, policies included."""
    import json

    from cactus_router import Decision

    prof = _with_routing(hash_profile, ood_threshold=0.99)
    for d in (Router(hash_profile, hash_embedder).route("hello"), Router(prof, hash_embedder).route("far")):
        data = json.loads(json.dumps(d.to_dict()))
        back = Decision.from_dict(data)
        assert back.to_dict() == data and back.model == d.model and back.applied == d.applied
        assert back.ranking[0][0] == data["model"]


@pytest.mark.parametrize("field, value", [("model", 3), ("cluster", "x"), ("ranking", [1]), ("score", float("inf")),
                                          ("in_distribution", "yes"), ("applied", [{"policy": 1}])])
def test_decision_from_dict_names_the_bad_field(router, field, value):
    """A malformed decision is an ArgumentError naming its field."""
    from cactus_router import Decision

    data = router.route("hello").to_dict()
    data[field] = value
    with pytest.raises(ArgumentError, match=field):
        Decision.from_dict(data)


def test_the_fast_decision_constructor_sets_every_field():
    """new_decision (the hot path's) gives exactly what the dataclass constructor gives, every field set."""
    import dataclasses

    from cactus_router.routing.decision import new_decision

    args = ("m1", 3, 0.5, 0.25, 0.125, 2.0, 0.75, (("m1", 0.75),), 0.5, 1.5, 0.01)
    fast, slow = new_decision(*args), Decision(*args)
    assert fast == slow and hash(fast) == hash(slow) and repr(fast) == repr(slow)
    assert [getattr(fast, f.name) for f in dataclasses.fields(Decision)] == [*args, True, (), None, None]
    with pytest.raises(dataclasses.FrozenInstanceError):
        fast.model = "other"  # type: ignore[misc]
    assert type(fast) is Decision


def test_the_fast_tier_copy_keeps_every_field():
    """with_tier (the tier policy's copy) equals dataclasses.replace on a decision with no field at its default."""
    import dataclasses

    from cactus_router.routing.decision import Applied, with_tier

    d = Decision("m1", 3, 0.5, 0.25, 0.125, 2.0, 0.75, (("m1", 0.75),), 0.5, 1.5, 0.01, False,
                 (Applied("p", "why"),), "Complex", 0.5)
    fast, slow = with_tier(d, "Ambiguous", 0.25), dataclasses.replace(d, tier="Ambiguous", tier_probability=0.25)
    assert type(fast) is Decision and fast == slow and repr(fast) == repr(slow) and fast is not d
    assert [getattr(fast, f.name) for f in dataclasses.fields(Decision)] == [getattr(slow, f.name)
                                                                             for f in dataclasses.fields(Decision)]
    with pytest.raises(dataclasses.FrozenInstanceError):
        fast.tier = "Standard"  # type: ignore[misc]
