"""Policies after scoring: a new one is a class plus one registry line; none escapes eligibility."""

from __future__ import annotations

import numpy as np
import pytest
from cr_factories import make_profile
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cactus_router import PolicyError, Router
from cactus_router.routing import REGISTRY, Decision, PolicyContext, RouteRequest
from cactus_router.routing.policies import changed


class CheaperIfClose:
    """A policy written the way a user would: when the runner-up scores within 0.25 of the choice
    and costs less, take it."""

    name = "cheaper-if-close"

    def apply(self, decision: Decision, request: RouteRequest, context: PolicyContext) -> Decision:
        if len(decision.ranking) < 2:
            return decision
        (first, s1), (second, s2) = decision.ranking[:2]
        ids = context.scorer.ids
        c1, c2 = context.scorer.costs[ids.index(first)], context.scorer.costs[ids.index(second)]
        if s2 - s1 > 0.25 or c2 >= c1:
            return decision
        ranking = ((second, s2), (first, s1), *decision.ranking[2:])
        return changed(decision, self.name, f"{second} scores within 0.25 of {first} and costs less",
                       model=second, score=s2, cost=float(c2), ranking=ranking)


class Rogue:
    """A broken policy: always picks the profile's first model, eligible or not."""

    name = "rogue"

    def apply(self, decision: Decision, request: RouteRequest, context: PolicyContext) -> Decision:
        first = context.scorer.ids[0]
        return changed(decision, self.name, "always the first", model=first, ranking=((first, 0.0),))


@pytest.fixture()
def registered(monkeypatch):
    # The one line a new policy needs: its registry entry.
    monkeypatch.setitem(REGISTRY, CheaperIfClose.name, CheaperIfClose)


def test_a_new_policy_is_a_class_and_a_registry_line(registered, hash_profile, hash_embedder):
    """A registered policy is usable by name; route, route_many and explain show its effect alike."""
    plain = Router(hash_profile, hash_embedder, policies=["out-of-distribution"])
    with_rule = Router(hash_profile, hash_embedder, policies=["out-of-distribution", "cheaper-if-close"])
    prompts = [f"prompt number {i} about {w}" for i, w in enumerate(["maths", "code", "law", "poems"] * 8)]
    batch = with_rule.route_many(prompts, cost_bias=0.0)
    hits = 0
    for p, b in zip(prompts, batch):
        d, base = with_rule.route(p, cost_bias=0.0), plain.route(p, cost_bias=0.0)
        assert (d.model, d.ranking, d.applied) == (b.model, b.ranking, b.applied)
        if d.applied:
            hits += 1
            assert d.applied[-1].policy == "cheaper-if-close" and d.model == base.ranking[1][0]
            assert "policy cheaper-if-close" in str(with_rule.explain(p, cost_bias=0.0))
        else:
            assert d.model == base.model
    assert hits > 0  # the rule fired at least once, so the comparison above was exercised


def test_unknown_policy_names_are_refused(hash_profile, hash_embedder):
    """A policy name not in the registry is a one-line ArgumentError listing the known ones."""
    with pytest.raises(ValueError, match="unknown policy 'nope'; known: out-of-distribution"):
        Router(hash_profile, hash_embedder, policies=["nope"])


def test_a_policy_cannot_pick_an_ineligible_model(hash_profile, hash_embedder):
    """The pipeline refuses a decision naming a model the request excluded, in both paths."""
    r = Router(hash_profile, hash_embedder, policies=[Rogue()])
    ids = hash_profile.model_ids
    with pytest.raises(PolicyError, match="'rogue'"):
        r.route("hello", allow=ids[1:])
    with pytest.raises(PolicyError, match="'rogue'"):
        r.route_many(["hello", "there"], allow=ids[1:])


POLICIES = {**REGISTRY, CheaperIfClose.name: CheaperIfClose}
_DETECTORS: dict[str, object] = {}


def _topic_check(embedder, threshold):
    """A topic check fitted once on hash embeddings of short prompts, with its threshold moved to
    ``threshold`` (0: nothing flagged, 1: everything)."""
    from dataclasses import replace

    from cactus_router.ood import OODChecks, fit_topic

    if "topic" not in _DETECTORS:
        rng = np.random.default_rng(0)
        words = "hello integrate poem far write x^2 sum city river list".split()
        texts = [" ".join(rng.choice(words, size=5)) for _ in range(300)]
        _DETECTORS["topic"] = fit_topic(embedder.embed_many(texts), store_size=32, clusters=3, seed=0)
    return OODChecks(replace(_DETECTORS["topic"], threshold=threshold), None)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                 HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 10_000), bias=st.floats(0, 1), data=st.data(),
       ood=st.sampled_from([None, -1.0, 0.5, 0.99, "topic 0", "topic 0.5", "topic 1"]))
