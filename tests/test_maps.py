"""Learned maps (cactus_router.maps): stored as data, routed with, and chosen by train --method."""

from __future__ import annotations

import base64
import copy
import json
from dataclasses import replace

import numpy as np
import pytest
from cr_factories import chat_and_math_rows, make_profile

from cactus_router import Profile, ProfileError, Router
from cactus_router.data import RoutingRow
from cactus_router.embedders import CallableEmbedder
from cactus_router.embedders.hashing import HashEmbedder
from cactus_router.errors import ArgumentError
from cactus_router.maps import METHODS, Ensemble, KNNPrior, Logistic, cluster_errors, fit_knn_prior, fit_logistic
from cactus_router.routing import Pipeline, RouteRequest
from cactus_router.routing.explain import explain
from cactus_router.training import add_model, embed_rows, train
from cactus_router.training.maps import COST_ORDER, one_standard_error

MAPS = ("knn-prior", "logistic", "ensemble")


def _fit(method: str, x: np.ndarray, scores: np.ndarray, k: int = 3, beta: float = 5.0, c: float = 10.0):
    if method == "knn-prior":
        return fit_knn_prior(x, scores, k, beta)
    if method == "logistic":
        return fit_logistic(x, scores, c)
    return Ensemble(fit_logistic(x, scores, c), fit_knn_prior(x, scores, k, beta))


def _mapped(seed: int = 0, n: int = 40, method: str = "knn-prior") -> Profile:
    base = make_profile(k=4, d=8, m=3, seed=seed)
    rng = np.random.default_rng(seed)
    return replace(base, map=_fit(method, rng.normal(size=(n, 8)), (rng.random((n, 3)) < 0.5).astype(float)))


def _arrays(m) -> list[np.ndarray]:
    if isinstance(m, Ensemble):
        return _arrays(m.logistic) + _arrays(m.knn)
    return [m.vectors, m.scores] if isinstance(m, KNNPrior) else [m.weights, m.bias]


@pytest.mark.parametrize("method", MAPS)
def test_a_map_round_trips_to_the_same_bytes(method):
    p = _mapped(method=method)
    text = p.to_json()
    back = Profile.from_json(text)
    assert type(back.map) is type(p.map) and back.map.name == method
    assert all(np.array_equal(a, b) for a, b in zip(_arrays(back.map), _arrays(p.map)))
    assert back.to_json() == text
    assert back.map.errors(np.eye(8), np.full((8, 3), 0.5)) == pytest.approx(
        p.map.errors(np.eye(8), np.full((8, 3), 0.5)), abs=0)


def test_the_methods_are_the_cluster_rule_and_each_map():
    assert METHODS == ("auto", "cluster", *MAPS)


def test_a_profile_without_a_map_has_no_map_field():
    assert "map" not in json.loads(make_profile().to_json())


def _f16(a) -> dict:
    return {"dtype": "float16", "shape": list(np.shape(a)),
            "base64": base64.b64encode(np.asarray(a, dtype="<f2").tobytes()).decode()}


def _f32(a) -> dict:
    return {"dtype": "float32", "shape": list(np.shape(a)),
            "base64": base64.b64encode(np.asarray(a, dtype="<f4").tobytes()).decode()}


