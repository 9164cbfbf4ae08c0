"""The rules as policies: length, keyword, math, code and budget, and the fixed order they apply in."""

from __future__ import annotations

import json
import time
from dataclasses import replace

import numpy as np
import pytest
from cr_factories import make_profile

from cactus_router import BudgetExceededError, LedgerError, NoEligibleModelError, Profile, ProfileError, Router
from cactus_router.routing import REGISTRY, default_policies
from cactus_router.routing.policies import Budget, Keyword, Length
from cactus_router.tiers.detectors import detect
from cactus_router.tiers.ledger import Ledger

#: Three models, one cluster: m0 cheap and weak, m2 dear and strong. Without rules the tier is Complex.
ERRORS, COSTS = [0.30, 0.28, 0.10], [1.0, 2.0, 3.0]
MAP = {"Standard": ["m0"], "Complex": ["m2", "m1"], "Ambiguous": ["m1"]}


def _profile(embedder, rules=(), policy_map=None, errors=ERRORS, costs=COSTS, caps=None):
    prof = make_profile(k=1, d=64, m=3, embedder=embedder, costs=costs, caps=caps)
    prof = replace(prof, models=tuple(replace(m, error_rates=np.array([e]), counts=np.array([10]))
                                      for m, e in zip(prof.models, errors)))
    doc = json.loads(prof.to_json())
    doc["policies"] = list(rules)
    if policy_map is not None:
        doc["policy_map"] = policy_map
    return Profile.from_dict(doc)


def _standard(embedder, rules, **kw):
    """A router whose prompts are all Standard (the cheapest model is the best), mapped by MAP."""
    return Router(_profile(embedder, rules, MAP, errors=[0.10, 0.28, 0.30], **kw), embedder)


LENGTH = {"name": "length", "unit": "characters", "thresholds": [{"at": 30, "tier": "Complex"},
                                                                  {"at": 60, "tier": "Ambiguous"}]}


@pytest.mark.parametrize("prompt, tier, model", [
    ("short prompt", "Standard", "m0"),
    ("a prompt of thirty-odd characters", "Complex", "m2"),
    ("a prompt long enough to pass the sixty-character threshold here", "Ambiguous", "m1"),
])
def test_the_length_rule_raises_the_tier_to_the_highest_threshold_reached(hash_embedder, prompt, tier, model):
    """Each threshold reached raises the tier; the map then picks that tier's model; batch equals single."""
    r = _standard(hash_embedder, [LENGTH])
    d, b = r.route(prompt), r.route_many([prompt])[0]
    assert (d.tier, d.model) == (tier, model) == (b.tier, b.model)
    assert (d.applied[-1].policy == "length") == (tier != "Standard")


def test_the_length_rule_counts_tokens(hash_embedder):
    """In tokens, words and punctuation marks count, not characters."""
    rule = {"name": "length", "unit": "tokens", "thresholds": [{"at": 5, "tier": "Complex"}]}
    r = _standard(hash_embedder, [rule])
    assert r.route("one two three four").tier == "Standard"
    assert r.route("one two three, four").tier == "Complex"  # the comma is the fifth token
    assert "5 tokens >= 5" in r.route("one two three, four").applied[-1].reason


def test_the_length_rule_never_lowers_a_tier(hash_embedder):
    """A Complex prompt stays Complex, however short."""
    r = Router(_profile(hash_embedder, [LENGTH], MAP), hash_embedder)
    assert r.route("hi").tier == "Complex" and not any(a.policy == "length" for a in r.route("hi").applied)


def test_text_rules_leave_embeddings_alone(hash_embedder):
    """route_embedding has no text, so the length rule cannot apply and the decision is the tier's."""
    r = _standard(hash_embedder, [LENGTH])
    long = "a prompt long enough to pass the sixty-character threshold here"
    assert r.route_embedding(hash_embedder.embed(long)).tier == "Standard"


KEYWORDS = {"name": "keyword", "entries": [
    {"words": ["prove", "theorem"], "tier": "Complex"},
    {"regex": r"\bforecast(?:ing)?\b", "tier": "Ambiguous"},
    {"words": ["quick question"], "tier": "Standard"},
    {"regex": r"(?i)\bsql\b", "model": "m1"},
]}


