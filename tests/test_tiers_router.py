"""The tier router: tier fields in profiles, Decision.tier, tiers from counts or the derived rule,
the policy map, train --tiers and the policy command."""

from __future__ import annotations

import json
from dataclasses import replace
from importlib import resources

import numpy as np
import pytest
from click.testing import CliRunner
from cr_factories import make_profile

from cactus_router import Decision, Profile, ProfileError, Router, RoutingTableError
from cactus_router.cli import cli
from cactus_router.profile import TierCounts, TierRule
from cactus_router.tiers import TIERS

PROMPTS = ["hello there", "integrate x^2 dx", "write a poem about rain", "far far away", "SELECT * FROM t"]


def _with_tiers(prof, counts=None, smoothing=0.0, rule=None, policy_map=None, temperature=None, ood=None):
    routing = prof.routing if temperature is None else replace(prof.routing, temperature=temperature)
    if ood is not None:
        routing = replace(routing, ood_threshold=ood)
    return replace(prof, tiers=TierCounts(None if counts is None else np.asarray(counts), smoothing, rule),
                   policy_map=policy_map, routing=routing)


def test_a_profile_without_tier_fields_is_written_byte_for_byte_as_before():
    """The bundled default profile (no tier fields) saves to exactly its file's bytes."""
    raw = (resources.files("cactus_router") / "profiles" / "default.json").read_text(encoding="utf-8")
    prof = Profile.from_json(raw)
    assert prof.tiers is None and prof.policy_map is None and prof.policies == ()
    assert prof.to_json() == raw


def test_tier_fields_round_trip(hash_profile):
    """Tier counts, the rule, a policy map and rules survive to_json and from_json unchanged."""
    prof = _with_tiers(hash_profile, counts=[[1, 2, 3]] * hash_profile.k, smoothing=2.0,
                       rule=TierRule(0.1, 0.6), policy_map={"Complex": ("m2", "m1"), "Standard": ("m0",)})
    doc = json.loads(prof.to_json())
    doc["policies"] = [{"name": "length", "unit": "characters", "thresholds": [{"at": 100, "tier": "Complex"}]},
                       {"name": "keyword", "entries": [{"words": ["prove"], "tier": "Ambiguous"}]}]
    back = Profile.from_dict(doc)
    assert Profile.from_json(back.to_json()).to_json() == back.to_json()
    assert list(json.loads(back.to_json())["policy_map"]) == ["Standard", "Complex"]  # TIERS order
    assert back.tiers.counts.tolist() == [[1, 2, 3]] * hash_profile.k and back.tiers.rule == TierRule(0.1, 0.6)


@pytest.mark.parametrize("field, value, message", [
    ("tiers", {"counts": [[1, 2]]}, r"\$.tiers.counts must have shape \[4, 3\]"),
    ("tiers", {"counts": [[1, 2, -1]] * 4}, r"\$.tiers.counts\[0\]\[2\] must be finite and in"),
    ("tiers", {"rule": {"margin": 2}}, r"\$.tiers.rule.margin must be in \[0.0, 1.0\]"),
    ("tiers", {"extra": 1}, r"\$.tiers.extra is not a field of tiers"),
    ("policy_map", {"Hard": ["m0"]}, r"\$.policy_map key must be one of Standard, Complex, Ambiguous, got 'Hard'"),
    ("policy_map", {"Complex": ["nope"]}, r"\$.policy_map.Complex names 'nope', which is not a model"),
    ("policy_map", {"Complex": []}, r"\$.policy_map.Complex must be an array of 1 to"),
    ("policy_map", {"Complex": ["m0", "m0"]}, r"\$.policy_map.Complex names a model twice"),
    ("policies", [{"name": "speed"}], r"\$.policies\[0\].name must be one of length, keyword, math, code, budget"),
    ("policies", [{"name": "keyword", "entries": [{"regex": "(", "tier": "Complex"}]}],
     r"\$.policies\[0\].entries\[0\].regex is not a valid regular expression"),
    ("policies", [{"name": "keyword", "entries": [{"words": ["x"], "model": "nope"}]}],
     r"\$.policies\[0\].entries\[0\].model must be one of the profile's model ids"),
    ("policies", [{"name": "math", "tier": "Hard"}], r"\$.policies\[0\].tier must be one of Standard"),
    ("policies", [{"name": "math"}, {"name": "math"}], r"\$.policies\[1\].name repeats rule 'math'"),
])
def test_bad_tier_fields_name_their_json_path(hash_profile, field, value, message):
    """Every new field is checked on load and its first problem named by JSON path."""
    doc = json.loads(hash_profile.to_json())
    doc[field] = value
    with pytest.raises(ProfileError, match=message):
        Profile.from_dict(doc, what="p.json")


