"""The out-of-distribution checks in profiles and routing: the "ood" field, the policy's reasons, the C score."""

from __future__ import annotations

import base64
import json
from dataclasses import replace

import numpy as np
import pytest
from cr_factories import make_profile

from cactus_router import Profile, Router
from cactus_router.errors import ArgumentError, CoreError, ProfileError
from cactus_router.ood import OODChecks, ScriptCheck, TopicDetector, fit_topic

D = 64
PROMPTS = ["hello there", "integrate x^2", "write a poem", "far far away", "what is the capital of peru",
           "sort a list in python", "today the weather is fine", "translate this sentence"]


@pytest.fixture(scope="module")
def detector(hash_embedder) -> TopicDetector:
    """A topic check fitted on hash embeddings of short English prompts."""
    rng = np.random.default_rng(0)
    words = "the a cat dog sum of two numbers write code python list sort poem river city capital".split()
    texts = [" ".join(rng.choice(words, size=6)) for _ in range(400)]
    return fit_topic(hash_embedder.embed_many(texts), store_size=64, clusters=4, seed=0)


@pytest.fixture()
def topic_profile(hash_embedder, detector) -> Profile:
    """A hash-embedder profile whose topic check flags about half of PROMPTS (threshold moved up)."""
    fam = detector.familiarity(hash_embedder.embed_many(PROMPTS))
    strict = replace(detector, threshold=float(np.median(fam)))
    return replace(make_profile(k=3, d=D, m=4, seed=1, embedder=hash_embedder), ood=OODChecks(strict, None))


def test_c_familiarity_matches_the_numpy_definition(detector, hash_embedder):
    """The C score equals the NumPy reference within float tolerance, for unit and scaled inputs."""
    x = hash_embedder.embed_many(PROMPTS * 3)
    ref = detector.familiarity_reference(x)
    assert np.allclose(detector.familiarity(x), ref, atol=1e-4)
    assert np.allclose(detector.familiarity(7.5 * x), ref, atol=1e-4)  # each row is normalised first
    assert 0 < ref.std()  # the comparison is not between constants


@pytest.mark.parametrize("quantile", [0.1, 0.3, 0.5])
def test_the_cutoff_skips_work_without_changing_decisions(detector, hash_embedder, quantile):
    """With a cutoff, values below it are exact and those at or above it stay there (the bounds
    of csrc/cr_ood.c): `unseen` is unchanged, and some values are bounds, so the bounds ran."""
    rng = np.random.default_rng(1)
    words = "the a cat dog sum of two numbers write code python list sort poem river city capital".split()
    texts = PROMPTS + [" ".join(rng.choice(words, size=int(rng.integers(2, 9)))) for _ in range(200)]
    x = hash_embedder.embed_many(texts)
    exact = detector.native_familiarity(x)
    cut = float(np.quantile(exact, quantile))
    assert 0 < cut <= 0.5  # a bound can decide only below 0.5 (each of the two ranks is at most 1)
    bounded = detector.native_familiarity(x, cut)
    assert np.array_equal(bounded < cut, exact < cut)
    assert np.array_equal(bounded[exact < cut], exact[exact < cut])
    assert (bounded <= exact).all() and (bounded != exact).any()
    assert np.array_equal(detector.native_familiarity(x, 0.51), exact)  # above 0.5: every value exact


def test_the_c_score_refuses_zero_and_non_finite_rows(detector):
    """A zero or NaN row is an ArgumentError (zero) or a CoreError naming the row, never a number."""
    with pytest.raises(ArgumentError, match="zero vector"):
        detector.familiarity(np.zeros((1, D), dtype=np.float32))
    bad = np.ones((3, D), dtype=np.float32)
    bad[2, 5] = np.inf
    with pytest.raises((ArgumentError, CoreError)):
        detector.native_familiarity(bad)


def test_a_profile_without_ood_is_written_as_before(hash_embedder):
    """No "ood" key appears in a profile that has no checks, and the reason keeps its old wording."""
    prof = make_profile(k=3, d=D, m=4, seed=2, embedder=hash_embedder)
    assert "ood" not in json.loads(prof.to_json())
    prof = replace(prof, routing=replace(prof.routing, ood_threshold=0.99))
    d = Router(prof, hash_embedder).route("hello there")
    assert not d.in_distribution and d.applied[0].reason.startswith("similarity ")


def test_a_profile_with_checks_pickles_and_routes_the_same(topic_profile, hash_embedder):
    """Pickling the checks (Ray ships profiles to its workers) keeps their arrays and decisions."""
    import pickle

    back = pickle.loads(pickle.dumps(topic_profile.ood))
    x = hash_embedder.embed_many(PROMPTS)
    assert np.array_equal(back.topic.familiarity(x), topic_profile.ood.topic.familiarity(x))
    assert back.to_dict() == topic_profile.ood.to_dict()


def test_the_ood_field_round_trips_through_json(topic_profile):
    """A profile's checks survive to_json/from_json with the same arrays, threshold and decisions."""
    back = Profile.from_json(topic_profile.to_json())
    assert back.ood is not None and back.ood.topic is not None
    assert back.ood.to_dict() == topic_profile.ood.to_dict()
    assert back.to_json() == topic_profile.to_json()


def test_unseen_topics_are_routed_by_the_policy_with_the_reason(topic_profile, hash_embedder):
    """Flagged prompts are out of distribution, ranked on overall error rates, and say "unseen topic"."""
    r = Router(topic_profile, hash_embedder)
    decisions = [r.route(p) for p in PROMPTS]
    flagged = [d for d in decisions if not d.in_distribution]
    assert 0 < len(flagged) < len(PROMPTS)
    for d in flagged:
        assert d.applied[0].policy == "out-of-distribution"
        assert d.applied[0].reason.startswith("unseen topic (familiarity ")
        assert d.applied[0].reason.endswith(": ranked on overall error rates")


