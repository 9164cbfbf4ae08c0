"""An OpenAI-compatible chat-completions backend over HTTP (llama.cpp's server, Ollama, vLLM, cloud APIs).

Needs ``pip install "cactus-router[generate]"`` (httpx). The API key is read from the environment
variable the config names, when the generator is created; it is sent only in the Authorization
header and never appears in a repr, a log record or an error message.
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import logging
import os
import random
import time
from collections.abc import Iterator
from datetime import datetime, timezone
from typing import Any

from .._paths import install_hint
from ..errors import BackendConfigError, GenerationError
from ._types import DEFAULT_PARAMS, Completion, Generation, Prompt, SamplingParams, as_messages

log = logging.getLogger(__name__)

#: Status codes worth another try: rate limited, or the server (or a proxy before it) failed.
RETRY_STATUS = frozenset({429, 500, 502, 503, 504})
_BODY_CHARS = 200  # of an error body, quoted in the error


def _httpx() -> Any:
    try:
        import httpx
    except ImportError as exc:
        raise GenerationError(install_hint("httpx", "generate", "the HTTP generator needs it")) from exc
    return httpx


def _retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or an HTTP date), or None."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (when - datetime.now(timezone.utc)).total_seconds())


class OpenAIGenerator:
    """Chat completions from ``{base_url}/chat/completions`` of an OpenAI-compatible server.

    Args:
        model: the model id cactus-router uses for it (a profile's, a cascade's).
        base_url: the API root, e.g. ``http://127.0.0.1:8080/v1``.
        served_model: the name the server knows the model by (default ``model``).
        api_key_env: the environment variable holding the API key, or None for no key.
        timeout: seconds for connecting and for each read.
        max_retries: further tries after a 429, a 5xx, a connection error or a timeout.
        backoff: the first retry's delay in seconds; it doubles per try, with jitter.
        max_backoff: the longest wait; a Retry-After asking for more ends the tries.
        name: the backend's name in errors (default ``http``).

    Raises:
        BackendConfigError: the key's variable is named but not set, or an argument is out of range.
    """

    def __init__(
        self,
        model: str,
        base_url: str,
        *,
        served_model: str | None = None,
        api_key_env: str | None = None,
        timeout: float = 60.0,
        max_retries: int = 3,
        backoff: float = 0.5,
        max_backoff: float = 20.0,
        name: str = "http",
    ) -> None:
        if not isinstance(base_url, str) or not base_url.startswith(("http://", "https://")):
            raise BackendConfigError(f"backend {name!r}: base_url must start with http:// or https://, "
                                     f"got {base_url!r}")
        if not timeout > 0 or not backoff >= 0 or not max_backoff >= 0:
            raise BackendConfigError(f"backend {name!r}: timeout must be > 0 and backoff, max_backoff >= 0")
        if isinstance(max_retries, bool) or not isinstance(max_retries, int) or not 0 <= max_retries <= 10:
            raise BackendConfigError(f"backend {name!r}: max_retries must be an int in [0, 10], got {max_retries!r}")
        self._model = model
        self.served_model = served_model or model
        self.base_url = base_url.rstrip("/")
        self.api_key_env = api_key_env
        self.timeout = float(timeout)
        self.max_retries = max_retries
        self.backoff = float(backoff)
        self.max_backoff = float(max_backoff)
        self.name = name
        self._key: str | None = None
        if api_key_env is not None:
            key = os.environ.get(api_key_env)
            if not key:
                raise BackendConfigError(f"backend {name!r}: the API key variable {api_key_env} is not set")
            self._key = key
        self._rng = random.Random()

    @property
    def model(self) -> str:
        """The model id this generator serves."""
        return self._model

    def __repr__(self) -> str:
        key = f", api_key_env={self.api_key_env!r}" if self.api_key_env else ""
        return f"OpenAIGenerator(model={self._model!r}, base_url={self.base_url!r}{key})"

    # -- pieces shared by the sync, async and streaming paths --------------------------------
    def _where(self) -> str:
        return f"backend {self.name!r} (model {self._model!r})"

    def _fail(self, what: str) -> GenerationError:
        text = " ".join(what.split())
        if self._key:
            text = text.replace(self._key, "[key]")
        return GenerationError(f"{self._where()}: {text}")

    def _headers(self) -> dict[str, str]:
        headers = {"Content-Type": "application/json"}
        if self._key:
            headers["Authorization"] = f"Bearer {self._key}"
        return headers

    def request_headers(self) -> dict[str, str]:
        """The headers of a request to the server, the key's included: for a gateway forwarding a client's body."""
        return self._headers()

    def _payload(self, messages: list[dict[str, str]], params: SamplingParams, n: int, stream: bool) -> dict[str, Any]:
        body: dict[str, Any] = {"model": self.served_model, "messages": messages, "n": n,
                                "temperature": params.temperature, "max_tokens": params.max_tokens}
        if params.top_p is not None:
            body["top_p"] = params.top_p
        if params.stop:
            body["stop"] = list(params.stop)
        if params.logprobs:
            body["logprobs"] = True
        if params.json_object:
            body["response_format"] = {"type": "json_object"}
        if stream:
            body["stream"] = True
        return body

    def _delay(self, attempt: int, response: Any) -> float:
        """Seconds before try ``attempt + 1``: Retry-After if the server sent one, else jittered backoff."""
        asked = None if response is None else _retry_after(response.headers.get("retry-after"))
        if asked is not None:
            if asked > self.max_backoff:
                raise self._fail(f"HTTP {response.status_code}; the server asks to retry after {asked:.0f} s, "
                                 f"more than max_backoff {self.max_backoff:g} s")
            return asked
        return min(self.max_backoff, self.backoff * 2.0**attempt) * self._rng.uniform(0.5, 1.0)

    def _check(self, response: Any, attempt: int) -> bool:
        """True if ``response`` is a success; False to retry; raises for a final error status."""
        status = response.status_code
        if 200 <= status < 300:
            return True
        if status in RETRY_STATUS and attempt < self.max_retries:
            log.debug("%s: HTTP %d, retrying (try %d of %d)", self._where(), status, attempt + 1, self.max_retries)
            return False
        tries = f" after {attempt + 1} tries" if attempt else ""
        raise self._fail(f"HTTP {status}{tries}: {response.text[:_BODY_CHARS]}")

    def _transport_error(self, exc: Exception, attempt: int) -> None:
        """Raise for a connection error or timeout once the tries are used up."""
        httpx = _httpx()
        kind = "timed out" if isinstance(exc, httpx.TimeoutException) else "could not connect"
        if attempt >= self.max_retries:
            raise self._fail(f"{kind} ({type(exc).__name__}, timeout {self.timeout:g} s) "
                             f"after {attempt + 1} tries at {self.base_url}") from None
        log.debug("%s: %s, retrying (try %d of %d)", self._where(), kind, attempt + 1, self.max_retries)

    def _parse(self, data: bytes, want_logprobs: bool) -> tuple[list[Completion], int | None]:
        """The completions and the prompt's token count from a chat-completions reply."""
        try:
            body = json.loads(data)
            choices = body["choices"]
            usage = body.get("usage") or {}
            out = []
            for choice in choices:
                text = choice["message"]["content"]
                if not isinstance(text, str):
                    raise TypeError("content is not a string")
                lp = None
                content = (choice.get("logprobs") or {}).get("content") if want_logprobs else None
                if content:
                    lp = tuple(float(t["logprob"]) for t in content)
                out.append(Completion(text=text, logprobs=lp, finish_reason=choice.get("finish_reason")))
            prompt_tokens = usage.get("prompt_tokens")
            completion_tokens = usage.get("completion_tokens")
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise self._fail(f"malformed reply ({type(exc).__name__}: {str(exc)[:80]}): "
                             f"{data[:_BODY_CHARS]!r}") from None
        if not out:
            raise self._fail("the reply has no choices")
        if len(out) == 1 and isinstance(completion_tokens, int):
            out[0] = Completion(out[0].text, completion_tokens, out[0].logprobs, out[0].finish_reason)
        return out, prompt_tokens if isinstance(prompt_tokens, int) else None

    # -- sync --------------------------------------------------------------------------------
    def _post(self, client: Any, body: dict[str, Any]) -> bytes:
        httpx = _httpx()
        for attempt in range(self.max_retries + 1):
            response = None
            try:
                response = client.post(f"{self.base_url}/chat/completions", json=body, headers=self._headers())
            except (httpx.TransportError, httpx.TimeoutException) as exc:
                self._transport_error(exc, attempt)
            else:
                if self._check(response, attempt):
                    return bytes(response.content)
            time.sleep(self._delay(attempt, response))
        raise AssertionError("unreachable: the last try returns or raises")

    def generate(self, prompt: Prompt, params: SamplingParams = DEFAULT_PARAMS) -> Generation:
        """``params.n`` completions; a server returning fewer than asked is asked again for the rest."""
        messages = as_messages(prompt, self._where())
        httpx = _httpx()
        start = time.perf_counter()
        completions: list[Completion] = []
        prompt_tokens = None
        calls = 0
        with httpx.Client(timeout=self.timeout) as client:
            while len(completions) < params.n:
                data = self._post(client, self._payload(messages, params, params.n - len(completions), False))
                calls += 1
                got, prompt_tokens = self._parse(data, params.logprobs)
                completions.extend(got)
        return Generation(self._model, tuple(completions[: params.n]), prompt_tokens, time.perf_counter() - start,
                          calls)

    # -- async -------------------------------------------------------------------------------
    async def _apost(self, client: Any, body: dict[str, Any]) -> bytes:
        httpx = _httpx()
        for attempt in range(self.max_retries + 1):
            response = None
            try:
                response = await client.post(f"{self.base_url}/chat/completions", json=body, headers=self._headers())
            except (httpx.TransportError, httpx.TimeoutException) as exc:
                self._transport_error(exc, attempt)
            else:
                if self._check(response, attempt):
                    return bytes(response.content)
            await asyncio.sleep(self._delay(attempt, response))
        raise AssertionError("unreachable: the last try returns or raises")

    async def agenerate(self, prompt: Prompt, params: SamplingParams = DEFAULT_PARAMS) -> Generation:
        """``generate`` without blocking the event loop."""
        messages = as_messages(prompt, self._where())
        httpx = _httpx()
        start = time.perf_counter()
        completions: list[Completion] = []
        prompt_tokens = None
        calls = 0
        async with httpx.AsyncClient(timeout=self.timeout) as client:
            while len(completions) < params.n:
                data = await self._apost(client, self._payload(messages, params, params.n - len(completions), False))
                calls += 1
                got, prompt_tokens = self._parse(data, params.logprobs)
                completions.extend(got)
        return Generation(self._model, tuple(completions[: params.n]), prompt_tokens, time.perf_counter() - start,
                          calls)

    # -- streaming ---------------------------------------------------------------------------
    def stream_events(self, prompt: Prompt, params: SamplingParams = DEFAULT_PARAMS) -> Iterator[dict[str, Any]]:
        """The server's server-sent events as parsed JSON objects, one completion (``n`` is ignored).

        Errors before the first event are retried like ``generate``; a stream cut off midway is a
        GenerationError (what was already yielded cannot be taken back).
        """
        httpx = _httpx()
        body = self._payload(as_messages(prompt, self._where()), params, 1, True)
        with httpx.Client(timeout=self.timeout) as client:
            started = False
            for attempt in range(self.max_retries + 1):
                response = None
                try:
                    with client.stream("POST", f"{self.base_url}/chat/completions", json=body,
                                       headers=self._headers()) as response:
                        if self._check_stream(response, attempt):
                            for event in self._events(response):
                                started = True
                                yield event
                            return
                except (httpx.TransportError, httpx.TimeoutException) as exc:
                    if started:
                        raise self._fail(f"the stream was cut off ({type(exc).__name__})") from None
                    self._transport_error(exc, attempt)
                time.sleep(self._delay(attempt, response))

    def _check_stream(self, response: Any, attempt: int) -> bool:
        if not 200 <= response.status_code < 300:
            response.read()
        return self._check(response, attempt)

    def _events(self, response: Any) -> Iterator[dict[str, Any]]:
        for line in response.iter_lines():
            if not line.startswith("data:"):
                continue
            data = line[5:].strip()
            if data == "[DONE]":
                return
            try:
                event = json.loads(data)
            except ValueError:
                raise self._fail(f"malformed stream event: {data[:_BODY_CHARS]!r}") from None
            if not isinstance(event, dict):
                raise self._fail(f"malformed stream event: {data[:_BODY_CHARS]!r}")
            yield event
        raise self._fail("the stream ended without [DONE]")

    def stream(self, prompt: Prompt, params: SamplingParams = DEFAULT_PARAMS) -> Iterator[str]:
        """The completion's text as it arrives, piece by piece."""
        for event in self.stream_events(prompt, params):
            for choice in event.get("choices") or ():
                piece = (choice.get("delta") or {}).get("content")
                if isinstance(piece, str) and piece:
                    yield piece


__all__ = ["OpenAIGenerator", "RETRY_STATUS"]
