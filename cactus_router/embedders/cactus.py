"""LFM2-350M (or any libcactus text-embedding bundle) through libcactus, loaded at run time.

libcactus ships only in the ``cactus-compute`` wheels (arm64 macOS, aarch64 Linux). It is opened
with cffi in ABI mode (``ffi.dlopen``) when a ``CactusEmbedder`` is created, never at import and
never linked at build time, so cactus-router installs and works the same with or without it.

Finding, opening and probing the library and starting the engine with telemetry off are
``cactus_router._libcactus``'s, shared with the libcactus generator.
"""

from __future__ import annotations

import os
import threading
import weakref
from pathlib import Path
from typing import Any

import numpy as np

from .._files import read_input
from .._json import loads_limited
from .._libcactus import EMBED_SYMBOLS, libcactus_info, load_libcactus, start_engine
from ..errors import EmbedderError, PromptError
from ._base import BaseEmbedder

#: Default token cap per prompt (the library adds BOS and EOS around it).
MAX_TOKENS = 510
#: Characters kept from each end of a prompt before tokenising (bounds the tokenizer's work).
MAX_CHARS_EACH_END = 8192
#: Text embedded once at load to learn the model's dimension.
DIM_PROBE = "dimension probe"

# cactus_embed / cactus_tokenize return codes (libcactus 2.2.2).
_ERR_BUFFER_TOO_SMALL = -2


#: Largest bundle manifest read (a few lines of JSON).
MANIFEST_BYTES = 1024 * 1024

def _bundle_name(path: Path) -> str:
    """A stable identity for the bundle: its manifest's model_id, else its directory name."""
    try:
        raw = read_input(path / "components" / "manifest.json", "bundle manifest", EmbedderError, MANIFEST_BYTES)
        manifest = loads_limited(raw, "bundle manifest", EmbedderError)
        model_id = manifest.get("model_id") if isinstance(manifest, dict) else None
    except EmbedderError:
        model_id = None  # no readable manifest: the directory name identifies the bundle
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
        telemetry: opt in to libcactus' cloud telemetry (off by default: ``CACTUS_NO_CLOUD_TELE=1``
            is set for the engine's start only, and the environment restored right after).
        cache_dir: where libcactus writes its local telemetry files (default
            ``cactus_router._libcactus.default_cache_dir()``).

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
        self._lc = load_libcactus(lib_path, EMBED_SYMBOLS)
        self.model_path = str(path.resolve())
        self.max_tokens = max_tokens
        self.telemetry = telemetry
        self.max_input = (
            f"{max_tokens} tokens (head and tail halves kept, cut at character boundaries), after "
            f"keeping {MAX_CHARS_EACH_END} characters from each end"
        )
        self.name = _bundle_name(path)
        self._lock = threading.Lock()
        handle = start_engine(self._lc, self.model_path, telemetry=telemetry, cache_dir=cache_dir)
        if handle == self._lc.ffi.NULL:
            raise EmbedderError(
                f"libcactus could not load the bundle {self.model_path!r}: {self._lc.last_error()}; "
                "check it is a complete cactus bundle (config.txt, tokenizer files, components/manifest.json)"
            )
        self._handle: Any = handle
        self._finalizer = weakref.finalize(self, self._lc.lib.cactus_destroy, handle)
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
                raise EmbedderError(f"cactus_tokenize failed ({rc}): {self._lc.last_error()}")
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
                raise EmbedderError(f"cactus_embed failed ({rc}): {self._lc.last_error()}")
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


# libcactus_info is re-exported for ``cactus-router info`` (cli.py imports it from here).
__all__ = ["CactusEmbedder", "libcactus_info"]
