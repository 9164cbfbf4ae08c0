"""CactusEmbedder's side of the libcactus boundary: error and buffer handling, telemetry, truncation.

The real library runs in tests/integration (under qemu on x86_64). Here the FAKE libcactus of
tests/fake_libcactus.py stands in only to drive our error paths; it embeds nothing real. Finding
and probing the library is tested in test_libcactus.py.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from fake_libcactus import compile_fake

from cactus_router.embedders import cactus as cm
from cactus_router.errors import EmbedderError, NativeLibraryError


@pytest.fixture(scope="module")
def fake_lib(tmp_path_factory) -> Path:  # type: ignore[no-untyped-def]
    return compile_fake(tmp_path_factory.mktemp("fake"), "fake_libcactus.so")


@pytest.fixture
def bundle(tmp_path) -> Path:  # type: ignore[no-untyped-def]
    d = tmp_path / "LFM2-350M"
    d.mkdir()
    return d


def test_embeds_through_the_fake(fake_lib, bundle, tmp_path):
    """The fake's vector comes back normalised; the name is the bundle's; close is idempotent."""
    with cm.CactusEmbedder(bundle, lib_path=fake_lib, cache_dir=tmp_path / "c") as e:
        assert e.dim == 8 and e.name == "cactus:lfm2-350m"
        v = e.embed("hello")
        np.testing.assert_allclose(v, np.arange(1, 9) / np.linalg.norm(np.arange(1, 9)), rtol=1e-6)
    assert e.closed
    e.close()
    with pytest.raises(EmbedderError, match="closed"):
        e.embed("hello")


def test_buffer_too_small_is_grown(fake_lib, bundle, tmp_path):
    """A -2 from cactus_embed or cactus_tokenize grows the buffer and retries."""
    with cm.CactusEmbedder(bundle, lib_path=fake_lib, cache_dir=tmp_path) as e:
        e._dim_hint = 2
        assert e.embed("x").shape == (8,)
        assert e.count_tokens("y" * 5000) == 5000


def test_embed_failure_reads_last_error(fake_lib, bundle, tmp_path):
    """A -1 from cactus_embed is an EmbedderError carrying libcactus' message."""
    with cm.CactusEmbedder(bundle, lib_path=fake_lib, cache_dir=tmp_path) as e:
        with pytest.raises(EmbedderError, match="cactus_embed failed.*fake: embedding failed"):
            e.embed("please FAIL")


def test_init_failure_reads_last_error(fake_lib, tmp_path):
    """NULL from cactus_init is one EmbedderError with libcactus' message and the fix."""
    (tmp_path / "broken").mkdir()
    with pytest.raises(EmbedderError, match="fake: no components/manifest.json.*complete cactus bundle"):
        cm.CactusEmbedder(tmp_path / "broken", lib_path=fake_lib, cache_dir=tmp_path)


def test_long_prompt_is_cut_to_the_cap(fake_lib, bundle, tmp_path):
    """Head and tail are kept and the result fits max_tokens (the fake makes a token per byte)."""
    with cm.CactusEmbedder(bundle, lib_path=fake_lib, cache_dir=tmp_path, max_tokens=64) as e:
        text = "HEAD " + "m" * 5000 + " TAIL"
        cut = e._fit(text)
        assert len(cut.encode()) <= 64 and cut.startswith("HEAD") and cut.endswith("TAIL")
        assert e._fit(text) == cut


def test_missing_symbol_is_reported(tmp_path, bundle):
    """A library without a function we call is refused, naming the function."""
    lib = compile_fake(tmp_path, "fake_libcactus_old.so", "-DNO_TELEMETRY_SYMBOL")
    with pytest.raises(NativeLibraryError, match="lacks cactus_set_telemetry_environment"):
        cm.CactusEmbedder(bundle, lib_path=lib)


def test_telemetry_off_for_the_engine_start_only(fake_lib, bundle, tmp_path, monkeypatch):
    """cactus_init sees CACTUS_NO_CLOUD_TELE=1 unless telemetry=True; the environment is restored after."""
    import cffi

    probe = cffi.FFI()
    probe.cdef("int fake_tele_off_at_init(void);")
    seen = probe.dlopen(str(fake_lib))  # the same loaded library, so the same statics
    monkeypatch.delenv("CACTUS_NO_CLOUD_TELE", raising=False)
    with cm.CactusEmbedder(bundle, lib_path=fake_lib, cache_dir=tmp_path / "t"):
        assert seen.fake_tele_off_at_init() == 1
        assert "CACTUS_NO_CLOUD_TELE" not in os.environ
    assert (tmp_path / "t").is_dir()
    monkeypatch.setenv("CACTUS_NO_CLOUD_TELE", "0")
    with cm.CactusEmbedder(bundle, lib_path=fake_lib, cache_dir=tmp_path / "t", telemetry=True):
        assert seen.fake_tele_off_at_init() == 0
        assert os.environ["CACTUS_NO_CLOUD_TELE"] == "0"
    with cm.CactusEmbedder(bundle, lib_path=fake_lib, cache_dir=tmp_path / "t"):
        assert seen.fake_tele_off_at_init() == 1
        assert os.environ["CACTUS_NO_CLOUD_TELE"] == "0"
