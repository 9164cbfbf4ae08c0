"""On-device generation through libcactus' ``cactus_complete`` (ABI mode, loaded at run time).

The library is found, probed and started by ``cactus_router._libcactus`` (telemetry off for the
engine's start unless asked for). Every call passes ``auto_handoff: false``: libcactus 2.2.2 can
hand a low-confidence prompt to a cloud model, and nothing cactus-router loads sends data unless
asked. Each sample starts from a reset model (``cactus_reset``), so samples are independent.
"""

from __future__ import annotations

import json
import os
import threading
import time
import weakref
from pathlib import Path
from typing import Any

from .._libcactus import COMPLETE_SYMBOLS, load_libcactus, start_engine
from ..errors import GenerationError
from ._types import DEFAULT_PARAMS, Completion, Generation, Prompt, SamplingParams, as_messages

#: Bytes for one reply (text and metrics as JSON), as libcactus' own Python binding allocates.
REPLY_BYTES = 1 << 20


class CactusGenerator:
    """Completions from a libcactus model bundle (LFM2, Qwen, Gemma ... converted for Cactus).

    One model handle per generator and one lock: calls on the same generator are serialised
    (libcactus' model state is not re-entrant); create one per thread to generate in parallel.

    Args:
        model_path: the bundle directory (``config.txt``, tokenizer files, ``components/``).
        model: the id cactus-router uses for it (default: the bundle's directory name).
        lib_path: libcactus to load (default: ``$CACTUS_LIB_PATH``, cactus-compute, the system path).
        telemetry: opt in to libcactus' cloud telemetry (off by default).
        cache_dir: where libcactus writes its local telemetry files.

    Raises:
        NativeLibraryError: libcactus cannot be found, loaded, or lacks a function we call.
        GenerationError: the bundle is missing or libcactus cannot start it.
    """

    def __init__(
        self,
        model_path: str | os.PathLike[str],
        *,
        model: str | None = None,
        lib_path: str | os.PathLike[str] | None = None,
        telemetry: bool = False,
        cache_dir: str | os.PathLike[str] | None = None,
    ) -> None:
        path = Path(os.fspath(model_path)).expanduser()
        if not path.is_dir():
            raise GenerationError(f"cactus model bundle {str(path)!r} is not a directory; pass the folder that "
                                  "holds config.txt and components/")
        self.model_path = str(path.resolve())
        self._model = model or path.name
        self._lc = load_libcactus(lib_path, COMPLETE_SYMBOLS)
        self._lock = threading.Lock()
        handle = start_engine(self._lc, self.model_path, telemetry=telemetry, cache_dir=cache_dir)
        if handle == self._lc.ffi.NULL:
            raise GenerationError(f"libcactus could not load the bundle {self.model_path!r}: {self._lc.last_error()}")
        self._handle: Any = handle
        self._finalizer = weakref.finalize(self, self._lc.lib.cactus_destroy, handle)

    @property
    def model(self) -> str:
        """The model id this generator serves."""
        return self._model

    def close(self) -> None:
        """Free the model handle now (idempotent)."""
        with self._lock:
            self._finalizer()
            self._handle = None

    def __enter__(self) -> CactusGenerator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"CactusGenerator(model={self._model!r}, model_path={self.model_path!r})"

    def _where(self) -> str:
        return f"backend 'cactus' (model {self._model!r})"

    @staticmethod
    def _options(params: SamplingParams) -> bytes:
        options: dict[str, Any] = {"temperature": params.temperature, "max_tokens": params.max_tokens,
                                   "auto_handoff": False}
        if params.top_p is not None:
            options["top_p"] = params.top_p
        if params.stop:
            options["stop_sequences"] = list(params.stop)
        return json.dumps(options).encode()

    def _complete_one(self, messages: bytes, options: bytes) -> tuple[Completion, int | None]:
        """One sample from a reset model (the caller holds the lock)."""
        ffi, lib = self._lc.ffi, self._lc.lib
        if self._handle is None:
            raise GenerationError(f"{self._where()}: the generator is closed; create a new CactusGenerator")
        lib.cactus_reset(self._handle)
        buf = ffi.new("char[]", REPLY_BYTES)
        rc = lib.cactus_complete(self._handle, messages, buf, REPLY_BYTES, options, ffi.NULL, ffi.NULL, ffi.NULL,
                                 ffi.NULL, 0)
        raw = ffi.string(buf)
        try:
            reply = json.loads(raw.decode("utf-8", "replace"))
            if not isinstance(reply, dict):
                raise ValueError("not an object")
        except ValueError:
            if rc < 0:
                raise GenerationError(f"{self._where()}: cactus_complete failed ({rc}): {self._lc.last_error()}"
                                      ) from None
            raise GenerationError(f"{self._where()}: malformed reply from cactus_complete: {raw[:200]!r}") from None
        if rc < 0 or not reply.get("success"):
            reason = reply.get("error") or self._lc.last_error()
            raise GenerationError(f"{self._where()}: cactus_complete failed ({rc}): {reason}")
        text = reply.get("response")
        if not isinstance(text, str):
            raise GenerationError(f"{self._where()}: cactus_complete's reply has no response text")
        decode = reply.get("decode_tokens")
        prefill = reply.get("prefill_tokens")
        confidence = reply.get("confidence")
        completion = Completion(
            text=text,
            completion_tokens=decode if isinstance(decode, int) else None,
            confidence=float(confidence) if isinstance(confidence, (int, float)) else None,
        )
        return completion, prefill if isinstance(prefill, int) else None

    def generate(self, prompt: Prompt, params: SamplingParams = DEFAULT_PARAMS) -> Generation:
        """``params.n`` independent samples of ``prompt`` (libcactus gives no token log-probabilities)."""
        messages = json.dumps(as_messages(prompt, self._where())).encode()
        options = self._options(params)
        start = time.perf_counter()
        completions = []
        prompt_tokens = None
        with self._lock:
            for _ in range(params.n):
                completion, prompt_tokens = self._complete_one(messages, options)
                completions.append(completion)
        return Generation(self._model, tuple(completions), prompt_tokens, time.perf_counter() - start, params.n)


__all__ = ["CactusGenerator", "REPLY_BYTES"]
