"""libcactus, found and opened at run time: the one search order, symbol probe, install hint and engine start.

libcactus ships only in the ``cactus-compute`` wheels (arm64 macOS, aarch64 Linux). It is opened
with cffi in ABI mode (``ffi.dlopen``) when an embedder or generator asks for it, never at import
and never linked at build time, so cactus-router installs and works the same with or without it.
Each caller names the functions it needs; they are probed right after the library is opened, so
"found" means usable for that caller.

Telemetry: ``start_engine`` runs ``cactus_init`` with ``CACTUS_NO_CLOUD_TELE=1`` in the
environment (unless telemetry is asked for) and restores the environment as it was right after,
so the process' environment is not changed for its lifetime. libcactus 2.2.2 reads that variable
only inside ``cactus_init`` (its telemetry start is called from there alone; checked in the
library's disassembly), so the scope is enough. libcactus' local telemetry files go to
``cache_dir`` (default: a per-user directory under the system temp dir), never ``$HOME``.
"""

from __future__ import annotations

import contextlib
import ctypes.util
import importlib.metadata
import importlib.util
import os
import sys
import tempfile
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ._paths import CACHE_DIR_ENV
from .errors import NativeLibraryError

#: The embedding declarations we call; identical to third_party/cactus/cactus_embed.h (a test
#: checks), kept here too because the installed package does not carry third_party/.
EMBED_CDEF = """
typedef void* cactus_model_t;

cactus_model_t cactus_init(const char* model_path, const char* corpus_dir, bool cache_index);
void cactus_destroy(cactus_model_t model);
int cactus_tokenize(cactus_model_t model, const char* text, uint32_t* token_buffer,
                    size_t token_buffer_len, size_t* out_token_len);
int cactus_embed(cactus_model_t model, const char* text, float* embeddings_buffer,
                 size_t buffer_size, size_t* embedding_dim, bool normalize);
const char* cactus_get_last_error(void);
void cactus_set_telemetry_environment(const char* framework, const char* cache_location,
                                      const char* version);
"""

#: The generation declarations; identical to third_party/cactus/cactus_complete.h (a test checks).
COMPLETE_CDEF = """
typedef void (*cactus_token_callback)(const char* token, uint32_t token_id, void* user_data);

int cactus_complete(cactus_model_t model, const char* messages_json, char* response_buffer,
                    size_t buffer_size, const char* options_json, const char* tools_json,
                    cactus_token_callback callback, void* user_data,
                    const uint8_t* pcm_buffer, size_t pcm_buffer_size);
void cactus_reset(cactus_model_t model);
"""

#: Every declaration, in the order the headers depend on each other.
CDEF = EMBED_CDEF + COMPLETE_CDEF

#: What any caller needs to start the engine and read its errors.
ENGINE_SYMBOLS = ("cactus_init", "cactus_destroy", "cactus_get_last_error", "cactus_set_telemetry_environment")
#: What CactusEmbedder calls.
EMBED_SYMBOLS = (*ENGINE_SYMBOLS, "cactus_tokenize", "cactus_embed")
#: What CactusGenerator calls.
COMPLETE_SYMBOLS = (*ENGINE_SYMBOLS, "cactus_tokenize", "cactus_complete", "cactus_reset")

LIB_NAME = "libcactus_engine.dylib" if sys.platform == "darwin" else "libcactus_engine.so"
PACKAGE = "cactus-compute"
PACKAGE_LIB = f"cactus/bindings/lib/{LIB_NAME}"
ENV_LIB = "CACTUS_LIB_PATH"
ENV_NO_TELEMETRY = "CACTUS_NO_CLOUD_TELE"

INSTALL_HINT = (
    "install libcactus with 'pip install --no-deps cactus-compute==2.2.2' (arm64 macOS or aarch64 Linux only), "
    f"or point {ENV_LIB} (or lib_path=) at {LIB_NAME}"
)


