"""CactusEmbedder against the real libcactus (aarch64: natively on ARM, or under qemu-user).

On x86_64 these tests skip with the reason; .ci/cactus-qemu.sh runs them under qemu-aarch64
with the library from the cactus-compute wheel, and .github/workflows/arm.yml runs them natively.
"""

from __future__ import annotations

import os
import threading

import numpy as np
import pytest

from cactus_router._libcactus import CDEF, COMPLETE_SYMBOLS, EMBED_SYMBOLS, find_libcactus
from cactus_router.embedders.cactus import CactusEmbedder
from cactus_router.errors import EmbedderError, EmbedderMismatchError, NativeLibraryError, PromptError


@pytest.fixture
def emb(tiny_bundle, tmp_path):  # type: ignore[no-untyped-def]
    with CactusEmbedder(tiny_bundle, cache_dir=tmp_path / "tele", max_tokens=60) as e:
        yield e


def test_library_exports_every_declared_symbol(libcactus):  # type: ignore[no-untyped-def]
    """Every function in our pinned declarations is exported by the installed libcactus."""
    for name in (*EMBED_SYMBOLS, *COMPLETE_SYMBOLS):
        assert name + "(" in CDEF.replace(" (", "(")
        getattr(libcactus.lib, name)


def test_version_reported_when_found_in_the_package(libcactus):  # type: ignore[no-untyped-def]
    """A library found inside cactus-compute reports the package's version."""
    _, tried = find_libcactus()
    if "cactus-compute package" in tried[-1]:
        assert libcactus.version
    else:
        pytest.skip(f"libcactus came from elsewhere: {tried[-1]}")


def test_init_tokenize_embed(emb):  # type: ignore[no-untyped-def]
    """init, tokenize and embed succeed and give a finite, unit-length, deterministic embedding."""
    assert emb.dim == 32
    assert emb.name == "cactus:cactus-router/tiny-text-embedding"
    assert emb.count_tokens("the cat sat on the mat") > 0
    v = emb.embed("the cat sat on the mat")
    assert v.shape == (32,) and v.dtype == np.float32 and np.isfinite(v).all()
    assert abs(float(np.linalg.norm(v)) - 1.0) < 1e-5
    np.testing.assert_array_equal(v, emb.embed("the cat sat on the mat"))
    assert not np.allclose(v, emb.embed("a different prompt entirely"))


def test_library_normalised_and_raw(emb):  # type: ignore[no-untyped-def]
    """libcactus' normalize flag: the normalised vector is the raw one scaled to unit length."""
    raw = emb.embed_raw("hello world", normalize=False)
    unit = emb.embed_raw("hello world", normalize=True)
    assert abs(float(np.linalg.norm(unit)) - 1.0) < 1e-5
    assert abs(float(np.linalg.norm(raw)) - 1.0) > 1e-3
    np.testing.assert_allclose(unit, raw / np.linalg.norm(raw), rtol=1e-5, atol=1e-6)


def test_long_prompt_truncated_head_and_tail(emb):  # type: ignore[no-untyped-def]
    """A prompt over max_tokens is cut deterministically and still embeds (no silent engine cut)."""
    long = " ".join(f"word{i}" for i in range(400))
    assert emb.count_tokens(long) > emb.max_tokens
    assert emb.count_tokens(emb._fit(long)) <= emb.max_tokens
    np.testing.assert_array_equal(emb.embed(long), emb.embed(long))


def test_missing_bundle(libcactus, tmp_path):  # type: ignore[no-untyped-def]
    """A path that is not a directory is refused before libcactus is asked."""
    with pytest.raises(EmbedderError, match="not a directory"):
        CactusEmbedder(tmp_path / "nope", cache_dir=tmp_path)


