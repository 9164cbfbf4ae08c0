"""Hostile calls to the API and the CLI (issue 11, items 5, 6 and 9): typed one-line errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import warnings

import numpy as np
import pytest
from cr_factories import make_profile

from cactus_router import (
    ArgumentError,
    NoEligibleModelError,
    Profile,
    ProfileError,
    PromptError,
    RouteRequest,
    RouterError,
    UnverifiedEmbedderWarning,
    error_to_dict,
)

EXE = [sys.executable, "-c", "from cactus_router.cli import main; main()"]


@pytest.fixture()
def router_hash(hash_profile, hash_embedder):
    from cactus_router import Router

    return Router(hash_profile, hash_embedder)


@pytest.fixture()
def profile_path(tmp_path, hash_profile):
    path = tmp_path / "p.json"
    hash_profile.save(path)
    return str(path)


def _run(args, **kw):
    return subprocess.run(EXE + args, capture_output=True, timeout=120, **kw)


@pytest.mark.parametrize("prompts", [None, 5, "one string", b"bytes", {"a": 1}.keys()])
def test_route_many_refuses_non_sequences(router_hash, prompts):
    """route_many(None) or (5) is a PromptError, not a bare TypeError."""
    with pytest.raises(PromptError, match="sequence of prompt strings"):
        router_hash.route_many(prompts)


@pytest.mark.parametrize("knobs, match", [
    ({"allow": [None]}, "strings only"),
    ({"allow": "m0"}, "collection of strings"),
    ({"require": "vision"}, "collection of strings"),
    ({"require": ["telepathy"]}, "unknown capability"),
    ({"cost_bias": 1.5}, r"cost_bias must be a number in \[0, 1\]"),
    ({"cost_bias": float("nan")}, "cost_bias"),
    ({"cost_bias": True}, "cost_bias"),
    ({"cost_bias": "0.5"}, "cost_bias"),
    ({"max_size_mb": -1}, "max_size_mb"),
    ({"max_size_mb": float("nan")}, "max_size_mb"),
    ({"colour": "red"}, "unknown routing keyword 'colour'"),
])
def test_bad_knobs_are_argument_errors(router_hash, knobs, match):
    """Every bad knob is an ArgumentError (a RouterError and a ValueError) at every entry point."""
    for call in (lambda: router_hash.route("hello", **knobs), lambda: router_hash.route_many(["hello"], **knobs),
                 lambda: router_hash.explain("hello", **knobs), lambda: router_hash.eligible(**knobs)):
        with pytest.raises(ArgumentError, match=match) as info:
            call()
        assert isinstance(info.value, ValueError) and "\n" not in str(info.value)


def test_numpy_scalars_and_none_are_accepted(router_hash):
    """np.float32 cost_bias routes like the float; require=None works in route and eligible alike."""
    a = router_hash.route("hello", cost_bias=np.float32(0.5))
    b = router_hash.route("hello", cost_bias=0.5)
    assert (a.model, a.ranking) == (b.model, b.ranking)
    assert router_hash.route("hello", require=None).model == b.model
    assert router_hash.eligible(require=None) == router_hash.profile.model_ids


def test_a_request_object_equals_its_keywords(router_hash):
    """route(p, RouteRequest(...)) is route(p, **same keywords); both at once is an error."""
    ids = router_hash.profile.model_ids
    req = RouteRequest(cost_bias=0.2, allow=ids[:2])
    d1, d2 = router_hash.route("hi", req), router_hash.route("hi", cost_bias=0.2, allow=list(reversed(ids[:2])))
    assert (d1.model, d1.ranking) == (d2.model, d2.ranking)
    with pytest.raises(ArgumentError, match="not both"):
        router_hash.route("hi", req, cost_bias=0.3)


def test_error_to_dict_is_one_line():
    """error_to_dict gives the class name and the message on one line."""
    assert error_to_dict(NoEligibleModelError("no model\nmeets it")) == {
        "type": "NoEligibleModelError", "message": "no model meets it"}


def _profile_dict():
    return json.loads(make_profile(k=2, d=4, m=2, seed=3).to_json())


def test_duplicate_keys_are_refused():
    """A profile with a duplicate key is refused, naming the key (which value wins is unclear)."""
    text = make_profile(k=2, d=4, m=2).to_json().replace('"format":', '"version":1,"format":', 1)
    with pytest.raises(ProfileError, match='duplicate key "version"'):
        Profile.from_json(text)


def test_a_lone_surrogate_task_name_is_refused_at_load():
    """A clusters.tasks key with a lone surrogate fails at load, not later at save."""
    obj = _profile_dict()
    obj["clusters"]["tasks"] = [{"\ud800": 1}, {"ok": 2}]
    with pytest.raises(ProfileError, match=r"clusters\.tasks\[0\].*lone surrogate"):
        Profile.from_dict(obj)


@pytest.mark.parametrize("texts", [["probe"] * 17, ["x" * 1001]])
def test_probe_texts_are_bounded(texts):
    """Probe texts are embedded at every load, so their count and length are bounded."""
    from cactus_router.embedders.hashing import HashEmbedder

    obj = json.loads(make_profile(k=2, d=16, m=2, embedder=HashEmbedder(16)).to_json())
    obj["embedder"]["probe_texts"] = texts
    obj["embedder"]["probe_vectors"] = [[0.25] * 16] * len(texts)
    with pytest.raises(ProfileError, match="at most 16 texts"):
        Profile.from_dict(obj)


def test_cli_streams_and_pipes(profile_path):
    """Closed stdin or stdout and a reader that goes away: one line or silence, never a traceback."""
    closed_in = _run(["route", "-", "-p", profile_path, "--embedder", "hash:64"], stdin=subprocess.DEVNULL)
    assert closed_in.returncode == 0  # an empty stdin is no prompt, not an error
    r = subprocess.run(EXE + ["route", "-", "-p", profile_path, "--embedder", "hash:64"], capture_output=True,
                       timeout=120, preexec_fn=lambda: os.close(0))
    assert r.returncode == 1 and r.stderr.decode().strip().count("\n") == 0 and b"stdin is closed" in r.stderr
    r = subprocess.run(EXE + ["route", "hi", "-p", profile_path, "--embedder", "hash:64"], stderr=subprocess.PIPE,
                       timeout=120, preexec_fn=lambda: os.close(1))
    assert r.returncode == 1 and b"stdout is closed" in r.stderr
    pipe = subprocess.run(f"{sys.executable} -c 'from cactus_router.cli import main; main()' models | "
                          "(exec 0<&-; true); echo ${PIPESTATUS[0]}", shell=True, executable="/bin/bash",
                          capture_output=True, timeout=120)
    assert pipe.stdout.strip() == b"141" and pipe.stderr == b""


def test_cli_stdin_errors_name_the_line(profile_path):
    """Invalid UTF-8 on line 2 of stdin names line 2."""
    r = _run(["route", "-", "-p", profile_path, "--embedder", "hash:64"], input=b"hello\n\xff\xfe\n")
    assert r.returncode == 1 and r.stderr.decode().strip() == "Error: stdin line 2: not valid UTF-8 (byte 1)"
    assert r.stdout.count(b"\n") == 1


@pytest.mark.parametrize("value", ["nan", "2", "-0.1", "abc"])
def test_cost_bias_out_of_range_is_a_usage_error(profile_path, value):
    """NaN is refused like any out-of-range value: exit 2."""
    r = _run(["route", "hi", "-p", profile_path, "--embedder", "hash:64", "--cost-bias", value])
    assert r.returncode == 2 and b"--cost-bias" in r.stderr


def test_explain_with_stdin_says_what_is_wrong(profile_path):
    """'route - --explain' complains about '-', not about --json."""
    r = _run(["route", "-", "--explain", "-p", profile_path])
    assert r.returncode == 2 and b"not '-'" in r.stderr and b"--json" not in r.stderr


def test_legacy_warning_is_one_line(tmp_path):
    """The CLI prints a legacy profile's warning on one line, without pointing into click."""
    from pathlib import Path

    src = Path(__file__).parent / "data" / "nordlys_v01.json"
    r = _run(["convert", str(src), str(tmp_path / "out.json")])
    lines = [ln for ln in r.stderr.decode().splitlines() if ln.startswith("warning:")]
    assert r.returncode == 0 and len(lines) == 1 and "click" not in r.stderr.decode()