def test_decision_tier_round_trips_and_old_json_reads_as_none(hash_profile, hash_embedder):
    """to_dict carries tier and tier_probability; JSON without them (before tiers) reads as None."""
    prof = _with_tiers(hash_profile, counts=[[5, 1, 0], [0, 4, 1], [1, 1, 6], [2, 2, 2]])
    d = Router(prof, hash_embedder).route("hello there")
    data = json.loads(json.dumps(d.to_dict()))
    assert data["tier"] in TIERS and 0 < data["tier_probability"] <= 1
    back = Decision.from_dict(data)
    assert (back.tier, back.tier_probability, back.to_dict()) == (d.tier, round(d.tier_probability, 6), data)
    old = {k: v for k, v in data.items() if not k.startswith("tier")}
    assert (Decision.from_dict(old).tier, Decision.from_dict(old).tier_probability) == (None, None)
    with pytest.raises(ValueError, match="decision field 'tier' must be one of"):
        Decision.from_dict({**data, "tier": "Hard"})


def _expected_from_counts(prof, embedder, prompt, counts, smoothing):
    """An independent NumPy reading of docs/tiers.md: smoothed shares, softmax-weighted over clusters."""
    c = np.asarray(counts, dtype=float)
    overall = c.sum(axis=0) / c.sum()
    shares = (c + smoothing * overall) / (c.sum(axis=1, keepdims=True) + smoothing)
    v = embedder.embed(prompt).astype(float)
    cent = prof.centroids / np.linalg.norm(prof.centroids, axis=1, keepdims=True)
    sims = cent @ (v / np.linalg.norm(v))
    t = prof.routing.temperature
    w = np.eye(len(c))[np.argmax(sims)] if t == 0 else np.exp(sims / t) / np.exp(sims / t).sum()
    p = w @ shares
    return TIERS[int(np.argmax(p))], float(p.max())


@pytest.mark.parametrize("temperature", [0.0, 0.05, 0.5])
def test_tiers_from_counts_match_an_independent_computation(hash_profile, hash_embedder, temperature):
    """The tier and its probability are the soft-assigned smoothed tier shares, in route and route_many alike."""
    counts = [[9, 1, 0], [1, 7, 2], [0, 2, 8], [3, 3, 4]]
    prof = _with_tiers(hash_profile, counts=counts, smoothing=2.0, temperature=temperature)
    r = Router(prof, hash_embedder)
    batch = r.route_many(PROMPTS)
    for p, b in zip(PROMPTS, batch):
        tier, prob = _expected_from_counts(prof, hash_embedder, p, counts, 2.0)
        d = r.route(p)
        assert (d.tier, b.tier) == (tier, tier)
        assert d.tier_probability == pytest.approx(prob, abs=1e-6)
        assert b.tier_probability == pytest.approx(d.tier_probability, abs=1e-12)
    assert batch.tiers == tuple(d.tier for d in batch)


def test_an_out_of_distribution_prompt_gets_the_overall_tier_shares(hash_profile, hash_embedder):
    """Below the OOD threshold the clusters' tier shares say little: the overall ones decide."""
    counts = [[0, 0, 9], [0, 0, 9], [0, 0, 9], [30, 0, 0]]  # overall: Standard 30 of 57
    prof = _with_tiers(hash_profile, counts=counts, ood=1.0)
    d = Router(prof, hash_embedder).route("hello there")
    assert not d.in_distribution and d.tier == "Standard" and d.tier_probability == pytest.approx(30 / 57)


def _rates_profile(errors, costs, embedder):
    """One cluster, so each model's expected error is its rate, whatever the prompt."""
    prof = make_profile(k=1, d=64, m=len(errors), embedder=embedder, costs=costs)
    models = tuple(replace(m, error_rates=np.array([e]), counts=np.array([10])) for m, e in zip(prof.models, errors))
    return replace(prof, models=models)


