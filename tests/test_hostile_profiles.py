"""Untrusted input: any bytes or any mutation of a valid profile or routing table loads or raises the typed error.

A profile that loads must be usable: a Router builds on it and routes, and it saves to JSON
that loads back to the same bytes. Anything else (TypeError, OverflowError, RecursionError,
a CoreError from the C core, a profile that cannot be saved) is a bug.
"""

from __future__ import annotations

import copy
import json
import re
import warnings
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner
from cr_factories import make_profile
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cactus_router import Profile, ProfileError, Router, RoutingTableError
from cactus_router.cli import cli
from cactus_router.data import RoutingRow, read_table, write_table
from cactus_router.embedders import CallableEmbedder
from cactus_router.embedders.hashing import HashEmbedder
from cactus_router.maps import Ensemble, fit_knn_prior, fit_logistic

DATA = Path(__file__).parent / "data"
FUZZ = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

# ---------------------------------------------------------------------------------------------
# Seeds: one valid profile of each format the loader reads.


def _seed_profiles() -> dict[str, dict[str, Any]]:
    plain = json.loads(make_profile(k=3, d=4, m=2, seed=1).to_json())
    fingerprinted = json.loads(make_profile(k=2, d=16, m=3, seed=2, embedder=HashEmbedder(16)).to_json())
    fingerprinted["training"] = {"data": "t.jsonl", "metrics": {"auc": 0.7, "k": [2, 4]}}
    rng = np.random.default_rng(3)
    with_map = replace(make_profile(k=3, d=4, m=2, seed=3), map=fit_knn_prior(rng.normal(size=(6, 4)),
                                                                             rng.random((6, 2)), 2, 3.0))
    x, scores = rng.normal(size=(6, 4)), (rng.random((6, 2)) < 0.5).astype(float)
    with_ensemble = replace(make_profile(k=3, d=4, m=2, seed=4),
                            map=Ensemble(fit_logistic(x, scores, 1.0), fit_knn_prior(x, scores, 2, 3.0)))
    return {
        "v1": plain,
        "v1-fingerprint": fingerprinted,
        "v1-map": json.loads(with_map.to_json()),
        "v1-ensemble": json.loads(with_ensemble.to_json()),
        "nordlys": json.loads((DATA / "nordlys_v01.json").read_text(encoding="utf-8")),
        "auroraai": json.loads((DATA / "auroraai.json").read_text(encoding="utf-8")),
    }


SEEDS = _seed_profiles()

# Number and structure tokens that json.dumps cannot produce (or that would recurse in json.dumps
# itself), spliced into the text in place of a marker string.
RAW_TOKENS = [
    "1e400", "-1e400", "1" + "0" * 400, "-" + "9" * 4400, "NaN", "Infinity", "-Infinity", "1e-400",
    "-0", "4.9e-324", "1.7976931348623157e308", "3.5e38", "1e-46",
    "[" * 50 + "]" * 50, "[" * 3000 + "]" * 3000, '{"a":' * 600 + "1" + "}" * 600,
    "[" + ",".join(["0.5"] * 100_000) + "]", "[" + ",".join(["[1]"] * 5000) + "]",
]
_MARK = re.compile(r'"\\u0000RAW(\d+)\\u0000"')


class Raw:
    """A JSON token spliced in verbatim (see RAW_TOKENS)."""

    def __init__(self, i: int) -> None:
        self.i = i


json_scalars = (
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12)
)
json_values = st.recursive(
    json_scalars, lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=6), c, max_size=4),
    max_leaves=12)
hostile_values = st.one_of(
    json_values,
    st.sampled_from([0, -1, 1, 2, 0.5, 1.0, -0.0, 1e-300, 3.5e38, 1e308, 2**53 + 1, 2**63, 2**64 + 1, 65537, 4097,
                     "NaN", "nan", "Infinity", "1e400", "", " ", "\ud800", "a\udfffb", "\x00", "1", "text", "vision",
                     "cactus-router-profile", [], {}, [[]], [[1.0]], [0.0, 0.0, 0.0], [1e-7, 1e-7, 1e-7]]),
    st.integers(0, len(RAW_TOKENS) - 1).map(Raw),
    st.lists(st.floats(-2, 2, allow_nan=False), min_size=1, max_size=40),
)


