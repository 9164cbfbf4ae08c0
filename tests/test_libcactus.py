"""The shared libcactus loader: pinned declarations, search order, symbol probe, one error, telemetry scope.

The FAKE libcactus of tests/fake_libcactus.py stands in for the library (the real one runs in
tests/integration under qemu).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from fake_libcactus import compile_fake

from cactus_router import _libcactus as lcm
from cactus_router.errors import NativeLibraryError

HEADERS = Path(__file__).parents[1] / "third_party" / "cactus"


def _decls(text: str) -> str:
    return " ".join(re.sub(r"/\*.*?\*/", "", text, flags=re.S).split())


@pytest.mark.parametrize(("header", "cdef"), [("cactus_embed.h", lcm.EMBED_CDEF),
                                              ("cactus_complete.h", lcm.COMPLETE_CDEF)])
def test_cdef_matches_the_pinned_header(header, cdef):
    """The declarations we dlopen with are exactly the pinned headers' in third_party/cactus."""
    assert _decls((HEADERS / header).read_text()) == _decls(cdef)


def test_every_needed_symbol_is_declared():
    """Each symbol a caller probes for is declared in CDEF, and every declared function is probed by someone."""
    declared = set(re.findall(r"\b(cactus_\w+)\s*\(", lcm.CDEF)) - {"cactus_token_callback"}
    assert declared == set(lcm.EMBED_SYMBOLS) | set(lcm.COMPLETE_SYMBOLS)


def test_probe_is_per_caller(tmp_path):
    """A library without cactus_complete serves the embedder's needs but is refused for generation."""
    lib = compile_fake(tmp_path, "fake_libcactus_embed_only.so", "-DNO_COMPLETE_SYMBOL")
    assert lcm.load_libcactus(lib, lcm.EMBED_SYMBOLS).path == str(lib)
    with pytest.raises(NativeLibraryError, match="lacks cactus_complete, cactus_reset"):
        lcm.load_libcactus(lib, lcm.COMPLETE_SYMBOLS)


def test_not_found_lists_every_place(monkeypatch):
    """With no library anywhere, one single-line NativeLibraryError lists each place tried and the fix."""
    monkeypatch.delenv(lcm.ENV_LIB, raising=False)
    monkeypatch.setattr(lcm, "_package_candidate", lambda: (None, "cactus-compute is not installed"))
    monkeypatch.setattr(lcm.ctypes.util, "find_library", lambda name: None)
    with pytest.raises(NativeLibraryError) as info:
        lcm.load_libcactus()
    msg = str(info.value)
    assert "\n" not in msg
    for part in ("lib_path argument", "CACTUS_LIB_PATH", "cactus-compute is not installed", "system library path",
                 "pip install --no-deps cactus-compute==2.2.2"):
        assert part in msg


def test_env_var_is_authoritative(monkeypatch, tmp_path):
    """A CACTUS_LIB_PATH that does not exist is an error, not a silent fall back to another library."""
    monkeypatch.setenv(lcm.ENV_LIB, str(tmp_path / "nope.so"))
    with pytest.raises(NativeLibraryError, match="CACTUS_LIB_PATH environment variable: .*nope.so does not exist"):
        lcm.load_libcactus()


def test_wrong_architecture_is_one_error(tmp_path):
    """A file that is not a loadable library is reported with the loader's reason."""
    bogus = tmp_path / "libcactus_engine.so"
    bogus.write_bytes(b"\x7fELF not really")
    with pytest.raises(NativeLibraryError, match="could not be loaded"):
        lcm.load_libcactus(bogus)


def test_info_without_library(monkeypatch):
    """libcactus_info reports why the library was not found, for `cactus-router info`."""
    monkeypatch.delenv(lcm.ENV_LIB, raising=False)
    monkeypatch.setattr(lcm, "_package_candidate", lambda: (None, "cactus-compute is not installed"))
    monkeypatch.setattr(lcm.ctypes.util, "find_library", lambda name: None)
    info = lcm.libcactus_info()
    assert info["found"] is False and info["path"] is None and info["hint"]
    assert any("not installed" in t for t in info["tried"])


def test_telemetry_scope_restores_the_environment(monkeypatch):
    """The scope sets CACTUS_NO_CLOUD_TELE=1 inside and leaves an unset or user value as it was."""
    monkeypatch.delenv(lcm.ENV_NO_TELEMETRY, raising=False)
    with lcm._telemetry_scope(False):
        assert os.environ[lcm.ENV_NO_TELEMETRY] == "1"
    assert lcm.ENV_NO_TELEMETRY not in os.environ
    monkeypatch.setenv(lcm.ENV_NO_TELEMETRY, "0")
    with pytest.raises(RuntimeError), lcm._telemetry_scope(False):
        raise RuntimeError("cactus_init blew up")
    assert os.environ[lcm.ENV_NO_TELEMETRY] == "0"
    with lcm._telemetry_scope(True):
        assert os.environ[lcm.ENV_NO_TELEMETRY] == "0"