KNN_HOSTILE = {
    "method": ("method", "mlp", "$.map.method must be one of"),
    "k zero": ("k", 0, "$.map.k"),
    "k above rows": ("k", 41, "$.map.k"),
    "k a bool": ("k", True, "$.map.k"),
    "beta negative": ("beta", -1.0, "$.map.beta"),
    "beta text": ("beta", "1", "$.map.beta"),
    "vectors wrong dim": ("vectors", _f16(np.eye(40, 7)), "$.map.vectors must have shape [any, 8]"),
    "vectors not unit": ("vectors", _f16(np.full((40, 8), 0.5)), "unit vector"),
    "vectors NaN": ("vectors", _f16(np.full((40, 8), np.nan)), "NaN"),
    "vectors bad base64": ("vectors", {"dtype": "float16", "shape": [40, 8], "base64": "!!"}, "base64"),
    "vectors too many rows": ("vectors", {"dtype": "float16", "shape": [100000, 8], "base64": ""}, "shape[0]"),
    "vectors float32": ("vectors", _f32(np.eye(40, 8)), "$.map.vectors.dtype must be 'float16'"),
    "scores wrong models": ("scores", _f16(np.zeros((40, 2))), "$.map.scores"),
    "scores above one": ("scores", _f16(np.full((40, 3), 1.5)), "[0, 1]"),
    "scores missing": ("scores", None, "$.map.scores"),
}
LOGISTIC_HOSTILE = {
    "c zero": ("c", 0, "$.map.c must be a number"),
    "c missing": ("c", None, "$.map.c"),
    "c a bool": ("c", True, "$.map.c"),
    "weights transposed": ("weights", _f32(np.zeros((8, 3))), "$.map.weights must have shape [3, 8]"),
    "weights float16": ("weights", _f16(np.zeros((3, 8))), "$.map.weights.dtype must be 'float32'"),
    "weights infinite": ("weights", _f32(np.full((3, 8), np.inf)), "$.map.weights holds a NaN"),
    "weights short bytes": ("weights", {"dtype": "float32", "shape": [3, 8], "base64": "AAAA"}, "needs 96"),
    "weights missing": ("weights", None, "$.map.weights must be an object"),
    "bias wrong models": ("bias", _f32(np.zeros(2)), "$.map.bias must have shape [3]"),
    "bias a matrix": ("bias", _f32(np.zeros((3, 1))), "$.map.bias.shape must be a list of 1"),
    "bias missing": ("bias", None, "$.map.bias"),
}
ENSEMBLE_HOSTILE = {
    "members missing": ("members", None, "$.map.members must be a list of 2 maps"),
    "members one": ("members", [{}], "$.map.members must be a list of 2 maps"),
    "member not an object": ("members", [1, 2], "$.map.members[0] must be an object"),
    "members swapped": ("members", "swap", "$.map.members[0].method must be 'logistic'"),
    "member knn k zero": ("members.1.k", 0, "$.map.members[1].k"),
    "member logistic bias": ("members.0.bias", _f32(np.zeros(4)), "$.map.members[0].bias must have shape [3]"),
    "member knn vectors": ("members.1.vectors", _f16(np.eye(40, 7)), "$.map.members[1].vectors must have shape"),
}
HOSTILE = {**{("knn-prior", k): v for k, v in KNN_HOSTILE.items()},
           **{("logistic", k): v for k, v in LOGISTIC_HOSTILE.items()},
           **{("ensemble", k): v for k, v in ENSEMBLE_HOSTILE.items()}}


@pytest.mark.parametrize("case", HOSTILE, ids=[f"{m}: {k}" for m, k in HOSTILE])
def test_a_hostile_map_field_is_a_one_line_profile_error_naming_it(case):
    key, value, needle = HOSTILE[case]
    bad = copy.deepcopy(json.loads(_mapped(method=case[0]).to_json()))
    where = bad["map"]
    *parents, key = key.split(".")
    for part in parents:
        where = where[int(part)] if part.isdigit() else where[part]
    if value is None:
        del where[key]
    elif value == "swap":
        where[key] = where[key][::-1]
    else:
        where[key] = value
    with pytest.raises(ProfileError) as info:
        Profile.from_dict(bad)
    assert needle in str(info.value) and "\n" not in str(info.value)


def test_a_map_that_is_not_an_object_is_refused():
    obj = json.loads(_mapped().to_json())
    obj["map"] = [1, 2]
    with pytest.raises(ProfileError, match=r"\$\.map must be an object"):
        Profile.from_dict(obj)


def _two_prompt_profile(beta: float) -> Profile:
    """Two clusters (e0, e1), two models at costs 1 and 2, the cluster rates 0.5 everywhere; the map's
    training prompts: e0 where only model a is right, e1 where only b is, e2 where both are."""
    base = make_profile(k=2, d=3, m=2, seed=0, costs=[1.0, 2.0])
    base = replace(base, centroids=np.eye(2, 3),
                   models=tuple(replace(m, error_rates=np.array([0.5, 0.5])) for m in base.models))
    x = np.eye(3)
    scores = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    return replace(base, map=fit_knn_prior(x, scores, 1, beta))


