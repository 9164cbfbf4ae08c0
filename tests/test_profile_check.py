"""tools/build_default_profile.py --check: byte for byte, or last digits only and the same decisions."""

from __future__ import annotations

import base64
import copy
import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).parents[1]
_spec = importlib.util.spec_from_file_location("build_default_profile", ROOT / "tools" / "build_default_profile.py")
assert _spec and _spec.loader
bdp = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bdp)

PROMPTS = ["What is the capital of France?", "Write a Python function that reverses a linked list.",
           "Solve 3x + 5 = 20.", "Summarise the causes of the First World War in two sentences."]


@pytest.fixture(scope="module")
def committed() -> dict:
    return json.loads(bdp.OUT.read_text(encoding="utf-8"))


def _write(tmp_path: Path, name: str, obj: dict) -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(obj), encoding="utf-8")
    return path


def _nudged(obj: dict) -> dict:
    """The profile with one centroid value moved in its last printed digit and one float16 of the
    topic check's factor moved by one unit in the last place: what another CPU's kernels do."""
    out = copy.deepcopy(obj)
    out["clusters"]["centroids"][0][0] += 1e-6
    factor = out["ood"]["topic"]["mahalanobis"]["factor"]
    bits = np.frombuffer(base64.b64decode(factor["base64"]), dtype="<u2").copy()
    bits[7] += 1
    factor["base64"] = base64.b64encode(bits.tobytes()).decode("ascii")
    return out


def test_the_same_bytes_are_identical(tmp_path, committed):
    a = _write(tmp_path, "a.json", committed)
    assert bdp.compare(a, a, PROMPTS) == (True, "identical (byte for byte)")


def test_last_digit_moves_pass_and_are_reported(tmp_path, committed):
    ok, why = bdp.compare(_write(tmp_path, "a.json", committed), _write(tmp_path, "b.json", _nudged(committed)),
                          PROMPTS)
    assert ok, why
    assert why.startswith("identical up to float rounding: 2 numbers differ")
    assert f"the {len(PROMPTS)} test prompts route the same" in why


@pytest.mark.parametrize(("where", "change", "message"), [
    ("rows", lambda o: o["training"].__setitem__("rows", o["training"]["rows"] + 1), "$.training.rows"),
    ("a key", lambda o: o["training"].__setitem__("extra", 1), "keys ['extra'] in one profile only"),
    ("a model id", lambda o: o["models"][0].__setitem__("id", "other"), "$.models[0].id"),
    ("a list's length", lambda o: o["clusters"]["centroids"].pop(), "48 items became 47"),
    ("a centroid beyond the tolerance", lambda o: o["clusters"]["centroids"][3].__setitem__(5, 0.5),
     "$.clusters.centroids[3][5] moved"),
])
def test_anything_else_differs(tmp_path, committed, where, change, message):
    changed = copy.deepcopy(committed)
    change(changed)
    ok, why = bdp.compare(_write(tmp_path, "a.json", committed), _write(tmp_path, "b.json", changed), PROMPTS)
    assert not ok and why.startswith("DIFFERS") and message in why, (where, why)


def test_a_changed_decision_differs_even_within_the_tolerance(tmp_path, committed, monkeypatch):
    """With the tolerance opened wide, a rate that changes which model a prompt gets is still caught."""
    monkeypatch.setattr(bdp, "REL", 1e6)
    changed = copy.deepcopy(committed)
    vectors = bdp.get_embedder(bdp.DEFAULT_EMBEDDER).embed_many(PROMPTS[:1])
    chosen = bdp.decisions(bdp.Profile.load(_write(tmp_path, "a.json", committed)), PROMPTS[:1], vectors)[0][0]
    model = next(m for m in changed["models"] if m["id"] == chosen)
    model["error_rates"] = [0.999] * len(model["error_rates"])
    ok, why = bdp.compare(_write(tmp_path, "a.json", committed), _write(tmp_path, "b.json", changed), PROMPTS)
    assert (ok, why) == (False, f"DIFFERS from {tmp_path / 'a.json'}: a test prompt routes differently")


def test_same_values_in_other_bytes_differ(tmp_path, committed):
    indented = tmp_path / "b.json"
    indented.write_text(json.dumps(committed, indent=1), encoding="utf-8")
    ok, why = bdp.compare(_write(tmp_path, "a.json", committed), indented, PROMPTS)
    assert not ok and "written differently" in why