@dataclass(frozen=True)
class LibCactus:
    """A loaded libcactus: its cffi handle, where it came from, and its version if known."""

    ffi: Any
    lib: Any
    path: str
    version: str | None

    def last_error(self) -> str:
        """libcactus' last error message for this thread (read right after the failing call)."""
        msg = self.lib.cactus_get_last_error()
        text = "" if msg == self.ffi.NULL else self.ffi.string(msg).decode("utf-8", "replace").strip()
        return text or "libcactus gave no message"


_loaded: dict[str, LibCactus] = {}
_load_lock = threading.Lock()
# os.environ is process-wide: engine starts are serialised so that one start's restore cannot
# undo another's setting halfway through its cactus_init.
_env_lock = threading.Lock()


def _package_candidate() -> tuple[str | None, str | None]:
    """(library path, package version) from an installed cactus-compute, or (None, why not).

    Found through the package metadata (or find_spec) without importing the package.
    """
    try:
        dist = importlib.metadata.distribution(PACKAGE)
    except importlib.metadata.PackageNotFoundError:
        dist = None
    if dist is not None:
        path = Path(str(dist.locate_file(PACKAGE_LIB)))
        if path.is_file():
            return str(path), dist.version
        return None, f"{PACKAGE} {dist.version} is installed but has no {PACKAGE_LIB} (a wheel for another platform?)"
    spec = importlib.util.find_spec("cactus")  # a source checkout on sys.path, no metadata
    if spec is not None and spec.submodule_search_locations:
        for base in spec.submodule_search_locations:
            path = Path(base) / "bindings" / "lib" / LIB_NAME
            if path.is_file():
                return str(path), None
        return None, f"a 'cactus' package is importable but has no bindings/lib/{LIB_NAME}"
    return None, f"{PACKAGE} is not installed"


def _open(path: str, version: str | None, needs: Sequence[str]) -> LibCactus:
    """dlopen ``path`` (once per path) and probe every symbol in ``needs``; raises OSError with the reason."""
    with _load_lock:
        loaded = _loaded.get(path)
        if loaded is None:
            import cffi

            ffi = cffi.FFI()
            ffi.cdef(CDEF)
            lib = ffi.dlopen(path)  # OSError: missing file, wrong architecture, missing dependency
            loaded = LibCactus(ffi, lib, path, version)
            _loaded[path] = loaded
    missing = []
    for name in needs:
        try:
            getattr(loaded.lib, name)
        except AttributeError:
            missing.append(name)
    if missing:
        raise OSError(f"it lacks {', '.join(missing)} (an incompatible libcactus; cactus-router needs 2.2.2's API)")
    return loaded


def _candidates(lib_path: str | os.PathLike[str] | None) -> tuple[list[tuple[str, str, str | None]], list[str]]:
    """(place, path, version) to try in order, and the places already ruled out with reasons.

    An explicit ``lib_path`` or ``CACTUS_LIB_PATH`` is the only candidate when given: falling back
    to another library than the one asked for would hide the user's mistake.
    """
    if lib_path is not None:
        return [("lib_path argument", os.fspath(lib_path), None)], []
    env = os.environ.get(ENV_LIB)
    if env:
        return [(f"{ENV_LIB} environment variable", env, None)], []
    tried: list[str] = [f"lib_path argument: not given; {ENV_LIB}: not set"]
    out: list[tuple[str, str, str | None]] = []
    pkg_path, pkg_info = _package_candidate()
    if pkg_path is not None:
        out.append((f"{PACKAGE} package", pkg_path, pkg_info))
    else:
        tried.append(f"{PACKAGE} package: {pkg_info or 'not found'}")
    out.append(("system library path", ctypes.util.find_library("cactus_engine") or "", None))
    return out, tried