@pytest.mark.parametrize("beta", [0.0, 1.0])
def test_a_profile_with_a_map_routes_by_the_maps_errors(beta):
    p = _two_prompt_profile(beta)
    pipe = Pipeline(p)
    near_b = np.array([0.1, 1.0, 0.0], dtype=np.float32)
    d = pipe.decide(near_b, RouteRequest(), 0.0)
    lam = p.routing.lam()
    # nearest map prompt is e1 (a: 0, b: 1), shrunk toward the cluster's quality 0.5 with weight beta
    err_a = 1 - (1 * 0.0 + beta * 0.5) / (1 + beta)
    err_b = 1 - (1 * 1.0 + beta * 0.5) / (1 + beta)
    expected = {"m0": err_a + lam * 0.0, "m1": err_b + lam * 1.0}
    assert dict(d.ranking) == pytest.approx(expected, abs=1e-3)
    assert d.model == min(expected, key=expected.get)
    assert d.cluster == 1  # the cluster rule still gives the cluster
    terms = {t.model: t for t in explain(pipe, near_b, RouteRequest(), 0.0, 2).terms}
    assert terms["m0"].expected_error == pytest.approx(err_a, abs=1e-3)
    assert terms["m1"].expected_error == pytest.approx(err_b, abs=1e-3)
    assert terms["m0"].cluster_error_rate == 0.5
    # without the map both models err 0.5 and the cheaper one wins
    assert Pipeline(replace(p, map=None)).decide(near_b, RouteRequest(), 0.0).model == "m0"


def test_the_map_changes_the_choice_against_the_cluster_rule():
    p = _two_prompt_profile(0.0)
    near_b = np.array([0.1, 1.0, 0.0], dtype=np.float32)
    assert Pipeline(p).decide(near_b, RouteRequest(cost_bias=0.0)).model == "m1"
    assert Pipeline(replace(p, map=None)).decide(near_b, RouteRequest(cost_bias=0.0)).model == "m0"


@pytest.mark.parametrize("method", MAPS)
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_route_and_route_many_agree_with_a_map(seed, method):
    p = _mapped(seed, method=method)
    rng = np.random.default_rng(seed + 10)
    vecs = rng.normal(size=(300, 8)).astype(np.float32)
    emb = CallableEmbedder(lambda texts: np.stack([vecs[int(t)] if t.isdigit() else vecs[0] for t in texts]),
                           name="test-space", dim=8)
    router = Router(p, emb, allow_embedder_mismatch=True)
    for request in (RouteRequest(), RouteRequest(cost_bias=0.9), RouteRequest(allow=("m0", "m2"))):
        batch = router.route_embeddings(vecs, request)
        for i in range(0, 300, 7):
            one = router.route_embedding(vecs[i], request)
            assert one.model == batch.models[i]
            assert dict(one.ranking) == pytest.approx(dict(batch[i].ranking), abs=1e-6)
        many = router.route_many([str(i) for i in range(20)], request)
        assert [d.model for d in many] == list(batch.models[:20])


@pytest.mark.parametrize("method", MAPS)
def test_a_map_for_other_models_is_refused(method):
    p = _mapped(method=method)
    with pytest.raises(ProfileError, match="the map is for"):
        replace(p, models=p.models[:2])


def test_a_logistic_map_routes_by_its_probabilities():
    """Two models at costs 1 and 2: a is right on e0's side, b on e1's; the cluster rates say 0.5."""
    base = make_profile(k=2, d=3, m=2, seed=0, costs=[1.0, 2.0])
    base = replace(base, centroids=np.eye(2, 3),
                   models=tuple(replace(m, error_rates=np.array([0.5, 0.5])) for m in base.models))
    weights, bias = np.array([[4.0, -4.0, 0.0], [-4.0, 4.0, 0.0]]), np.array([0.0, 0.5])
    p = replace(base, map=Logistic(weights, bias, 1.0))
    near_b = np.array([0.1, 1.0, 0.0], dtype=np.float32)
    z = weights @ (near_b / np.linalg.norm(near_b)) + bias
    err = 1.0 - 1.0 / (1.0 + np.exp(-z))
    lam = p.routing.lam()
    d = Pipeline(p).decide(near_b, RouteRequest(), 0.0)
    assert dict(d.ranking) == pytest.approx({"m0": err[0], "m1": err[1] + lam}, abs=1e-6)
    assert d.cluster == 1
    assert Pipeline(p).decide(near_b, RouteRequest(cost_bias=0.0)).model == "m1"
    assert Pipeline(replace(p, map=None)).decide(near_b, RouteRequest(cost_bias=0.0)).model == "m0"