@pytest.mark.parametrize("errors, rule, tier", [
    ([0.30, 0.28, 0.10], TierRule(0.05, 0.5), "Complex"),  # the cheapest is 0.20 behind the best
    ([0.12, 0.28, 0.10], TierRule(0.05, 0.5), "Standard"),  # the cheapest is within 0.05 of the best
    ([0.70, 0.65, 0.60], TierRule(0.05, 0.5), "Ambiguous"),  # every model above 0.5
    ([0.70, 0.65, 0.60], TierRule(0.05, 0.65), "Complex"),  # the threshold comes from the profile
    ([0.30, 0.28, 0.10], TierRule(0.25, 0.5), "Standard"),
])
def test_the_derived_rule_reads_the_expected_errors(hash_embedder, errors, rule, tier):
    """Without tier counts, the documented rule on the eligible models' expected errors gives the tier."""
    prof = _with_tiers(_rates_profile(errors, [1.0, 2.0, 3.0], hash_embedder), rule=rule)
    r = Router(prof, hash_embedder)
    for cost_bias in (0.0, 0.5, 1.0):
        d = r.route("anything at all", cost_bias=cost_bias)
        assert d.tier == tier and d.tier_probability is None
        assert r.route_many(["anything at all"], cost_bias=cost_bias).tiers == (tier,)


def test_the_derived_rule_looks_at_eligible_models_only(hash_embedder):
    """Excluding the best model changes which error the cheapest is compared with."""
    r = Router(_rates_profile([0.30, 0.28, 0.10], [1.0, 2.0, 3.0], hash_embedder), hash_embedder)
    assert r.route("x").tier == "Complex"
    assert r.route("x", allow=["m0", "m1"]).tier == "Standard"


def test_the_policy_map_picks_the_first_eligible_model_of_the_tier(hash_embedder):
    """With a map, the tier's list decides; the request's constraints still apply."""
    prof = _with_tiers(_rates_profile([0.30, 0.28, 0.10], [1.0, 2.0, 3.0], hash_embedder),
                       policy_map={"Complex": ("m1", "m0"), "Standard": ("m0",)})
    r = Router(prof, hash_embedder)
    d = r.route("x")
    assert (d.tier, d.model) == ("Complex", "m1") and d.ranking[0][0] == "m1"
    assert "the policy map's Complex list chose m1" in d.applied[-1].reason
    assert r.route("x", allow=["m0", "m2"]).model == "m0"
    stands = r.route("x", allow=["m2"])
    assert stands.model == "m2" and "no model of the Standard list [m0] is eligible" in stands.applied[-1].reason
    assert [x.model for x in r.route_many(["x", "y"], allow=["m0", "m2"])] == ["m0", "m0"]


def test_cost_bias_orders_a_tiers_list_and_the_decision_says_so(hash_embedder):
    """A request that sets cost_bias orders the tier's list by the cluster rule's scores."""
    prof = _with_tiers(_rates_profile([0.30, 0.28, 0.10], [1.0, 2.0, 3.0], hash_embedder),
                       policy_map={"Complex": ("m1", "m2")})
    r = Router(prof, hash_embedder)
    best = r.route("x", cost_bias=0.0)
    assert best.model == "m2" and "cost_bias 0 ordered the Complex list: m2" in best.applied[-1].reason
    assert r.route("x", cost_bias=1.0).model == "m1"
    assert r.route("x").model == "m1"  # no cost_bias in the request: the map's order


def test_a_tier_the_map_does_not_name_keeps_the_cluster_rule(hash_embedder):
    """A map without a list for the prompt's tier leaves the cluster rule's choice."""
    prof = _with_tiers(_rates_profile([0.30, 0.28, 0.10], [1.0, 2.0, 3.0], hash_embedder),
                       policy_map={"Standard": ("m2",)})
    r = Router(prof, hash_embedder)
    plain = Router(replace(prof, policy_map=None), hash_embedder)
    assert r.route("x").model == plain.route("x").model


def _table(tmp_path):
    path = tmp_path / "t.jsonl"
    rng = np.random.default_rng(0)
    lines = []
    for i in range(60):
        hard = i % 2 == 1
        prompt = f"integrate the function x^{i} over [0, {i}]" if hard else f"say hello to my friend number {i}"
        lines.append({"prompt": prompt, "scores": {"med": 0 if hard else 1, "big": int(rng.random() < 0.9)}})
    path.write_text("".join(json.dumps(x) + "\n" for x in lines))
    (tmp_path / "models.json").write_text('[{"id": "med", "cost": 1}, {"id": "big", "cost": 10}]')
    return path