def find_libcactus(
    lib_path: str | os.PathLike[str] | None = None, needs: Sequence[str] = EMBED_SYMBOLS
) -> tuple[LibCactus | None, list[str]]:
    """Locate and load libcactus; returns it (or None) and every place tried with its outcome.

    Order: ``lib_path``, ``$CACTUS_LIB_PATH``, an installed cactus-compute, the system library
    path. The library is opened and each symbol in ``needs`` is probed, so "found" means usable.
    """
    candidates, tried = _candidates(lib_path)
    for place, path, version in candidates:
        if not path:
            tried.append(f"{place}: no libcactus_engine found by ctypes.util.find_library")
            continue
        if os.sep in path and not Path(path).is_file():
            tried.append(f"{place}: {path} does not exist")
            continue
        try:
            loaded = _open(path, version, needs)
        except OSError as exc:
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            tried.append(f"{place}: {path} could not be loaded: {reason}")
            continue
        tried.append(f"{place}: {path} loaded")
        return loaded, tried
    return None, tried


def load_libcactus(lib_path: str | os.PathLike[str] | None = None, needs: Sequence[str] = EMBED_SYMBOLS) -> LibCactus:
    """Like ``find_libcactus`` but raises one NativeLibraryError listing every place tried and the fix."""
    loaded, tried = find_libcactus(lib_path, needs)
    if loaded is None:
        raise NativeLibraryError(f"libcactus not usable ({'; '.join(tried)}); {INSTALL_HINT}")
    return loaded


def libcactus_info(lib_path: str | os.PathLike[str] | None = None) -> dict[str, Any]:
    """Where libcactus was found and its version, or why not (for ``cactus-router info``)."""
    loaded, tried = find_libcactus(lib_path)
    return {
        "found": loaded is not None,
        "path": None if loaded is None else loaded.path,
        "version": None if loaded is None else loaded.version,
        "tried": tried,
        "hint": None if loaded is not None else INSTALL_HINT,
    }


def default_cache_dir() -> str:
    """Where libcactus may write its local telemetry files: $CACTUS_ROUTER_CACHE_DIR or a temp dir."""
    env = os.environ.get(CACHE_DIR_ENV)
    if env:
        return env
    uid = os.getuid() if hasattr(os, "getuid") else os.getpid()
    return os.path.join(tempfile.gettempdir(), f"cactus-router-{uid}", "libcactus")


@contextlib.contextmanager
def _telemetry_scope(telemetry: bool) -> Iterator[None]:
    """``CACTUS_NO_CLOUD_TELE=1`` for the duration (unless ``telemetry``), then the environment as it was."""
    with _env_lock:
        before = os.environ.get(ENV_NO_TELEMETRY)
        if not telemetry:
            os.environ[ENV_NO_TELEMETRY] = "1"
        try:
            yield
        finally:
            if before is None:
                os.environ.pop(ENV_NO_TELEMETRY, None)
            else:
                os.environ[ENV_NO_TELEMETRY] = before


def start_engine(
    lc: LibCactus, model_path: str, *, telemetry: bool = False, cache_dir: str | os.PathLike[str] | None = None
) -> Any:
    """``cactus_init`` on a bundle with telemetry off for the start (unless asked); the handle, or NULL.

    The caller reads ``lc.last_error()`` on NULL and owns the handle (``cactus_destroy``).
    """
    cache = os.fspath(cache_dir) if cache_dir is not None else default_cache_dir()
    os.makedirs(cache, exist_ok=True)
    from . import __version__

    lc.lib.cactus_set_telemetry_environment(b"cactus-router", os.fsencode(cache), __version__.encode())
    with _telemetry_scope(telemetry):
        return lc.lib.cactus_init(os.fsencode(model_path), lc.ffi.NULL, False)


__all__ = [
    "CDEF",
    "COMPLETE_CDEF",
    "COMPLETE_SYMBOLS",
    "EMBED_CDEF",
    "EMBED_SYMBOLS",
    "ENGINE_SYMBOLS",
    "INSTALL_HINT",
    "LibCactus",
    "default_cache_dir",
    "find_libcactus",
    "libcactus_info",
    "load_libcactus",
    "start_engine",
]
