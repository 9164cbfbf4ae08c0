"""LFM2-350M (or any libcactus text-embedding bundle) through libcactus, loaded at run time.

libcactus ships only in the ``cactus-compute`` wheels (arm64 macOS, aarch64 Linux). It is opened
with cffi in ABI mode (``ffi.dlopen``) when a ``CactusEmbedder`` is created, never at import and
never linked at build time, so cactus-router installs and works the same with or without it.

Telemetry: libcactus starts telemetry in ``cactus_init``. Unless ``telemetry=True`` is passed,
``CACTUS_NO_CLOUD_TELE=1`` is set in this process' environment before the first ``cactus_init``
(so nothing is sent), and ``cactus_set_telemetry_environment`` points libcactus' local telemetry
files at ``cache_dir`` (default: a per-user directory under the system temp dir), not ``$HOME``.
"""

from __future__ import annotations

import ctypes.util
import importlib.metadata
import importlib.util
import json
import os
import sys
import tempfile
import threading
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import EmbedderError, NativeLibraryError, PromptError
from ._base import CACHE_DIR_ENV, BaseEmbedder

#: The libcactus declarations we call; identical to third_party/cactus/cactus_embed.h (a test
#: checks), kept here too because the installed package does not carry third_party/.
CDEF = """
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

#: Every function in CDEF, probed right after dlopen.
SYMBOLS = (
    "cactus_init",
    "cactus_destroy",
    "cactus_tokenize",
    "cactus_embed",
    "cactus_get_last_error",
    "cactus_set_telemetry_environment",
)

LIB_NAME = "libcactus_engine.dylib" if sys.platform == "darwin" else "libcactus_engine.so"
PACKAGE = "cactus-compute"
PACKAGE_LIB = f"cactus/bindings/lib/{LIB_NAME}"
ENV_LIB = "CACTUS_LIB_PATH"
ENV_NO_TELEMETRY = "CACTUS_NO_CLOUD_TELE"

#: Default token cap per prompt (the library adds BOS and EOS around it).
MAX_TOKENS = 510
#: Characters kept from each end of a prompt before tokenising (bounds the tokenizer's work).
MAX_CHARS_EACH_END = 8192
#: Text embedded once at load to learn the model's dimension.
DIM_PROBE = "dimension probe"

_INSTALL_HINT = (
    "install libcactus with 'pip install --no-deps cactus-compute==2.2.2' (arm64 macOS or aarch64 Linux only), "
    f"or point {ENV_LIB} (or lib_path=) at {LIB_NAME}"
)

# cactus_embed / cactus_tokenize return codes (libcactus 2.2.2).
_ERR = -1
_ERR_BUFFER_TOO_SMALL = -2


@dataclass(frozen=True)
class LibCactus:
    """A loaded libcactus: its cffi handle, where it came from, and its version if known."""

    ffi: Any
    lib: Any
    path: str
    version: str | None


_loaded: dict[str, LibCactus] = {}
_load_lock = threading.Lock()


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


def _open(path: str, version: str | None) -> LibCactus:
    """dlopen ``path`` and probe every symbol; raises OSError with the reason."""
    with _load_lock:
        cached = _loaded.get(path)
        if cached is not None:
            return cached
        import cffi

        ffi = cffi.FFI()
        ffi.cdef(CDEF)
        lib = ffi.dlopen(path)  # OSError: missing file, wrong architecture, missing dependency
        missing = []
        for name in SYMBOLS:
            try:
                getattr(lib, name)
            except AttributeError:
                missing.append(name)
        if missing:
            raise OSError(f"it lacks {', '.join(missing)} (an incompatible libcactus; cactus-router needs 2.2.2's API)")
        loaded = LibCactus(ffi, lib, path, version)
        _loaded[path] = loaded
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
    system = ctypes.util.find_library("cactus_engine")
    if system is not None:
        out.append(("system library path", system, None))
    else:
        out.append(("system library path", "", None))
    return out, tried


def find_libcactus(lib_path: str | os.PathLike[str] | None = None) -> tuple[LibCactus | None, list[str]]:
    """Locate and load libcactus; returns it (or None) and every place tried with its outcome.

    Order: ``lib_path``, ``$CACTUS_LIB_PATH``, an installed cactus-compute, the system library
    path. The library is opened and each symbol we call is probed, so "found" means usable.
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
            loaded = _open(path, version)
        except OSError as exc:
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            tried.append(f"{place}: {path} could not be loaded: {reason}")
            continue
        tried.append(f"{place}: {path} loaded")
        return loaded, tried
    return None, tried


def load_libcactus(lib_path: str | os.PathLike[str] | None = None) -> LibCactus:
    """Like ``find_libcactus`` but raises one NativeLibraryError listing every place tried."""
    loaded, tried = find_libcactus(lib_path)
    if loaded is None:
        raise NativeLibraryError(f"libcactus not usable ({'; '.join(tried)}); {_INSTALL_HINT}")
    return loaded