def test_train_with_tiers_stores_per_cluster_counts(tmp_path):
    """train --tiers and --tiers-from store the same counts: each cluster's labelled rows by tier."""
    from cactus_router.data import read_table
    from cactus_router.tiers import label_rows

    table = _table(tmp_path)
    base = ["train", str(table), "--models", str(tmp_path / "models.json"), "--embedder", "hash", "--k", "3",
            "--smoothing", "0", "--temperature", "0"]
    run = CliRunner().invoke
    assert run(cli, ["label-tiers", str(table), "--medium", "med", "--large", "big",
                     "-o", str(tmp_path / "tiers.jsonl")]).exit_code == 0
    res = run(cli, [*base, "--tiers", str(tmp_path / "tiers.jsonl"), "-o", str(tmp_path / "a.json")])
    assert res.exit_code == 0, res.output
    assert run(cli, [*base, "--tiers-from", "med,big", "-o", str(tmp_path / "b.json")]).exit_code == 0
    a, b = Profile.load(tmp_path / "a.json"), Profile.load(tmp_path / "b.json")
    assert a.tiers.counts.tolist() == b.tiers.counts.tolist()
    rows = read_table(table)
    labels = [x.tier for x in label_rows(rows, "med", "big")]
    clusters = Router.load(a, embedder="hash").route_many([r.prompt for r in rows]).cluster
    expected = np.zeros((a.k, 3), dtype=int)
    for c, t in zip(clusters, labels):
        expected[c, TIERS.index(t)] += 1
    assert a.tiers.counts.tolist() == expected.tolist()
    assert a.training["tiers"]["medium"] == "med" and a.training["tiers"]["labelled"] == 60


@pytest.mark.parametrize("args, message", [
    (["--tiers-from", "med"], "must be MEDIUM,LARGE"),
    (["--tiers-from", "med,nope"], "large model 'nope' is not scored"),
    (["--tiers", "T", "--tiers-from", "med,big"], "not both"),
])
def test_train_tier_options_fail_in_one_line_writing_nothing(tmp_path, args, message):
    """A bad tier option is a one-line error and no profile is written."""
    table = _table(tmp_path)
    res = CliRunner().invoke(cli, ["train", str(table), "--models", str(tmp_path / "models.json"), "--embedder",
                                   "hash", "--k", "2", *args, "-o", str(tmp_path / "p.json")])
    assert res.exit_code != 0 and message in res.output and not (tmp_path / "p.json").exists()


def test_train_refuses_tiers_that_are_not_one_per_row(hash_embedder):
    """The training API checks the tier list against the rows."""
    from cactus_router.data import RoutingRow
    from cactus_router.training import train

    rows = [RoutingRow(f"p{i}", {"a": 1.0}) for i in range(4)]
    with pytest.raises(RoutingTableError, match="3 tier labels for 4 training rows"):
        train(rows, [{"id": "a", "cost": 1}], embedder=hash_embedder, k=2, tiers=["Standard"] * 3)
    with pytest.raises(RoutingTableError, match=r"tiers\[1\] must be one of"):
        train(rows, [{"id": "a", "cost": 1}], embedder=hash_embedder, k=2, tiers=["Standard", "Hard", None, None])


def test_the_policy_command_edits_the_map_and_refuses_unknown_models(tmp_path, hash_profile):
    """policy --set writes the map; an unknown model or tier is one line and writes nothing."""
    src, out = tmp_path / "p.json", tmp_path / "out.json"
    hash_profile.save(src)
    run = CliRunner().invoke
    res = run(cli, ["policy", str(src), "--set", "Complex=m2,m1", "--set", "Standard=m0", "--margin", "0.1",
                    "-o", str(out)])
    assert res.exit_code == 0, res.output
    edited = Profile.load(out)
    assert dict(edited.policy_map) == {"Complex": ("m2", "m1"), "Standard": ("m0",)}
    assert edited.tiers.rule == TierRule(0.1, TierRule.ambiguous_error)
    cleared = run(cli, ["policy", str(out), "--clear", "Complex"])
    assert cleared.exit_code == 0 and dict(Profile.load(out).policy_map) == {"Standard": ("m0",)}
    before = out.read_bytes()
    for bad, message in ((["--set", "Complex=m0,nope"], "'nope', which is not a model of the profile"),
                         (["--set", "Hard=m0"], "must be one of Standard, Complex, Ambiguous, got 'Hard'")):
        res = run(cli, ["policy", str(out), *bad])
        assert res.exit_code == 1 and message in res.output and len(res.output.strip().splitlines()) == 1
        assert out.read_bytes() == before