@pytest.mark.parametrize("prompt, tier, model", [
    ("Prove it", "Complex", "m2"),
    ("prove the theorem and give a forecast", "Ambiguous", "m1"),  # the most severe wins
    ("improve my essay", "Standard", "m0"),  # whole words only
    ("write SQL that proves the theorem", "Standard", "m1"),  # a model entry beats the tiers
])
def test_keywords_force_a_tier_or_a_model(hash_embedder, prompt, tier, model):
    """Words match whole and in any case; when several match, a model wins, then the most severe tier."""
    r = _standard(hash_embedder, [KEYWORDS])
    d = r.route(prompt)
    assert (d.tier, d.model) == (tier, model)
    assert (r.route_many([prompt])[0].model, r.route_many([prompt])[0].tier) == (model, tier)


def test_a_keyword_can_lower_the_tier_and_a_forced_model_must_be_eligible(hash_embedder):
    """A keyword sets its tier even below the router's; a model the request excluded is passed over and said."""
    r = Router(_profile(hash_embedder, [KEYWORDS], MAP), hash_embedder)
    assert r.route("hello").tier == "Complex"
    assert (r.route("quick question: hello").tier, r.route("quick question: hello").model) == ("Standard", "m0")
    d = r.route("SQL please", allow=["m0", "m2"])
    assert d.model == "m2" and "'SQL' asks for m1, which the request excluded" in d.applied[-1].reason


def test_keyword_patterns_see_the_head_and_tail_of_long_prompts(hash_embedder):
    """A word in the middle of a very long prompt is beyond the scanned part; at its end it is seen."""
    r = _standard(hash_embedder, [KEYWORDS])
    filler = "lorem ipsum " * 400
    assert r.route(filler + "prove" + filler).tier == "Standard"
    assert r.route(filler + "prove").tier == "Complex"


@pytest.mark.parametrize("regex", [r"(a+)+$", r"(a|aa)*b", r"(\w+\s?)*$", r"(x)\1", r"\w+\w+x", r"(?P<a>x)(?P=a)",
                                   "(", "a" * 201])
def test_catastrophic_or_malformed_patterns_are_refused_by_field(hash_embedder, regex):
    """A pattern that could backtrack without bound, or does not compile, is a ProfileError naming it."""
    rule = {"name": "keyword", "entries": [{"regex": regex, "tier": "Complex"}]}
    with pytest.raises(ProfileError, match=r"\$.policies\[0\].entries\[0\].regex"):
        _profile(hash_embedder, [rule])


@pytest.mark.parametrize("prompt, kind, fires", [
    ("What is 17 * 23 + 4?", "math", True),
    ("Solve for x: $x^2 - 5x + 6 = 0$", "math", True),
    ("Tom has 3 apples and buys 5 more. How many apples does he have in total?", "math", True),
    ("What is the capital of France?", "math", False),
    ("def add(a, b):\n    return a + b\n\nFix this function.", "code", True),
    ("Write a function to reverse a string in Python.", "code", True),
    ("What is the capital of France?", "code", False),
    ("def f(x):\n    return x * 2 + 1", "math", False),  # code syntax is not a maths question
])
def test_the_detectors_on_plain_examples(prompt, kind, fires):
    """The heuristics fire on clear maths and code and stay quiet on a plain question."""
    assert detect(kind, prompt) is fires


def test_a_detector_raises_the_tier(hash_embedder):
    """The math rule moves a maths prompt to its tier and says which signals fired."""
    r = _standard(hash_embedder, [{"name": "math", "tier": "Complex"}])
    d = r.route("Solve for x: $x^2 - 5x + 6 = 0$")
    assert (d.tier, d.model) == ("Complex", "m2") and "math detected (" in d.applied[-1].reason
    assert r.route("What is the capital of France?").tier == "Standard"


def test_a_detector_can_require_a_capability(hash_embedder):
    """The code rule may require a capability: the best-ranked eligible model with it, or a typed error."""
    caps = [frozenset({"text"}), frozenset({"text", "tools"}), frozenset({"text"})]
    r = _standard(hash_embedder, [{"name": "code", "tier": None, "require": "tools"}], caps=caps)
    code = "Write a function to reverse a string in Python."
    assert r.route(code).model == "m1" and r.route("hello there").model == "m0"
    with pytest.raises(NoEligibleModelError, match="requires capability 'tools'"):
        r.route(code, allow=["m0", "m2"])


def _budget(tmp_path, **kw):
    return {"name": "budget", "budget": 10.0, "period": "daily", "ledger": str(tmp_path / "spend.jsonl"), **kw}