def libcactus_info(lib_path: str | os.PathLike[str] | None = None) -> dict[str, Any]:
    """Where libcactus was found and its version, or why not (for ``cactus-router info``)."""
    loaded, tried = find_libcactus(lib_path)
    return {
        "found": loaded is not None,
        "path": None if loaded is None else loaded.path,
        "version": None if loaded is None else loaded.version,
        "tried": tried,
        "hint": None if loaded is not None else _INSTALL_HINT,
    }


def default_cache_dir() -> str:
    """Where libcactus may write its local telemetry files: $CACTUS_ROUTER_CACHE_DIR or a temp dir."""
    env = os.environ.get(CACHE_DIR_ENV)
    if env:
        return env
    uid = os.getuid() if hasattr(os, "getuid") else os.getpid()
    return os.path.join(tempfile.gettempdir(), f"cactus-router-{uid}", "libcactus")


def _last_error(lc: LibCactus) -> str:
    """libcactus' last error message for this thread (read right after the failing call)."""
    msg = lc.lib.cactus_get_last_error()
    text = "" if msg == lc.ffi.NULL else lc.ffi.string(msg).decode("utf-8", "replace").strip()
    return text or "libcactus gave no message"


def _bundle_name(path: Path) -> str:
    """A stable identity for the bundle: its manifest's model_id, else its directory name."""
    try:
        manifest = json.loads((path / "components" / "manifest.json").read_text(encoding="utf-8"))
        model_id = manifest.get("model_id") if isinstance(manifest, dict) else None
    except (OSError, ValueError):
        model_id = None
    ident = model_id if isinstance(model_id, str) and model_id.strip() else path.name
    return "cactus:" + ident.strip().lower()


