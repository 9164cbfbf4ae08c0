"""Profile format v1: validation with JSON paths, round trips, and the two legacy formats."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import numpy as np
import pytest
from cr_factories import make_profile

from cactus_router import Profile, ProfileError, Router, UnverifiedEmbedderWarning
from cactus_router.embedders import CallableEmbedder

DATA = Path(__file__).parent / "data"


@pytest.fixture()
def valid(hash_profile):
    return json.loads(hash_profile.to_json())


def test_round_trip_is_byte_identical(hash_profile):
    """to_json -> from_json -> to_json gives the same bytes."""
    text = hash_profile.to_json()
    assert Profile.from_json(text).to_json() == text


def test_save_and_load(tmp_path, hash_profile):
    """save writes a file that load reads back to an equal profile."""
    path = tmp_path / "p.json"
    hash_profile.save(path)
    loaded = Profile.load(path)
    assert loaded.model_ids == hash_profile.model_ids
    np.testing.assert_allclose(loaded.centroids, hash_profile.centroids, atol=1e-6)
    assert [p.name for p in tmp_path.iterdir()] == ["p.json"]  # no temporary file left behind


def test_loaded_state_is_immutable(hash_profile):
    """Arrays are read-only and the dataclasses frozen."""
    with pytest.raises(ValueError):
        hash_profile.centroids[0, 0] = 1.0
    with pytest.raises(ValueError):
        hash_profile.models[0].error_rates[0] = 0.0
    with pytest.raises(AttributeError):
        hash_profile.models = ()  # type: ignore[misc]


def _mutate(obj, path, value):
    node = obj
    for key in path[:-1]:
        node = node[key]
    if value is KeyError:
        del node[path[-1]]
    else:
        node[path[-1]] = value


@pytest.mark.parametrize(
    "path, value, message",
    [
        (("format",), "other", r"\$\.format must be 'cactus-router-profile'"),
        (("version",), 2, r"\$\.version must be 1"),
        (("embedder",), KeyError, r"\$ is missing required key 'embedder'"),
        (("embedder", "dim"), 3, r"\$\.embedder\.dim is 3 but the centroids have 64"),
        (("clusters", "k"), 5, r"\$\.clusters\.k is 5 but there are 4 centroids"),
        (("clusters", "centroids", 1, 2), "x", r"\$\.clusters\.centroids must be a 4x64 array of numbers"),
        (("clusters", "centroids", 2), [0.0] * 64, r"\$\.clusters\.centroids\[2\] is a zero vector"),
        (("clusters", "sizes"), [1, 2], r"\$\.clusters\.sizes must have shape \[4\]"),
        (("models",), [], r"\$\.models must be an array of 1 to"),
        (("models", 1, "id"), "m0", r"\$\.models\[1\]\.id duplicates model id 'm0'"),
        (("models", 0, "cost"), -1, r"\$\.models\[0\]\.cost must be in \[0\.0"),
        (("models", 0, "cost"), True, r"\$\.models\[0\]\.cost must be a number"),
        (("models", 2, "error_rates", 3), 1.5,
         r"\$\.models\[2\]\.error_rates\[3\] must be finite and in \[0\.0, 1\.0\]"),
        (("models", 0, "error_rates"), [0.5], r"\$\.models\[0\]\.error_rates must have shape \[4\]"),
        (("models", 0, "counts", 0), -1, r"\$\.models\[0\]\.counts\[0\] must be finite and in \[0"),
        (("models", 0, "capabilities"), ["telepathy"], r"unknown capability 'telepathy'"),
        (("routing", "cost_bias"), 1.5, r"\$\.routing\.cost_bias must be in \[0\.0, 1\.0\]"),
        (("routing", "lambda_max"), -1, r"\$\.routing\.lambda_max must be in"),
        (("training",), [], r"\$\.training must be an object"),
    ],
)
def test_validation_names_the_json_path(valid, path, value, message):
    """Each kind of problem is a ProfileError naming where it is."""
    bad = copy.deepcopy(valid)
    _mutate(bad, path, value)
    with pytest.raises(ProfileError, match=message):
        Profile.from_dict(bad)


@pytest.mark.parametrize("text", ["", "{", "[1, 2]", '{"format": NaN}', "null", '"str"'])
def test_non_profiles_are_profile_errors(text):
    """Malformed JSON and non-objects are ProfileError."""
    with pytest.raises(ProfileError):
        Profile.from_json(text)


def test_nan_literal_is_rejected(valid):
    """NaN is not JSON: a profile holding it is refused."""
    text = json.dumps(valid).replace('"cost_bias": 0.5', '"cost_bias": NaN')
    with pytest.raises(ProfileError, match="NaN is not valid JSON"):
        Profile.from_json(text)


def test_missing_file_and_unknown_name():
    """A missing path or an unknown bundled name is one ProfileError."""
    with pytest.raises(ProfileError, match="cannot read profile"):
        Profile.load("/nonexistent/p.json")
    with pytest.raises(ProfileError, match="no bundled profile"):
        Profile.load("nope")


def test_nordlys_profile_converts_on_load():
    """Nordlys v0.1: id provider/model_name, cost = mean of the two prices, knob carried over."""
    with pytest.warns(UnverifiedEmbedderWarning, match="no embedder fingerprint"):
        prof = Profile.load(DATA / "nordlys_v01.json")
    assert prof.model_ids == ("openai/gpt-4o-mini", "anthropic/claude-sonnet")
    assert [m.cost for m in prof.models] == pytest.approx([0.375, 9.0])
    assert prof.routing.cost_bias == 0.3
    assert prof.embedder.fingerprint is None and prof.source_format == "nordlys-v0.1"


def test_auroraai_profile_converts_on_load():
    """AuroraAI: model_id, size_mb as the cost, capabilities and context kept."""
    with pytest.warns(UnverifiedEmbedderWarning):
        prof = Profile.load(DATA / "auroraai.json")
    big = prof.models[1]
    assert (big.id, big.cost, big.size_mb, big.context_length) == ("lfm2-vl-1.6b", 1440, 1440, 4096)
    assert big.capabilities == {"text", "vision", "embed"}


def test_legacy_profile_routes_with_a_matching_dimension():
    """A legacy profile routes with any embedder of its dimension (it cannot check more)."""
    with pytest.warns(UnverifiedEmbedderWarning):
        prof = Profile.load(DATA / "auroraai.json")
    emb = CallableEmbedder(lambda texts: np.tile([0.0, 0.1, 1.0], (len(texts), 1)), name="mine", dim=3)
    d = Router(prof, emb).route("describe this picture", require=["vision"])
    assert (d.model, d.cluster) == ("lfm2-vl-1.6b", 1)


def test_convert_writes_v1(tmp_path):
    """A converted legacy profile is a valid v1 file with the same routing content."""
    with pytest.warns(UnverifiedEmbedderWarning):
        prof = Profile.load(DATA / "nordlys_v01.json")
    prof.save(tmp_path / "v1.json")
    again = Profile.load(tmp_path / "v1.json")
    assert again.model_ids == prof.model_ids
    assert json.loads((tmp_path / "v1.json").read_text())["format"] == "cactus-router-profile"


def test_profile_of_random_shape_round_trips():
    """Profiles of other shapes survive a round trip too."""
    prof = make_profile(k=7, d=5, m=6, seed=3)
    assert Profile.from_json(prof.to_json()).k == 7


def test_routing_extras_and_cluster_tasks_round_trip(valid):
    """temperature, ood_threshold, fallback and per-cluster tasks survive a round trip."""
    valid["routing"].update(temperature=0.05, ood_threshold=0.2, fallback="m1")
    valid["clusters"]["tasks"] = [{"math": 3}, {}, {"code": 1, "math": 2}, {"chat": 9}]
    prof = Profile.from_dict(valid)
    assert (prof.routing.temperature, prof.routing.ood_threshold, prof.routing.fallback) == (0.05, 0.2, "m1")
    assert dict(prof.cluster_tasks[2]) == {"code": 1, "math": 2}
    assert Profile.from_json(prof.to_json()).to_json() == prof.to_json()


@pytest.mark.parametrize(
    "change, message",
    [
        ({"fallback": "ghost"}, r"\$\.routing\.fallback must be one of the profile's model ids"),
        ({"temperature": -1}, r"\$\.routing\.temperature must be in"),
        ({"ood_threshold": 2}, r"\$\.routing\.ood_threshold must be in \[-1\.0, 1\.0\]"),
    ],
)
def test_routing_extras_are_validated(valid, change, message):
    """Bad routing extras are ProfileErrors naming their path."""
    valid["routing"].update(change)
    with pytest.raises(ProfileError, match=message):
        Profile.from_dict(valid)


def test_cluster_tasks_are_validated(valid):
    """Task counts must be one object of integer counts per cluster."""
    valid["clusters"]["tasks"] = [{"math": -1}, {}, {}, {}]
    with pytest.raises(ProfileError, match=r"\$\.clusters\.tasks\[0\]"):
        Profile.from_dict(valid)