def test_the_ensemble_is_the_mean_of_the_cluster_rule_and_its_members():
    p = _mapped(method="ensemble")
    x = np.random.default_rng(5).normal(size=(6, 8))
    prior = np.random.default_rng(6).random((6, 3))
    m = p.map
    want = (prior + m.logistic.errors(x, prior) + m.knn.errors(x, prior)) / 3
    assert m.errors(x, prior) == pytest.approx(want, abs=1e-12)
    assert not np.allclose(m.errors(x, prior), m.knn.errors(x, prior))


def test_an_ensemble_of_members_for_other_models_is_refused():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(20, 8))
    with pytest.raises(ProfileError, match="disagree"):
        Ensemble(fit_logistic(x, rng.random((20, 3)), 1.0), fit_knn_prior(x, rng.random((20, 2)), 3, 1.0))


def test_the_logistic_fit_is_calibrated_in_the_large_and_separates():
    """With the bias unpenalised, the mean predicted probability on the fit rows is the mean score
    (per model, over its scored rows); a model right exactly where e0 > 0 is told apart."""
    rng = np.random.default_rng(1)
    x = rng.normal(size=(400, 8))
    scores = np.stack([(x[:, 0] > 0).astype(float), rng.random(400), np.ones(400)], axis=1)
    scores[:50, 1] = np.nan
    m = fit_logistic(x, scores, 10.0)
    q = m.quality(x)
    have = ~np.isnan(scores[:, 1])
    assert q[:, 0].mean() == pytest.approx(scores[:, 0].mean(), abs=1e-3)
    assert q[have, 1].mean() == pytest.approx(scores[have, 1].mean(), abs=1e-3)
    assert np.mean((q[:, 0] > 0.5) == (x[:, 0] > 0)) > 0.95
    # a model right on every row: a constant predictor, not a diverging fit
    assert np.all(m.weights[2] == 0) and q[:, 2] == pytest.approx(1.0, abs=1e-5)


def _rows():
    return chat_and_math_rows(90)


@pytest.mark.parametrize("method", ["cluster", *MAPS])
def test_train_method_forces_the_method(method):
    p = train(_rows(), [{"id": "small", "cost": 1}, {"id": "big", "cost": 5}], embedder=HashEmbedder(64), k=2,
              method=method)
    assert (p.map is None) == (method == "cluster")
    if method != "cluster":
        assert isinstance(p.map, {"knn-prior": KNNPrior, "logistic": Logistic, "ensemble": Ensemble}[method])
        facts = p.training["map"]
        assert facts["method"] == method and facts["requested"] == method
        # the ensemble's members are the best knn-prior and logistic settings: their grids are tried too
        tried = {n.split("(")[0] for n in facts["cv_area"]}
        assert tried == ({"cluster", *MAPS} if method == "ensemble" else {"cluster", method})
        assert Profile.from_json(p.to_json()).to_json() == p.to_json()
    else:
        assert "map" not in p.training


def test_train_auto_takes_the_one_standard_error_rule():
    p = train(_rows(), [{"id": "small", "cost": 1}, {"id": "big", "cost": 5}], embedder=HashEmbedder(64), k=2)
    facts = p.training["map"]
    areas = dict(facts["cv_area"])
    assert list(areas)[0] == "cluster" and len(areas) == 1 + 4 + 3 + 1
    assert {n.split("(")[0] for n in areas} == {"cluster", *MAPS}
    best = {m: max(v for n, v in areas.items() if n.split("(")[0] == m) for m in ("cluster", *COST_ORDER)}
    top, se = max(areas.values()), facts["standard_error"]
    # the recorded areas are rounded to 6 decimals: the choice is the first within se of the best
    expected = next(m for m in ("cluster", *COST_ORDER) if best[m] >= top - se - 1e-6)
    assert facts["requested"] == "auto" and facts["method"] == expected
    assert (p.map is None) == (expected == "cluster")
    if p.map is not None:
        assert p.map.name == expected