@pytest.mark.parametrize("spent, model, says", [
    (0.0, "m2", None),
    (7.9, "m2", None),
    (8.0, "m0", "tier Complex -> Standard"),  # 80%: one tier down
    (9.5, "m0", "the cheapest eligible model m0"),  # 95%: the cheapest
])
def test_the_budget_steps_down_as_spend_grows(tmp_path, hash_embedder, spent, model, says):
    """Below 80% nothing changes; from 80% a Complex decision moves to Standard; from 95% the cheapest model."""
    r = Router(_profile(hash_embedder, [_budget(tmp_path)], MAP), hash_embedder)
    if spent:
        r.record_spend("m2", spent)
    d = r.route("hello")
    assert d.model == model and d.cost <= 3.0
    assert (says is None and not any(a.policy == "budget" for a in d.applied)) or says in d.applied[-1].reason
    assert r.route_many(["hello"])[0].model == model


def test_down_tier_without_a_map_takes_a_cheaper_model(tmp_path, hash_embedder):
    """Without a Complex decision to move, down-tier means the best-ranked model that costs less."""
    r = Router(_profile(hash_embedder, [_budget(tmp_path)]), hash_embedder)
    assert r.route("hello", cost_bias=0.0).model == "m2"
    r.record_spend("m2", 8.5)
    d = r.route("hello", cost_bias=0.0)
    assert d.model in ("m0", "m1") and d.cost < 3.0 and "spent 8.5 of 10 (85%) this day" in d.applied[-1].reason


def test_an_exhausted_budget_keeps_free_models_or_refuses(tmp_path, hash_embedder):
    """At 100%: zero-cost keeps only models of cost 0 (else an error); error refuses at once."""
    free = Router(_profile(hash_embedder, [_budget(tmp_path)], costs=[0.0, 2.0, 3.0]), hash_embedder)
    free.record_spend("m2", 10.0)
    assert free.route("hello").model == "m0"
    with pytest.raises(BudgetExceededError, match="no eligible model costs 0"):
        free.route("hello", allow=["m1", "m2"])
    strict = Router(_profile(hash_embedder, [_budget(tmp_path, exhausted="error")]), hash_embedder)
    with pytest.raises(BudgetExceededError, match=r"policies\[0\] \(budget\): spent 10 of 10 \(100%\)"):
        strict.route("hello")


def test_the_budget_counts_the_current_period_only(tmp_path):
    """Spends of an earlier day or month do not count toward this one."""
    day = Ledger(tmp_path / "d.jsonl", "daily")
    month = Ledger(tmp_path / "d.jsonl", "monthly")
    now = time.time()
    day.record_spend("m", 4.0, now=now - 40 * 86400)
    day.record_spend("m", 1.5, now=now)
    assert day.spent(now) == 1.5 and month.spent(now) == 1.5
    assert day.spent(now - 40 * 86400) == 4.0


@pytest.mark.parametrize("setup, message", [
    (lambda p: p.mkdir(), "is not a regular file"),
    (lambda p: p.symlink_to(p.parent / "elsewhere"), "is not a regular file"),
    (lambda p: p.write_text("deadbeef {\"t\": 1, \"model\": \"m\", \"amount\": 1}\n"), "line 1 fails its checksum"),
    (lambda p: p.write_bytes(b"00000000 {}"), "line 1 is incomplete"),
])
def test_a_bad_ledger_is_a_typed_error_naming_the_rule(tmp_path, hash_embedder, setup, message):
    """A ledger that is not a plain file, or is corrupt, fails Router construction in one line."""
    setup(tmp_path / "spend.jsonl")
    with pytest.raises(LedgerError, match=rf"policies\[0\] \(budget\).ledger: .*spend.jsonl: {message}"):
        Router(_profile(hash_embedder, [_budget(tmp_path)]), hash_embedder)


def test_an_unwritable_ledger_folder_is_refused(tmp_path, hash_embedder):
    """A ledger in a folder that does not exist cannot be created: refused up front."""
    rule = {**_budget(tmp_path), "ledger": str(tmp_path / "no" / "such" / "spend.jsonl")}
    with pytest.raises(LedgerError, match="is not a writable folder"):
        Router(_profile(hash_embedder, [rule]), hash_embedder)


def test_corruption_after_loading_is_never_reset(tmp_path, hash_embedder):
    """A line that goes bad while routing fails the next route and the next spend, and stays in the file."""
    r = Router(_profile(hash_embedder, [_budget(tmp_path)]), hash_embedder)
    r.record_spend("m0", 1.0)
    path = tmp_path / "spend.jsonl"
    path.write_bytes(path.read_bytes().replace(b"1.0", b"9.0"))
    with pytest.raises(LedgerError, match="line 1 fails its checksum"):
        r.route("hello")
    before = path.read_bytes()
    with open(path, "ab") as fh:
        fh.write(b"partial")
    with pytest.raises(LedgerError, match="incomplete"):
        r.record_spend("m0", 1.0)
    assert path.read_bytes() == before + b"partial"


