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
from cactus_router.embedders import CallableEmbedder
from cactus_router.embedders.hashing import HashEmbedder
from cactus_router.errors import ArgumentError
from cactus_router.maps import KNNPrior, fit_knn_prior
from cactus_router.routing import Pipeline, RouteRequest
from cactus_router.routing.explain import explain
from cactus_router.training import train


def _mapped(seed: int = 0, n: int = 40, k: int = 3, beta: float = 5.0) -> Profile:
    base = make_profile(k=4, d=8, m=3, seed=seed)
    rng = np.random.default_rng(seed)
    return replace(base, map=fit_knn_prior(rng.normal(size=(n, 8)), rng.random((n, 3)), k, beta))


def test_a_map_round_trips_to_the_same_bytes():
    p = _mapped()
    text = p.to_json()
    back = Profile.from_json(text)
    assert back.map is not None and back.map.k == 3 and back.map.beta == 5.0
    assert np.array_equal(back.map.vectors, p.map.vectors) and np.array_equal(back.map.scores, p.map.scores)
    assert back.to_json() == text


def test_a_profile_without_a_map_has_no_map_field():
    assert "map" not in json.loads(make_profile().to_json())


def _f16(a) -> dict:
    return {"dtype": "float16", "shape": list(np.shape(a)),
            "base64": base64.b64encode(np.asarray(a, dtype="<f2").tobytes()).decode()}


HOSTILE = {
    "method": ("method", "mlp", "$.map.method"),
    "k zero": ("k", 0, "$.map.k"),
    "k above rows": ("k", 41, "$.map.k"),
    "k a bool": ("k", True, "$.map.k"),
    "beta negative": ("beta", -1.0, "$.map.beta"),
    "beta text": ("beta", "1", "$.map.beta"),
    "vectors wrong dim": ("vectors", _f16(np.eye(40, 7)), "columns"),
    "vectors not unit": ("vectors", _f16(np.full((40, 8), 0.5)), "unit vector"),
    "vectors NaN": ("vectors", _f16(np.full((40, 8), np.nan)), "NaN"),
    "vectors bad base64": ("vectors", {"dtype": "float16", "shape": [40, 8], "base64": "!!"}, "base64"),
    "vectors too many rows": ("vectors", {"dtype": "float16", "shape": [100000, 8], "base64": ""}, "shape[0]"),
    "scores wrong models": ("scores", _f16(np.zeros((40, 2))), "$.map.scores"),
    "scores above one": ("scores", _f16(np.full((40, 3), 1.5)), "[0, 1]"),
    "scores missing": ("scores", None, "$.map.scores"),
}


@pytest.mark.parametrize("case", HOSTILE, ids=list(HOSTILE))
def test_a_hostile_map_field_is_a_one_line_profile_error_naming_it(case):
    key, value, needle = HOSTILE[case]
    obj = json.loads(_mapped().to_json())
    bad = copy.deepcopy(obj)
    if value is None:
        del bad["map"][key]
    else:
        bad["map"][key] = value
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


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_route_and_route_many_agree_with_a_map(seed):
    p = _mapped(seed)
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


def test_a_map_for_other_models_is_refused():
    p = _mapped()
    with pytest.raises(ProfileError, match="the map is for"):
        replace(p, models=p.models[:2])


def _rows():
    return chat_and_math_rows(90)


@pytest.mark.parametrize("method", ["cluster", "knn-prior"])
def test_train_method_forces_the_method(method):
    p = train(_rows(), [{"id": "small", "cost": 1}, {"id": "big", "cost": 5}], embedder=HashEmbedder(64), k=2,
              method=method)
    assert (p.map is None) == (method == "cluster")
    if method == "knn-prior":
        assert isinstance(p.map, KNNPrior) and p.training["map"]["method"] == "knn-prior"
        assert Profile.from_json(p.to_json()).to_json() == p.to_json()


def test_train_auto_picks_the_method_with_the_best_cross_validated_area():
    p = train(_rows(), [{"id": "small", "cost": 1}, {"id": "big", "cost": 5}], embedder=HashEmbedder(64), k=2)
    facts = p.training["map"]
    areas = dict(facts["cv_area"])
    best_map = max(v for n, v in areas.items() if n != "cluster")
    expected = "knn-prior" if round(best_map, 4) > round(areas["cluster"], 4) else "cluster"
    assert facts["requested"] == "auto" and facts["method"] == expected
    assert (p.map is None) == (expected == "cluster")
    assert len(areas) == 5


def test_train_refuses_an_unknown_method():
    with pytest.raises(ArgumentError, match="method must be one of"):
        train(_rows(), [{"id": "small", "cost": 1}, {"id": "big", "cost": 5}], embedder=HashEmbedder(64),
              method="mlp")
