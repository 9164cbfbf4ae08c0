"""Our side of the libcactus boundary: library discovery, symbol probing, error and buffer handling.

The real library runs in tests/integration (under qemu on x86_64). Here a FAKE libcactus, compiled
from the C source below at test time and named fake_libcactus, stands in only to drive our error
paths (NULL init, -1 with a message, -2 buffer too small, a missing symbol); it embeds nothing real.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from cactus_router.embedders import cactus as cm
from cactus_router.errors import EmbedderError, NativeLibraryError

FAKE_C = r"""
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
static __thread const char* last = "";
static int model_tag = 42;
static int destroyed = 0;
int fake_destroyed(void) { return destroyed; }
void* cactus_init(const char* path, const char* corpus, bool cache) {
    (void)corpus; (void)cache;
    if (strstr(path, "broken")) { last = "fake: no components/manifest.json"; return NULL; }
    return &model_tag;
}
void cactus_destroy(void* m) { (void)m; destroyed++; }
int cactus_tokenize(void* m, const char* text, uint32_t* buf, size_t n, size_t* out) {
    (void)m; size_t len = strlen(text);       /* one token per byte */
    *out = len;
    if (len > n) return -2;
    for (size_t i = 0; i < len; i++) buf[i] = (unsigned char)text[i];
    return 0;
}
int cactus_embed(void* m, const char* text, float* buf, size_t bytes, size_t* dim, bool normalize) {
    (void)m; (void)normalize;
    if (strstr(text, "FAIL")) { last = "fake: embedding failed"; return -1; }
    *dim = 8;
    if (bytes < 8 * sizeof(float)) return -2;
    for (int i = 0; i < 8; i++) buf[i] = (float)(i + 1) * (float)strlen(text);
    return 8;
}
const char* cactus_get_last_error(void) { return last; }
#ifndef NO_TELEMETRY_SYMBOL
void cactus_set_telemetry_environment(const char* f, const char* c, const char* v) { (void)f; (void)c; (void)v; }
#endif
"""


def _compile(tmp: Path, name: str, *defines: str) -> Path:
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        pytest.skip("no C compiler (cc) to build the fake libcactus")
    src = tmp / "fake_libcactus.c"
    src.write_text(FAKE_C)
    out = tmp / name
    subprocess.run([cc, "-shared", "-fPIC", "-std=c99", *defines, str(src), "-o", str(out)], check=True)
    return out


@pytest.fixture(scope="module")
def fake_lib(tmp_path_factory) -> Path:  # type: ignore[no-untyped-def]
    return _compile(tmp_path_factory.mktemp("fake"), "fake_libcactus.so")


@pytest.fixture
def bundle(tmp_path) -> Path:  # type: ignore[no-untyped-def]
    d = tmp_path / "LFM2-350M"
    d.mkdir()
    return d


def test_cdef_matches_the_pinned_header():
    """The declarations we dlopen with are exactly third_party/cactus/cactus_embed.h's."""
    header = (Path(__file__).parents[1] / "third_party" / "cactus" / "cactus_embed.h").read_text()
    body = re.sub(r"/\*.*?\*/", "", header, flags=re.S)
    assert " ".join(body.split()) == " ".join(cm.CDEF.split())
    declared = set(re.findall(r"\b(cactus_\w+)\s*\(", cm.CDEF))
    assert declared == set(cm.SYMBOLS)


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
    lib = _compile(tmp_path, "fake_libcactus_old.so", "-DNO_TELEMETRY_SYMBOL")
    with pytest.raises(NativeLibraryError, match="lacks cactus_set_telemetry_environment"):
        cm.CactusEmbedder(bundle, lib_path=lib)


def test_not_found_lists_every_place(monkeypatch, bundle):
    """With no library anywhere, one NativeLibraryError lists each place tried and the fix."""
    monkeypatch.delenv(cm.ENV_LIB, raising=False)
    monkeypatch.setattr(cm, "_package_candidate", lambda: (None, "cactus-compute is not installed"))
    monkeypatch.setattr(cm.ctypes.util, "find_library", lambda name: None)
    with pytest.raises(NativeLibraryError) as info:
        cm.CactusEmbedder(bundle)
    msg = str(info.value)
    assert "\n" not in msg
    for part in ("lib_path argument", "CACTUS_LIB_PATH", "cactus-compute is not installed", "system library path",
                 "pip install --no-deps cactus-compute==2.2.2"):
        assert part in msg


def test_env_var_is_authoritative(monkeypatch, tmp_path, bundle):
    """A CACTUS_LIB_PATH that does not exist is an error, not a silent fall back to another library."""
    monkeypatch.setenv(cm.ENV_LIB, str(tmp_path / "nope.so"))
    with pytest.raises(NativeLibraryError, match="CACTUS_LIB_PATH environment variable: .*nope.so does not exist"):
        cm.CactusEmbedder(bundle)


def test_wrong_architecture_is_one_error(tmp_path, bundle):
    """A file that is not a loadable library is reported with the loader's reason."""
    bogus = tmp_path / "libcactus_engine.so"
    bogus.write_bytes(b"\x7fELF not really")
    with pytest.raises(NativeLibraryError, match="could not be loaded"):
        cm.CactusEmbedder(bundle, lib_path=bogus)


def test_telemetry_off_by_default(fake_lib, bundle, tmp_path, monkeypatch):
    """CACTUS_NO_CLOUD_TELE is set before cactus_init unless telemetry=True."""
    monkeypatch.delenv("CACTUS_NO_CLOUD_TELE", raising=False)
    with cm.CactusEmbedder(bundle, lib_path=fake_lib, cache_dir=tmp_path / "t"):
        pass
    import os

    assert os.environ["CACTUS_NO_CLOUD_TELE"] == "1"
    assert (tmp_path / "t").is_dir()
    monkeypatch.delenv("CACTUS_NO_CLOUD_TELE")
    with cm.CactusEmbedder(bundle, lib_path=fake_lib, cache_dir=tmp_path / "t", telemetry=True):
        assert "CACTUS_NO_CLOUD_TELE" not in os.environ


def test_info_without_library(monkeypatch):
    """libcactus_info reports why the library was not found, for `cactus-router info`."""
    monkeypatch.delenv(cm.ENV_LIB, raising=False)
    monkeypatch.setattr(cm, "_package_candidate", lambda: (None, "cactus-compute is not installed"))
    monkeypatch.setattr(cm.ctypes.util, "find_library", lambda name: None)
    info = cm.libcactus_info()
    assert info["found"] is False and info["path"] is None and info["hint"]
    assert any("not installed" in t for t in info["tried"])