#: Edge values of numbers, for replacing a number where it stands.
EXTREMES = [0, -0.0, 1, -1, 5e-324, 1e-300, 1e-46, 1e-7, 0.9999999, 1.0000001, 10.0000001, 3.5e38,
            1.7976931348623157e308, 2**31, 2**53 + 1, 2**64 + 1, 10**30]


def _paths(obj: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(obj, dict):
        for key, val in obj.items():
            out += _paths(val, prefix + (key,))
    elif isinstance(obj, list):
        for i, val in enumerate(obj):
            out += _paths(val, prefix + (i,))
    return out


def _retype(v: Any) -> Any:
    """The same content in another JSON type: number <-> string, list <-> object."""
    if isinstance(v, bool) or v is None:
        return str(v).lower()
    if isinstance(v, (int, float)):
        return str(v)
    if isinstance(v, str):
        return [v]
    if isinstance(v, list):
        return {str(i): x for i, x in enumerate(v)}
    return list(v.values())


@st.composite
def mutated_profiles(draw: Any) -> tuple[str, str]:
    """(seed name, JSON text): a valid profile with one to three values deleted, replaced or retyped."""
    name = draw(st.sampled_from(sorted(SEEDS)))
    obj: Any = copy.deepcopy(SEEDS[name])
    for _ in range(draw(st.integers(1, 3))):
        paths = _paths(obj)
        path = draw(st.sampled_from(paths))
        op = draw(st.sampled_from(["delete", "replace", "replace", "retype", "duplicate", "append", "extreme"]))
        value = copy.deepcopy(draw(hostile_values))  # sampled values are shared: never mutate them
        if isinstance(value, Raw):
            value = f"\x00RAW{value.i}\x00"
        if not path:
            obj = value if op == "replace" else obj
            continue
        parent = obj
        for step in path[:-1]:
            parent = parent[step]
        last = path[-1]
        if op == "delete":
            del parent[last]
        elif op == "replace":
            parent[last] = value
        elif op == "retype":
            parent[last] = _retype(parent[last])
        elif op == "extreme":
            parent[last] = draw(st.sampled_from(EXTREMES))
        elif op == "duplicate" and isinstance(parent, list):
            parent.insert(last, copy.deepcopy(parent[last]))
        elif op == "append" and isinstance(parent[last], list):
            parent[last].append(value)
        elif op == "append" and isinstance(parent[last], dict):
            parent[last][draw(st.text(max_size=8))] = value
    text = json.dumps(obj, ensure_ascii=draw(st.booleans()))
    return name, _MARK.sub(lambda m: RAW_TOKENS[int(m.group(1))], text)


# ---------------------------------------------------------------------------------------------
# The property.


def _usable(profile: Profile) -> None:
    """A loaded profile routes, and saves to JSON that loads back to the same bytes."""
    emb = CallableEmbedder(lambda t: np.ones((len(t), profile.dim)), name=profile.embedder.name, dim=profile.dim)
    router = Router(profile, emb, allow_embedder_mismatch=True)
    d = router.route_embedding(np.linspace(-1.0, 2.0, profile.dim))
    assert d.model in profile.model_ids and np.isfinite(d.score)
    saved = profile.to_json()
    saved.encode("utf-8")  # Profile.save writes UTF-8
    assert Profile.from_json(saved).to_json() == saved


def load_or_profile_error(data: bytes | str) -> Profile | None:
    """Profile.from_json(data), which must either give a usable Profile or raise ProfileError."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            profile = Profile.from_json(data)
        except ProfileError as exc:
            assert str(exc) and "\n" not in str(exc)[:2000]
            return None
        _usable(profile)
        return profile


@pytest.fixture(scope="module")
def tmp_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("hostile")


@settings(FUZZ, max_examples=300)
@given(st.binary(max_size=2000))
def test_any_bytes_load_or_raise_profile_error(data):
    """Arbitrary bytes give a usable Profile or ProfileError, nothing else."""
    load_or_profile_error(data)


@settings(FUZZ, max_examples=200)
@given(json_values)
def test_any_json_document_loads_or_raises_profile_error(doc):
    """Any JSON document, of any shape, gives a usable Profile or ProfileError."""
    load_or_profile_error(json.dumps(doc))


@settings(FUZZ, max_examples=600)
@given(mutated_profiles())
def test_any_mutation_of_a_valid_profile_loads_or_raises_profile_error(case):
    """Deleting, replacing or retyping values anywhere in a valid profile never escapes ProfileError."""
    _, text = case
    load_or_profile_error(text)


@settings(FUZZ, max_examples=60)
@given(mutated_profiles())
def test_profile_load_from_a_file_behaves_like_from_json(tmp_dir, case):
    """Profile.load of a hostile file (UTF-8 or not) gives a usable Profile or ProfileError."""
    _, text = case
    path = tmp_dir / "p.json"
    path.write_bytes(text.encode("utf-8", "surrogatepass"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            profile = Profile.load(path)
        except ProfileError:
            return
        _usable(profile)


def _with(seed: str, edit) -> str:
    obj = copy.deepcopy(SEEDS[seed])
    edit(obj)
    return json.dumps(obj)


def _set(path: tuple[Any, ...], value: Any):
    def edit(obj):
        for step in path[:-1]:
            obj = obj[step]
        obj[path[-1]] = value
    return edit


V1 = json.dumps(SEEDS["v1"])


@pytest.mark.parametrize(
    "text, where",
    [
        pytest.param(V1.replace('"cost": 1.0', '"cost": 1' + "0" * 400, 1), "$.models[0].cost", id="int-beyond-float"),
        pytest.param(V1.replace('"training": {}', '"training":{"x":1e400}'), "$.training.x", id="inf-in-training"),
        pytest.param(V1.replace('"training": {}', '"training":{"\\n":1e400}'), '$.training["\\n"]', id="newline-key"),
        pytest.param(V1.replace('"training": {}', '"training":{"x":' + "[" * 900 + "]" * 900 + "}"), "$.training.x",
                     id="deep-training"),
        pytest.param(V1[:-1] + ',"training":{"x":1}}', 'duplicate key "training"', id="duplicate-key"),
        pytest.param(json.dumps(SEEDS["nordlys"]).replace('"metadata": {', '"metadata": {"deep": ' + "[" * 700
                                                          + "]" * 700 + ", ", 1),
                     "$.metadata.deep", id="deep-legacy-metadata"),
        pytest.param(_with("v1", _set(("clusters", "centroids", 0), [1e-46] * 4)), "$.clusters.centroids[0]",
                     id="centroid-zero-in-float32"),
        pytest.param(_with("v1", _set(("clusters", "centroids", 0), [1e-7] * 4)), "$.clusters.centroids[0]",
                     id="centroid-zero-when-saved"),
        pytest.param(_with("v1", _set(("clusters", "centroids", 0, 0), 1e39)), "$.clusters.centroids[0][0]",
                     id="centroid-beyond-float32"),
        pytest.param(_with("v1", _set(("models", 0, "counts", 1), 1.5)), "$.models[0].counts[1]",
                     id="fractional-count"),
        pytest.param(_with("v1", _set(("clusters", "sizes", 2), 2.5)), "$.clusters.sizes[2]", id="fractional-size"),
        pytest.param(_with("v1", _set(("version",), 1.0)), "$.version", id="version-float"),
        pytest.param(_with("v1", _set(("models", 1, "id"), "m\ud800")), "$.models[1].id", id="lone-surrogate-id"),
        pytest.param(_with("v1", _set(("embedder", "name"), "\udfff")), "$.embedder.name", id="lone-surrogate-name"),
        pytest.param(_with("v1", _set(("training",), {"\ud800": 1})), "$.training", id="lone-surrogate-key"),
        pytest.param(_with("v1-fingerprint", _set(("embedder", "probe_texts", 0), "\ud800x")),
                     "$.embedder.probe_texts[0]", id="lone-surrogate-probe"),
    ],
)
def test_found_by_fuzzing_each_raises_profile_error_naming_the_path(text, where):
    """Each input hypothesis found (a leak, an unusable profile or a message over two lines) is now a
    one-line ProfileError naming its JSON path."""
    with pytest.raises(ProfileError, match=re.escape(where)) as exc:
        Profile.from_json(text)
    assert "\n" not in str(exc.value)


@pytest.mark.parametrize("temperature", [5e-324, 1e-300, 1e-12])
def test_a_tiny_routing_temperature_routes_with_finite_scores(temperature):
    """A temperature just above 0 (valid: it is in [0, 10]) must not turn the C softmax into NaN scores."""
    obj = copy.deepcopy(SEEDS["v1"])
    obj.setdefault("routing", {})["temperature"] = temperature
    assert load_or_profile_error(json.dumps(obj)) is not None


@pytest.mark.parametrize("path", ["nul\x00byte.json", "/", "/nonexistent/dir/p.json"])
def test_unreadable_profile_paths_raise_profile_error(path):
    """A NUL in the path, a directory or a missing file is a ProfileError, not ValueError or OSError."""
    with pytest.raises(ProfileError):
        Profile.load(path)


# ---------------------------------------------------------------------------------------------
# Routing tables (JSONL): a bad row names its line.

GOOD_ROW = {"prompt": "What is 17 * 23?", "scores": {"a": 1, "b": 0.25}, "task": "math", "id": "r1", "costs": {"a": 2}}


@st.composite
def hostile_rows(draw: Any) -> str:
    """One line: a mutated good row, or arbitrary text (never containing a newline)."""
    if draw(st.booleans()):
        return draw(st.text(max_size=60).map(lambda s: s.replace("\n", " ")))
    obj: Any = copy.deepcopy(GOOD_ROW)
    for _ in range(draw(st.integers(1, 2))):
        path = draw(st.sampled_from(_paths(obj)))
        value = copy.deepcopy(draw(hostile_values))  # sampled values are shared: never mutate them
        if isinstance(value, Raw):
            value = f"\x00RAW{value.i}\x00"
        if not path:
            obj = value
            continue
        parent = obj
        for step in path[:-1]:
            parent = parent[step]
        if draw(st.booleans()):
            del parent[path[-1]]
        else:
            parent[path[-1]] = value
    return _MARK.sub(lambda m: RAW_TOKENS[int(m.group(1))], json.dumps(obj, ensure_ascii=draw(st.booleans())))


def _check_rows(rows: list[RoutingRow], path: Path) -> None:
    """Rows read from a table are valid and survive write_table and read_table unchanged."""
    for r in rows:
        assert isinstance(r.prompt, str) and r.prompt.strip()
        assert r.scores and all(0.0 <= s <= 1.0 for s in r.scores.values())
    out = path.with_suffix(".out.jsonl")
    write_table(rows, out)
    assert read_table(out) == rows


@settings(FUZZ, max_examples=400)
@given(st.integers(0, 4), hostile_rows(), st.integers(0, 3))
def test_a_bad_row_raises_routing_table_error_naming_its_line(tmp_dir, before, line, after):
    """A table of good rows with one hostile line reads or raises RoutingTableError naming that line."""
    path = tmp_dir / "t.jsonl"
    good = json.dumps(GOOD_ROW)
    lines = [good] * (before + 1) + [line] + [good] * after  # line 1 is good: a '[' there means the JSON-list layout
    path.write_bytes("\n".join(lines).encode("utf-8", "surrogatepass"))
    try:
        rows = read_table(path)
    except RoutingTableError as exc:
        assert f"{path}:{before + 2}:" in str(exc), str(exc)
        return
    _check_rows(rows, path)


@settings(FUZZ, max_examples=200)
@given(st.binary(max_size=1000) | st.text(max_size=300).map(lambda s: s.encode("utf-8", "surrogatepass")))
def test_any_bytes_read_as_a_table_give_rows_or_routing_table_error(tmp_dir, data):
    """Arbitrary bytes (JSONL or the LLMRouter JSON list) read as valid rows or raise RoutingTableError."""
    path = tmp_dir / "any.jsonl"
    path.write_bytes(data)
    try:
        rows = read_table(path)
    except RoutingTableError:
        return
    _check_rows(rows, path)


@pytest.mark.parametrize(
    "line",
    [
        '{"prompt": "x", "scores": {"a": 1' + "0" * 400 + "}}",
        '{"prompt": "x", "scores": {"a": 1}, "costs": {"a": 1' + "0" * 400 + "}}",
        '{"prompt": "x", "scores": {"a": ' + "[" * 900 + "]" * 900 + "}}",
        '{"prompt": "x\\ud800", "scores": {"a": 1}}',
        '{"prompt": "x", "scores": {"a\\udfff": 1}}',
        '{"prompt": "x", "scores": {"a": 1}, "task": "\\ud800"}',
        b'{"prompt": "caf\xe9", "scores": {"a": 1}}',
    ],
    ids=["score-int-beyond-float", "cost-int-beyond-float", "deep-score", "surrogate-prompt", "surrogate-model",
         "surrogate-task", "latin-1-byte"],
)
def test_found_by_fuzzing_table_rows_name_their_line(tmp_path, line):
    """Each row hypothesis found leaking (OverflowError, RecursionError, unwritable text) names line 2."""
    path = tmp_path / "t.jsonl"
    raw = line if isinstance(line, bytes) else line.encode()
    path.write_bytes(json.dumps(GOOD_ROW).encode() + b"\n" + raw + b"\n")
    with pytest.raises(RoutingTableError, match=re.escape(f"{path}:2:")):
        read_table(path)


def test_unreadable_queries_file_is_a_routing_table_error(tmp_path):
    """A missing or non-UTF-8 queries file for the LLMRouter layout is a RoutingTableError."""
    table = tmp_path / "t.json"
    table.write_text(json.dumps([{"question": "q", "scores": {"a": 1}}]))
    with pytest.raises(RoutingTableError, match="queries"):
        read_table(table, queries=tmp_path / "missing.jsonl")
    bad = tmp_path / "q.jsonl"
    bad.write_bytes(b"\xff\xfe")
    with pytest.raises(RoutingTableError, match="queries"):
        read_table(table, queries=bad)


# ---------------------------------------------------------------------------------------------
# The same inputs through the CLI: a one-line error and exit code 1, never a traceback.


def _clean_exit(result, code: int) -> None:
    assert result.exit_code == code, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.output


@pytest.mark.parametrize("command", ["info", "convert"])
@pytest.mark.parametrize("content", [b"\xff\xfe", b"[]", V1.replace('"version": 1', '"version": "1"').encode(),
                                     (V1[:-1] + ',"training":{"x":' + "[" * 900 + "]" * 900 + "}}").encode()])
def test_cli_reports_a_hostile_profile_in_one_line(tmp_path, command, content):
    """info and convert on a hostile profile exit 1 with one line and no traceback."""
    src = tmp_path / "bad.json"
    src.write_bytes(content)
    args = ["info", "--profile", str(src)] if command == "info" else ["convert", str(src), str(tmp_path / "o.json")]
    _clean_exit(CliRunner().invoke(cli, args), 1)
    assert not (tmp_path / "o.json").exists()


def test_cli_train_reports_a_bad_table_line(tmp_path):
    """train on a table with a hostile row exits 1 naming the line."""
    table = tmp_path / "t.jsonl"
    table.write_text(json.dumps(GOOD_ROW) + '\n{"prompt": "x", "scores": {"a": 1' + "0" * 400 + "}}\n")
    result = CliRunner().invoke(cli, ["train", str(table), "-e", "hash", "--k", "1", "-o", str(tmp_path / "o.json")])
    _clean_exit(result, 1)
    assert f"{table}:2:" in result.output


@pytest.mark.parametrize("models", [
    [{"id": "a", "cost": 1, "capabilities": [["text"]]}, {"id": "b", "cost": 2}],
    [{"id": "a", "cost": 1, "capabilities": [{"x": 1}]}, {"id": "b", "cost": 2}],
])
def test_cli_train_reports_a_hostile_model_list(tmp_path, models):
    """train with a model list whose capabilities hold unhashable values exits 1, not a TypeError traceback."""
    table = tmp_path / "t.jsonl"
    table.write_text("\n".join(json.dumps({"prompt": f"prompt {i}", "scores": {"a": i % 2, "b": 1}}) for i in range(4)))
    models_file = tmp_path / "models.json"
    models_file.write_text(json.dumps(models))
    result = CliRunner().invoke(cli, ["train", str(table), "--models", str(models_file), "-e", "hash", "--k", "1",
                                      "-o", str(tmp_path / "o.json")])
    _clean_exit(result, 1)
    assert "capabilities" in result.output


@pytest.mark.parametrize("k", ["0", "-3", "x"])
def test_cli_train_bad_k_is_a_usage_error(tmp_path, k):
    """--k that is not a positive integer or 'auto' is a usage error (exit 2), like any bad option value."""
    table = tmp_path / "t.jsonl"
    table.write_text(json.dumps(GOOD_ROW) + "\n")
    result = CliRunner().invoke(cli, ["train", str(table), "-e", "hash", "--k", k, "-o", str(tmp_path / "o.json")])
    _clean_exit(result, 2)