def test_a_named_fallback_serves_unseen_topics(topic_profile, hash_embedder):
    """With routing.fallback, flagged prompts go to that model and the reason says so."""
    prof = replace(topic_profile, routing=replace(topic_profile.routing, fallback="m2"))
    flagged = [d for d in Router(prof, hash_embedder).route_many(PROMPTS) if not d.in_distribution]
    assert flagged and all(d.model == "m2" and "fallback model m2" in d.applied[0].reason for d in flagged)


def test_every_route_path_gives_the_same_decisions(topic_profile, hash_embedder):
    """route, route_many, route_embedding and route_embeddings agree row by row (model, reasons, flag)."""
    r = Router(topic_profile, hash_embedder)
    vecs = hash_embedder.embed_many(PROMPTS)
    paths = [[r.route(p, cost_bias=0.3) for p in PROMPTS], list(r.route_many(PROMPTS, cost_bias=0.3)),
             [r.route_embedding(v, cost_bias=0.3) for v in vecs], list(r.route_embeddings(vecs, cost_bias=0.3))]
    keys = [[(d.model, d.in_distribution, d.applied, d.ranking) for d in path] for path in paths]
    assert keys[0] == keys[1] == keys[2] == keys[3]


def test_script_and_topic_checks_on_a_minilm_profile():
    """On a MiniLM profile, foreign prompts are "unsupported script" via text and never via embeddings alone."""
    r = Router.load("default")
    if r.profile.ood is None or r.profile.ood.script is None:
        pytest.fail("the default profile should carry the script check (tools/build_default_profile.py)")
    texts = ["今天天气很好，我们去公园散步吧", "Какая столица Франции?", "What is the capital of France?"]
    one = [r.route(t) for t in texts]
    many = list(r.route_many(texts))
    assert [d.applied for d in one] == [d.applied for d in many]
    assert [d.in_distribution for d in one[:2]] == [False, False]
    assert all(d.applied[0].reason.startswith("unsupported script (") for d in one[:2])
    by_vector = r.route_embeddings(r.embedder.embed_many(texts))
    assert not any(a.reason.startswith("unsupported script") for row in by_vector.applied for a in row)
    allow = list(r.profile.model_ids[2:5])
    for d in [r.route(t, allow=allow, cost_bias=0.0) for t in texts] + list(r.route_many(texts, allow=allow)):
        assert d.model in allow and {m for m, _ in d.ranking} <= set(allow)


def _damage(doc, path, value):
    node = doc
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value


@pytest.mark.parametrize(("path", "value", "where"), [
    (["ood"], [], r"\$\.ood must be an object"),
    (["ood", "colour"], {}, r"\$\.ood has unknown key\(s\) 'colour'"),
    (["ood", "topic", "kind"], "centroid", r"\$\.ood\.topic\.kind"),
    (["ood", "topic", "threshold"], 2.0, r"\$\.ood\.topic\.threshold"),
    (["ood", "topic", "neighbours", "vectors", "base64"], "%%%", r"\$\.ood\.topic\.neighbours\.vectors\.base64"),
    (["ood", "topic", "mahalanobis", "means", "shape"], [4], r"\$\.ood\.topic\.mahalanobis\.means\.shape"),
    (["ood", "script"], {"kind": "wordpiece-coverage", "vocabulary": "bert-base-uncased", "threshold": 0.3},
     r"\$\.ood\.script reads the MiniLM WordPiece vocabulary"),
    (["routing", "ood_threshold"], 0.2, r"\$\.ood\.topic and \$\.routing\.ood_threshold"),
])
def test_a_malformed_ood_field_is_a_one_line_error_naming_its_path(topic_profile, path, value, where):
    """Each bad "ood" field is a one-line ProfileError that names the file and the JSON path."""
    doc = json.loads(topic_profile.to_json())
    _damage(doc, path, value)
    with pytest.raises(ProfileError, match=f"^p.json: {where}") as info:
        Profile.from_dict(doc, what="p.json")
    assert "\n" not in str(info.value)


def test_a_topic_check_of_another_width_is_refused(topic_profile, hash_embedder):
    """A detector fitted in another dimension is refused on load, naming $.ood.topic."""
    rng = np.random.default_rng(3)
    x = rng.standard_normal((200, 16)).astype(np.float32)
    narrow = fit_topic(x / np.linalg.norm(x, axis=1, keepdims=True), store_size=16, clusters=2)
    doc = json.loads(topic_profile.to_json())
    doc["ood"]["topic"] = narrow.to_dict()
    with pytest.raises(ProfileError, match=r"\$\.ood\.topic is 16-dimensional"):
        Profile.from_dict(doc, what="p.json")


def test_the_script_check_fits_only_minilm_profiles(hash_embedder):
    """Constructing a hash-embedder profile with a script check is refused, not silently ignored."""
    prof = make_profile(k=3, d=D, m=4, seed=4, embedder=hash_embedder)
    with pytest.raises(ProfileError, match="MiniLM WordPiece"):
        replace(prof, ood=OODChecks(None, ScriptCheck()))


def test_float16_arrays_decode_the_same_bytes(detector):
    """The stored store vectors are the little-endian float16 bytes of the detector's array."""
    raw = base64.b64decode(detector.to_dict()["neighbours"]["vectors"]["base64"])
    assert np.array_equal(np.frombuffer(raw, dtype="<f2").reshape(detector.neighbours.vectors.shape),
                          detector.neighbours.vectors)
