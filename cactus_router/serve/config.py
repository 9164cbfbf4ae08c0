"""ServeConfig: what the service loads and the limits it enforces, validated once."""

from __future__ import annotations

import math
import numbers
import reprlib
from dataclasses import dataclass
from typing import Any

from ..errors import ArgumentError

#: Where the service listens unless told otherwise: this machine only.
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8765


def _positive_int(name: str, value: Any, hi: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= hi:
        raise ArgumentError(f"{name} must be an int in [1, {hi}], got {reprlib.repr(value)}")


@dataclass(frozen=True)
class ServeConfig:
    """The service's settings (all limits are per request unless said otherwise).

    Attributes:
        profile: a profile path or bundled name.
        embedder: an embedder name, or None for the one the profile records.
        backends: a backend config file (TOML, docs/backends.md) for the gateway, or None.
        token: a bearer token every endpoint but ``/health`` and the playground's files requires;
            None = no token (fine on loopback, not on a shared network).
        workers: embedding threads (one shared Router; onnxruntime runs concurrent calls).
        queue: requests that may wait for a worker; one more is answered 429.
        max_body_bytes: the largest request body read.
        max_prompt_chars: the longest prompt (and the longest last user message the gateway routes).
        max_batch: the most prompts ``/v1/route/batch`` takes.
        timeout: seconds a request may take (routing, or the backend's reply in the gateway).
    """

    profile: str = "default"
    embedder: str | None = None
    backends: str | None = None
    token: str | None = None
    workers: int = 2
    queue: int = 64
    max_body_bytes: int = 1 << 20
    max_prompt_chars: int = 32_768
    max_batch: int = 64
    timeout: float = 30.0

    def __post_init__(self) -> None:
        _positive_int("workers", self.workers, 64)
        _positive_int("queue", self.queue, 100_000)
        _positive_int("max_body_bytes", self.max_body_bytes, 1 << 30)
        _positive_int("max_prompt_chars", self.max_prompt_chars, 1 << 26)
        _positive_int("max_batch", self.max_batch, 100_000)
        t = self.timeout
        if isinstance(t, bool) or not isinstance(t, numbers.Real) or not math.isfinite(t) or t <= 0:
            raise ArgumentError(f"timeout must be a number of seconds > 0, got {reprlib.repr(t)}")
        if self.token is not None and (not isinstance(self.token, str) or len(self.token) < 16
                                       or not self.token.isprintable() or " " in self.token):
            raise ArgumentError("the bearer token must be at least 16 printable characters without spaces "
                                "(e.g. python -c 'import secrets; print(secrets.token_urlsafe())')")