def test_router_errors_share_one_base(router_hash):
    """Everything the router raises for bad input is a RouterError."""
    for call in (lambda: router_hash.route(None), lambda: router_hash.route("x", cost_bias=-1),
                 lambda: router_hash.route("x", allow=["nope"]), lambda: router_hash.route_embedding([1.0])):
        with pytest.raises(RouterError):
            call()


def test_legacy_profile_still_warns_in_the_api():
    """The API keeps the UnverifiedEmbedderWarning (the CLI only formats it)."""
    from pathlib import Path

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        Profile.load(Path(__file__).parent / "data" / "nordlys_v01.json")
    assert any(issubclass(w.category, UnverifiedEmbedderWarning) for w in caught)


def test_public_layers_resolve_and_import_stays_light():
    """Every name in __all__ resolves; a bare import loads no training, evaluation, onnxruntime or sklearn."""
    code = ("import sys, cactus_router as c; "
            "heavy = [m for m in ('cactus_router.training', 'cactus_router.evaluation', 'onnxruntime', 'sklearn', "
            "'cactus_router._libcactus') if m in sys.modules]; "
            "assert not heavy, heavy; "
            "missing = [n for n in c.__all__ if getattr(c, n, None) is None]; assert not missing, missing")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=120)
    assert r.returncode == 0, r.stderr.decode()