@pytest.mark.parametrize("model, amount, message", [
    ("nope", 1.0, "'nope' is not a model of the profile"),
    ("m0", -1.0, "finite number >= 0"),
    ("m0", float("nan"), "finite number >= 0"),
])
def test_record_spend_checks_its_arguments(tmp_path, hash_embedder, model, amount, message):
    """record_spend refuses an unknown model or a bad amount, writing nothing."""
    r = Router(_profile(hash_embedder, [_budget(tmp_path)]), hash_embedder)
    with pytest.raises(ValueError, match=message):
        r.record_spend(model, amount)
    assert not (tmp_path / "spend.jsonl").exists()


def test_rules_apply_in_the_fixed_order_whatever_the_list_says(tmp_path, hash_embedder):
    """default_policies orders the profile's rules as documented, and budget has the last word."""
    rules = [_budget(tmp_path), KEYWORDS, {"name": "code"}, LENGTH, {"name": "math"}]
    prof = _profile(hash_embedder, rules, MAP)
    assert [p.name for p in default_policies(prof)] == [
        "out-of-distribution", "tier", "length", "math", "code", "keyword", "budget"]
    r = Router(prof, hash_embedder)
    r.record_spend("m2", 9.6)
    d = r.route("prove the theorem")
    assert d.model == "m0" and [a.policy for a in d.applied][-1] == "budget"


def test_rules_by_name_read_the_profiles_configuration(tmp_path, hash_embedder):
    """A rule named in policies=[...] takes its settings from the profile; without them it does nothing."""
    prof = _profile(hash_embedder, [LENGTH], MAP, errors=[0.10, 0.28, 0.30])
    long = "a prompt long enough to pass the sixty-character threshold here"
    assert Router(prof, hash_embedder, policies=["tier", "length"]).route(long).tier == "Ambiguous"
    bare = _profile(hash_embedder, [], MAP, errors=[0.10, 0.28, 0.30])
    assert Router(bare, hash_embedder, policies=["tier", "length", "keyword", "budget"]).route(long).tier == "Standard"
    assert {"length", "keyword", "math", "code", "budget"} <= set(REGISTRY)


def test_rules_given_in_code(tmp_path, hash_embedder):
    """A rule object passed in code applies to a profile that configures none."""
    from cactus_router.tiers.rules import KeywordRule, LengthRule, parse_rule

    def fail(path, msg):
        return ValueError(f"{path} {msg}")

    length = parse_rule(LENGTH, "length", fail, ["m0", "m1", "m2"], {"text"})
    keyword = parse_rule(KEYWORDS, "keyword", fail, ["m0", "m1", "m2"], {"text"})
    assert isinstance(length, LengthRule) and isinstance(keyword, KeywordRule)
    prof = _profile(hash_embedder, [], MAP, errors=[0.10, 0.28, 0.30])
    r = Router(prof, hash_embedder, policies=["tier", Length(length), Keyword(keyword),
                                              Budget(parse_rule(_budget(tmp_path), "b", fail, [], {"text"}))])
    assert r.route("prove it").tier == "Complex"
    r.record_spend("m2", 9.9)
    assert r.route("prove it").model == "m0"


def test_the_spend_command_records_and_shows_and_route_json_shows_the_rules(tmp_path, hash_embedder):
    """spend PROFILE MODEL AMOUNT appends to the ledger; route --json then shows the budget's effect."""
    from click.testing import CliRunner

    from cactus_router.cli import cli

    path = tmp_path / "p.json"
    _profile(hash_embedder, [_budget(tmp_path), KEYWORDS], MAP).save(path)
    run = CliRunner().invoke
    res = run(cli, ["spend", str(path), "m2", "9.6", "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.output) == {"spent": 9.6, "budget": 10.0, "period": "daily",
                                      "ledger": str(tmp_path / "spend.jsonl")}
    doc = json.loads(run(cli, ["route", "a forecast, please", "--profile", str(path), "--json"]).output)
    assert doc["model"] == "m0" and [a["policy"] for a in doc["applied"]][-2:] == ["keyword", "budget"]
    bad = run(cli, ["spend", str(path), "nope", "1"])
    assert bad.exit_code == 1 and "'nope' is not a model of the profile" in bad.output
    assert "spent 9.6 of 10" in run(cli, ["spend", str(path)]).output