def test_not_a_bundle(libcactus, tmp_path):  # type: ignore[no-untyped-def]
    """A directory without a bundle is refused with libcactus' own message."""
    (tmp_path / "empty").mkdir()
    with pytest.raises(EmbedderError, match="could not load the bundle.*config.txt|manifest"):
        CactusEmbedder(tmp_path / "empty", cache_dir=tmp_path)


def test_bad_library_path(tiny_bundle, tmp_path):  # type: ignore[no-untyped-def]
    """An explicit library path that does not exist is one NativeLibraryError, no fallback."""
    with pytest.raises(NativeLibraryError, match="does not exist.*pip install --no-deps cactus-compute"):
        CactusEmbedder(tiny_bundle, lib_path=tmp_path / "libnope.so")


def test_empty_and_nul_prompts(emb):  # type: ignore[no-untyped-def]
    """Empty or NUL-carrying prompts are PromptErrors, not library errors."""
    with pytest.raises(PromptError):
        emb.embed("")
    with pytest.raises(PromptError, match="NUL"):
        emb.embed("a\x00b")


def test_close_is_deterministic(tiny_bundle, tmp_path):  # type: ignore[no-untyped-def]
    """close() frees the handle once; use after close is a clear error."""
    e = CactusEmbedder(tiny_bundle, cache_dir=tmp_path)
    e.close()
    e.close()
    assert e.closed
    with pytest.raises(EmbedderError, match="closed"):
        e.embed("hello")


def test_threads_share_one_embedder(emb):  # type: ignore[no-untyped-def]
    """Concurrent embeds on one handle (serialised by its lock) give the single-thread answers."""
    prompts = [f"prompt number {i}" for i in range(8)]
    expected = emb.embed_many(prompts)
    out: dict[int, np.ndarray] = {}

    def work(i: int) -> None:
        out[i] = emb.embed(prompts[i])

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(prompts))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    np.testing.assert_array_equal(np.stack([out[i] for i in range(len(prompts))]), expected)


def test_telemetry_off_and_kept_out_of_home(tiny_bundle, tmp_path):  # type: ignore[no-untyped-def]
    """By default cloud telemetry is disabled and libcactus' files land in our cache_dir."""
    before = os.environ.get("CACTUS_NO_CLOUD_TELE")
    with CactusEmbedder(tiny_bundle, cache_dir=tmp_path / "tele"):
        assert os.environ.get("CACTUS_NO_CLOUD_TELE") == before  # set for cactus_init only
    assert (tmp_path / "tele").is_dir()


def test_route_through_a_profile_built_with_this_embedder(emb, tiny_bundle, tmp_path):  # type: ignore[no-untyped-def]
    """train() with the real embedder, then Router.route(); another embedder is refused."""
    from cactus_router import Router
    from cactus_router.data import RoutingRow
    from cactus_router.embedders.hashing import HashEmbedder
    from cactus_router.training import train

    rows = [RoutingRow(prompt=f"math question {i}: what is {i} plus {i}?", scores={"a": 1.0, "b": 1.0})
            for i in range(6)]
    rows += [RoutingRow(prompt=f"write a long essay about topic {i}", scores={"a": 0.0, "b": 1.0})
             for i in range(6)]
    profile = train(rows, models=[{"id": "a", "cost": 1.0}, {"id": "b", "cost": 2.0}], embedder=emb, k=2,
                    smoothing=0.0, temperature=0.0, seed=0)
    assert profile.embedder.name == emb.name and profile.embedder.fingerprint == emb.fingerprint
    decision = Router.load(profile, embedder=emb).route("math question 99: what is 3 plus 4?")
    assert decision.model in {"a", "b"}
    with pytest.raises(EmbedderMismatchError):
        Router.load(profile, embedder=HashEmbedder(emb.dim))
    other = tmp_path / "other"
    import tiny_bundle as tb

    with CactusEmbedder(tb.build(emb._lc.path, other, seed=1), cache_dir=tmp_path) as same_name_other_weights:
        with pytest.raises(EmbedderMismatchError):
            Router.load(profile, embedder=same_name_other_weights)