def test_the_policy_command_sets_rules_from_a_file(tmp_path, hash_profile):
    """policy --rules replaces the profile's rules, each checked with its path in the rules file."""
    src, rules = tmp_path / "p.json", tmp_path / "rules.json"
    hash_profile.save(src)
    rules.write_text(json.dumps([{"name": "length", "thresholds": [{"at": 50, "tier": "Complex"}]}]))
    assert CliRunner().invoke(cli, ["policy", str(src), "--rules", str(rules)]).exit_code == 0
    assert [r.name for r in Profile.load(src).policies] == ["length"]
    rules.write_text(json.dumps([{"name": "length", "thresholds": [{"at": 0, "tier": "Complex"}]}]))
    res = CliRunner().invoke(cli, ["policy", str(src), "--rules", str(rules)])
    assert res.exit_code == 1 and "$.policies[0].thresholds[0].at must be an integer" in res.output


def _python_rule_inputs(pipeline, ranking, eligibility, lam):
    """The derived rule's two inputs recomputed in Python from a ranking (as the tier policy does
    for a ranking C did not score)."""
    costs = pipeline.scorer.cost_of
    eligible = [costs[j] for j in eligibility.indices]
    lo, span = min(eligible), max(eligible) - min(eligible)
    order, scores = ranking.indexed(pipeline.scorer.index_of)
    errors = [(s - lam * ((costs[j] - lo) / span if span > 0 else 0.0), costs[j]) for j, s in zip(order, scores)]
    return min(e for e, _ in errors), min(e for e, c in errors if c == lo)


def test_the_c_core_computes_the_derived_rule_inputs_exactly_as_python_does():
    """C's best and cheapest expected errors equal the Python recomputation bit for bit, and
    route_embedding gets the tiers that the batch path computes in NumPy."""
    from cactus_router.embedders import CallableEmbedder
    from cactus_router.routing.request import RouteRequest

    prof = Profile.load("default")
    router = Router(prof, CallableEmbedder(lambda t: np.ones((len(t), prof.dim)), name="stub", dim=prof.dim),
                    allow_embedder_mismatch=True)
    probes = np.asarray(prof.embedder.probe_vectors, dtype=np.float32)
    rng = np.random.default_rng(5)
    vecs = np.concatenate([probes, probes + rng.normal(scale=0.02, size=probes.shape)]).astype(np.float32)
    pipeline, seen = router.pipeline, set()
    for bias, allow in [(0.0, None), (0.5, None), (1.0, None), (0.3, prof.model_ids[:3]), (0.8, prof.model_ids[2:])]:
        request = RouteRequest.of(cost_bias=bias, allow=allow)
        eligibility, lam = pipeline.scorer.eligibility(request), pipeline.knobs(request)[1]
        for v in vecs:
            ranking, best, cheapest = pipeline.scorer.choose(v, eligibility, lam)[7]
            assert (best, cheapest) == _python_rule_inputs(pipeline, ranking, eligibility, lam)
        singles = [router.route_embedding(v, request).tier for v in vecs]
        assert singles == list(router.route_embeddings(vecs, request).tiers)
        seen.update(singles)
    assert len(seen) >= 2  # the comparison covered more than one tier


def test_the_tier_is_set_in_place_only_on_a_decision_no_other_policy_kept(hash_profile, hash_embedder):
    """A caller's policy that keeps the decision it saw still sees it without a tier after the tier policy ran."""

    class Keeper:
        name = "keeper"

        def __init__(self):
            self.seen = []

        def apply(self, decision, request, context):
            self.seen.append(decision)
            return decision

    keeper = Keeper()
    kept = Router(hash_profile, hash_embedder, policies=[keeper, "tier"]).route("hello there")
    plain = Router(hash_profile, hash_embedder, policies=["out-of-distribution", "tier"]).route("hello there")
    assert keeper.seen[0].tier is None and kept.tier is not None
    assert replace(kept, embed_ms=0.0, score_ms=0.0) == replace(plain, embed_ms=0.0, score_ms=0.0)