def test_no_policy_picks_an_ineligible_model(hash_embedder, seed, bias, data, ood):
    """For random profiles, requests and thresholds or topic checks, every existing policy keeps to
    the eligible models."""
    from dataclasses import replace

    prof = make_profile(k=3, d=64, m=5, seed=seed, embedder=hash_embedder)
    topic = isinstance(ood, str)
    prof = replace(prof, routing=replace(prof.routing, ood_threshold=None if topic else ood,
                                         fallback=data.draw(st.sampled_from([None, *prof.model_ids]))),
                   ood=_topic_check(hash_embedder, float(ood.split()[1])) if topic else None)
    allow = data.draw(st.lists(st.sampled_from(prof.model_ids), min_size=1, unique=True))
    names = data.draw(st.lists(st.sampled_from(sorted(POLICIES)), min_size=1, max_size=3))
    r = Router(prof, hash_embedder, policies=[POLICIES[n]() for n in names])
    prompts = ["hello there", "integrate x^2", "write a poem", "far far away"]
    for d in [r.route(p, cost_bias=bias, allow=allow) for p in prompts] + list(
            r.route_many(prompts, cost_bias=bias, allow=allow)):
        assert d.model in allow and {m for m, _ in d.ranking} <= set(allow) and d.ranking[0][0] == d.model
    assert np.isin(r.route_many(prompts, allow=allow).models, allow).all()


def _random_rules(data, ids, ledger):
    """A random subset of the rules, with random settings naming the profile's models and tiers."""
    tiers = st.sampled_from(["Standard", "Complex", "Ambiguous"])
    words = st.sampled_from(["hello", "integrate", "poem", "far", "x^2", "write"])
    rules = []
    if data.draw(st.booleans()):
        at = data.draw(st.integers(1, 30))
        rules.append({"name": "length", "unit": data.draw(st.sampled_from(["tokens", "characters"])),
                      "thresholds": [{"at": at, "tier": data.draw(tiers)}]})
    if data.draw(st.booleans()):
        entries = [{"words": [data.draw(words)], **({"tier": data.draw(tiers)} if data.draw(st.booleans())
                                                    else {"model": data.draw(st.sampled_from(ids))})}
                   for _ in range(data.draw(st.integers(1, 3)))]
        rules.append({"name": "keyword", "entries": entries})
    for name in ("math", "code"):
        if data.draw(st.booleans()):
            rules.append({"name": name, "tier": data.draw(tiers)})
    if data.draw(st.booleans()):
        rules.append({"name": "budget", "budget": 10.0, "period": "daily", "ledger": str(ledger),
                      "exhausted": "zero-cost"})
    return rules


def _tiered(prof, data, ledger):
    """``prof`` with random tier counts (or none), a random policy map (or none) and random rules."""
    import json

    from cactus_router import Profile

    doc = json.loads(prof.to_json())
    ids = list(prof.model_ids)
    if data.draw(st.booleans()):
        doc["tiers"] = {"counts": data.draw(st.lists(st.lists(st.integers(0, 9), min_size=3, max_size=3),
                                                     min_size=prof.k, max_size=prof.k)), "smoothing": 1.0}
    if data.draw(st.booleans()):
        doc["policy_map"] = {t: data.draw(st.lists(st.sampled_from(ids), min_size=1, max_size=3, unique=True))
                             for t in data.draw(st.lists(st.sampled_from(["Standard", "Complex", "Ambiguous"]),
                                                         min_size=1, unique=True))}
    doc["policies"] = _random_rules(data, ids, ledger)
    return Profile.from_dict(doc)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                 HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 10_000), bias=st.one_of(st.none(), st.floats(0, 1)), data=st.data(),
       spent=st.sampled_from([0.0, 8.5, 9.7, 12.0]))
def test_no_rule_picks_an_ineligible_model_and_budget_never_raises_the_cost(hash_embedder, tmp_path_factory, seed,
                                                                          bias, data, spent):
    """For random profiles (tier counts, maps, rules) and requests, every decision keeps to the eligible
    models, and adding the budget rule never makes a decision cost more than it would without it."""
    from dataclasses import replace

    from cactus_router import BudgetExceededError
    from cactus_router.tiers.ledger import Ledger

    ledger = tmp_path_factory.mktemp("ledger") / "spend.jsonl"
    if spent:
        Ledger(ledger, "daily").record_spend("m0", spent)
    costs = data.draw(st.lists(st.sampled_from([0.0, 1.0, 2.0, 5.0]), min_size=5, max_size=5))
    prof = _tiered(make_profile(k=3, d=64, m=5, seed=seed, embedder=hash_embedder, costs=costs), data, ledger)
    allow = data.draw(st.lists(st.sampled_from(prof.model_ids), min_size=1, unique=True))
    prompts = ["hello there", "integrate x^2 from 0 to 3", "write a poem", "far far away", "def f(x): return x"]
    r = Router(prof, hash_embedder)
    without = Router(replace(prof, policies=tuple(p for p in prof.policies if p.name != "budget")), hash_embedder)
    for p in prompts:
        try:
            d = r.route(p, cost_bias=bias, allow=allow)
        except BudgetExceededError:
            assert spent >= 10.0  # refused only at 100%, with no free eligible model
            continue
        assert d.model in allow and {m for m, _ in d.ranking} <= set(allow) and d.ranking[0][0] == d.model
        assert d.cost <= without.route(p, cost_bias=bias, allow=allow).cost
    try:
        batch = r.route_many(prompts, cost_bias=bias, allow=allow)
    except BudgetExceededError:
        return
    assert np.isin(batch.models, allow).all()
    assert [(d.model, d.tier) for d in batch] == [(d.model, d.tier) for d in (r.route(p, cost_bias=bias, allow=allow)
                                                                            for p in prompts)]