@pytest.mark.parametrize(("folds", "expected"), [
    # the map's mean is ahead by 0.002, within the best's standard error (0.0058): the cluster rule
    ({"cluster": [0.60, 0.62, 0.64], "logistic(C=1)": [0.61, 0.62, 0.64]}, "cluster"),
    # ahead by 0.03 with folds that agree: the map
    ({"cluster": [0.60, 0.61, 0.62], "logistic(C=1)": [0.64, 0.64, 0.64], "ensemble(x)": [0.64, 0.64, 0.64]},
     "logistic(C=1)"),
    # two maps both clear of the rule: the one cheaper to store and score, though the other is best
    ({"cluster": [0.50, 0.50, 0.50], "logistic(C=1)": [0.61, 0.62, 0.63], "ensemble(x)": [0.615, 0.625, 0.635]},
     "logistic(C=1)"),
])
def test_one_standard_error_prefers_the_cheaper_candidate(folds, expected):
    order = [k for k in ("cluster", "logistic(C=1)", "ensemble(x)") if k in folds]
    assert one_standard_error(folds, order)[0] == expected


def test_one_standard_error_is_the_best_candidates_fold_spread():
    key, se = one_standard_error({"cluster": [0.5, 0.5, 0.5], "m": [0.6, 0.7, 0.8]}, ["cluster", "m"])
    assert key == "m" and se == pytest.approx(0.1 / np.sqrt(3))


def test_train_refuses_an_unknown_method():
    with pytest.raises(ArgumentError, match="method must be one of"):
        train(_rows(), [{"id": "small", "cost": 1}, {"id": "big", "cost": 5}], embedder=HashEmbedder(64),
              method="mlp")


@pytest.mark.parametrize("method", MAPS)
def test_add_model_grows_the_map_by_the_new_model(method):
    """logistic: the new row is the fit on the labelled prompts at the map's C; knn-prior: the stored
    prompts' new column is the model's cluster-rule quality there; the old models are unchanged."""
    emb = HashEmbedder(64)
    p = train(_rows(), [{"id": "small", "cost": 1}, {"id": "big", "cost": 5}], embedder=emb, k=2, method=method)
    labels = [RoutingRow(r.prompt, {"mid": float(i % 3 == 0)}) for i, r in enumerate(chat_and_math_rows(60, 500))]
    added = add_model(p, labels, "mid", 2.0, embedder=emb).profile
    old, new = p.map, added.map
    assert type(new) is type(old) and new.n_models == 3
    lr_old, lr_new = (old, new) if method == "logistic" else (getattr(old, "logistic", None),
                                                              getattr(new, "logistic", None))
    kp_old, kp_new = (old, new) if method == "knn-prior" else (getattr(old, "knn", None), getattr(new, "knn", None))
    if lr_new is not None:
        x = embed_rows(emb, [r.prompt for r in labels])
        want = fit_logistic(x, np.array([[r.scores["mid"]] for r in labels]), lr_old.c)
        assert np.array_equal(lr_new.weights[:2], lr_old.weights) and np.array_equal(lr_new.weights[2], want.weights[0])
        assert lr_new.bias[2] == want.bias[0]
    if kp_new is not None:
        rates = added.models[2].error_rates[:, None]
        quality = 1 - cluster_errors(kp_old.vectors.astype(np.float64), added.centroids, rates,
                                     added.routing.temperature)[:, 0]
        assert np.array_equal(kp_new.scores[:, :2], kp_old.scores)
        assert kp_new.scores[:, 2] == pytest.approx(quality, abs=1e-3)
    assert Profile.from_json(added.to_json()).to_json() == added.to_json()
    assert Router(added, emb).route("integrate x^2 dx").model in added.model_ids