class CactusEmbedder(BaseEmbedder):
    """Text embeddings from a libcactus model bundle (LFM2-350M on device), mean-pooled.

    Thread safety: one model handle per embedder and one lock per handle; calls on the same
    embedder are serialised (libcactus' model state is not re-entrant), while separate embedders
    run in parallel (cffi releases the GIL during the C call). For parallel embedding create one
    embedder per thread.

    Args:
        model_path: the bundle directory (``config.txt``, tokenizer files, ``components/``).
        lib_path: libcactus to load; default: ``$CACTUS_LIB_PATH``, an installed cactus-compute,
            then the system library path.
        max_tokens: token cap per prompt; longer prompts keep their head and tail (see
            ``max_input``). Keep it at most the bundle's input capacity minus 2 (BOS, EOS).
        telemetry: opt in to libcactus' cloud telemetry (off by default).
        cache_dir: where libcactus writes its local telemetry files (default ``default_cache_dir()``).

    Raises:
        NativeLibraryError: libcactus cannot be found, loaded, or lacks a function we call.
        EmbedderError: the bundle is missing or libcactus cannot initialise it.
    """

    def __init__(
        self,
        model_path: str | os.PathLike[str],
        *,
        lib_path: str | os.PathLike[str] | None = None,
        max_tokens: int = MAX_TOKENS,
        telemetry: bool = False,
        cache_dir: str | os.PathLike[str] | None = None,
    ) -> None:
        if isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 8:
            raise ValueError(f"max_tokens must be an int >= 8, got {max_tokens!r}")
        path = Path(os.fspath(model_path)).expanduser()
        if not path.is_dir():
            raise EmbedderError(
                f"cactus model bundle {str(path)!r} is not a directory; pass the folder that holds "
                "config.txt and components/ (e.g. cactus:/path/to/lfm2-350m)"
            )
        self._lc = load_libcactus(lib_path)
        self.model_path = str(path.resolve())
        self.max_tokens = max_tokens
        self.telemetry = telemetry
        self.max_input = (
            f"{max_tokens} tokens (head and tail halves kept, cut at character boundaries), after "
            f"keeping {MAX_CHARS_EACH_END} characters from each end"
        )
        self.name = _bundle_name(path)
        if not telemetry:
            os.environ[ENV_NO_TELEMETRY] = "1"
        cache = os.fspath(cache_dir) if cache_dir is not None else default_cache_dir()
        os.makedirs(cache, exist_ok=True)
        from .. import __version__

        ffi, lib = self._lc.ffi, self._lc.lib
        lib.cactus_set_telemetry_environment(b"cactus-router", os.fsencode(cache), __version__.encode())
        self._lock = threading.Lock()
        with self._lock:
            handle = lib.cactus_init(os.fsencode(self.model_path), ffi.NULL, False)
            if handle == ffi.NULL:
                raise EmbedderError(
                    f"libcactus could not load the bundle {self.model_path!r}: {_last_error(self._lc)}; "
                    "check it is a complete cactus bundle (config.txt, tokenizer files, components/manifest.json)"
                )
        self._handle: Any = handle
        self._finalizer = weakref.finalize(self, lib.cactus_destroy, handle)
        self._dim_hint = 1024
        self.dim = int(self._embed_one(DIM_PROBE, normalize=False).shape[0])

    # -- lifetime ---------------------------------------------------------------------------
    def close(self) -> None:
        """Free the model handle now (idempotent); the embedder is unusable afterwards."""
        with self._lock:
            self._finalizer()
            self._handle = None

    @property
    def closed(self) -> bool:
        """True once ``close`` has run."""
        return self._handle is None

    def __enter__(self) -> CactusEmbedder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _live_handle(self) -> Any:
        if self._handle is None:
            raise EmbedderError(f"embedder {self.name!r} is closed; create a new CactusEmbedder")
        return self._handle

    # -- the C calls (the caller holds self._lock) -------------------------------------------
    def _tokenize(self, data: bytes) -> int:
        """Number of tokens libcactus makes of ``data`` (UTF-8), growing the buffer on -2."""
        ffi, lib = self._lc.ffi, self._lc.lib
        size = max(64, len(data) + 8)
        for _ in range(3):
            buf = ffi.new("uint32_t[]", size)
            out_len = ffi.new("size_t *")
            rc = lib.cactus_tokenize(self._live_handle(), data, buf, size, out_len)
            if rc == 0:
                return int(out_len[0])
            if rc != _ERR_BUFFER_TOO_SMALL:
                raise EmbedderError(f"cactus_tokenize failed ({rc}): {_last_error(self._lc)}")
            size = max(int(out_len[0]), 2 * size)
        raise EmbedderError(f"cactus_tokenize kept asking for a larger buffer (last {size} tokens)")

    def _embed_bytes(self, data: bytes, normalize: bool) -> np.ndarray:
        ffi, lib = self._lc.ffi, self._lc.lib
        n = self._dim_hint
        for _ in range(3):
            buf = ffi.new("float[]", n)
            dim = ffi.new("size_t *")
            rc = lib.cactus_embed(self._live_handle(), data, buf, n * 4, dim, normalize)
            if rc >= 0:
                self._dim_hint = max(int(rc), 1)
                return np.frombuffer(ffi.buffer(buf, 4 * int(rc)), dtype=np.float32).copy()
            if rc != _ERR_BUFFER_TOO_SMALL:
                raise EmbedderError(f"cactus_embed failed ({rc}): {_last_error(self._lc)}")
            n = max(int(dim[0]), 2 * n)  # libcactus reports the needed dimension in embedding_dim
        raise EmbedderError(f"cactus_embed kept asking for a larger buffer (last {n} floats)")

    # -- truncation --------------------------------------------------------------------------
    def _fit(self, text: str) -> str:
        """``text`` cut to at most ``max_tokens`` tokens, keeping its head and tail (deterministic).

        Character cuts are shrunk in proportion to the token excess until the text fits, because
        libcactus embeds text, not token ids.
        """
        if len(text) > 2 * MAX_CHARS_EACH_END:
            text = text[:MAX_CHARS_EACH_END] + " " + text[-MAX_CHARS_EACH_END:]
        n = self._tokenize(text.encode("utf-8"))
        keep = len(text) // 2
        while n > self.max_tokens:
            if keep <= 1:
                raise EmbedderError(f"could not cut a prompt to {self.max_tokens} tokens; raise max_tokens")
            keep = max(1, min(keep - 1, int(keep * self.max_tokens / n * 0.95)))
            text = text[:keep] + " " + text[-keep:]
            n = self._tokenize(text.encode("utf-8"))
        return text

    def _embed_one(self, text: str, normalize: bool) -> np.ndarray:
        if "\x00" in text:
            raise PromptError("prompt contains a NUL character, which libcactus cannot take (C strings); remove it")
        with self._lock:
            return self._embed_bytes(self._fit(text).encode("utf-8"), normalize)

    # -- public ------------------------------------------------------------------------------
    def count_tokens(self, text: str) -> int:
        """How many tokens libcactus' tokenizer makes of ``text`` (no BOS/EOS, no truncation)."""
        if not isinstance(text, str):
            raise PromptError(f"text must be str, not {type(text).__name__}")
        with self._lock:
            return self._tokenize(text.encode("utf-8"))

    def embed_raw(self, text: str, *, normalize: bool = False) -> np.ndarray:
        """libcactus' own embedding of one prompt (truncated), L2-normalised by libcactus if asked."""
        from ._base import check_prompt

        return self._embed_one(check_prompt(text), normalize)

    def _embed_batch(self, texts: list[str]) -> np.ndarray:
        return np.stack([self._embed_one(t, normalize=False) for t in texts])

    def __repr__(self) -> str:
        state = "closed" if self._handle is None else f"dim={self.dim}"
        return f"CactusEmbedder(name={self.name!r}, model_path={self.model_path!r}, {state})"


__all__ = ["CDEF", "CactusEmbedder", "LibCactus", "default_cache_dir", "find_libcactus", "libcactus_info",
           "load_libcactus"]
