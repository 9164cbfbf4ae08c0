"""What keeps the service safe to run: the bearer token, the size limits and the bounded worker pool."""

from __future__ import annotations

import asyncio
import hmac
import json
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from ..errors import ArgumentError, error_to_dict
from .errors import RequestTimeoutError, RequestTooLargeError, ServiceBusyError, UnauthorizedError

T = TypeVar("T")

#: Paths any caller may read without the token: liveness, and the playground's static files
#: (they hold no data; the page asks for the token before it calls the API).
OPEN_PATHS = frozenset({"/health", "/", "/static/app.js", "/static/style.css"})


def token_matches(header: str | None, token: str) -> bool:
    """Whether an Authorization header carries ``Bearer <token>``, compared in constant time."""
    if not header or not header.startswith("Bearer "):
        return False
    return hmac.compare_digest(header[7:].strip().encode("utf-8", "surrogateescape"), token.encode("utf-8"))


class TokenGuard:
    """ASGI middleware: every request outside OPEN_PATHS needs the bearer token, else 401."""

    def __init__(self, app: ASGIApp, token: str) -> None:
        self.app = app
        self.token = token

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in OPEN_PATHS:
            await self.app(scope, receive, send)
            return
        header = dict(scope["headers"]).get(b"authorization")
        if token_matches(None if header is None else header.decode("latin-1"), self.token):
            await self.app(scope, receive, send)
            return
        exc = UnauthorizedError("this service needs 'Authorization: Bearer <token>' (the token it was started with)")
        body = json.dumps({"error": error_to_dict(exc)}).encode()
        await send({"type": "http.response.start", "status": 401,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                                (b"www-authenticate", b"Bearer")]})
        await send({"type": "http.response.body", "body": body})


async def read_json(request: Request, limit: int) -> Any:
    """The request's JSON body, read up to ``limit`` bytes.

    Raises:
        RequestTooLargeError: the body is longer than ``limit`` (by its Content-Length or as read).
        ArgumentError: the body is not UTF-8 JSON.
    """
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise RequestTooLargeError(f"the request body is {declared} bytes; this service reads at most {limit}")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise RequestTooLargeError(f"the request body is over {limit} bytes, this service's limit")
        chunks.append(chunk)
    try:
        return json.loads(b"".join(chunks))
    except (UnicodeDecodeError, ValueError) as exc:
        raise ArgumentError(f"the request body is not valid JSON: {' '.join(str(exc).split())[:120]}") from None


def check_length(text: str, limit: int, what: str) -> None:
    """Refuse a text longer than ``limit`` characters with RequestTooLargeError."""
    if len(text) > limit:
        raise RequestTooLargeError(f"{what} is {len(text)} characters; this service takes at most {limit}")


class WorkerPool:
    """A fixed number of threads and a bounded queue in front of them.

    A request that would make the queue longer than ``queue`` is refused at once
    (ServiceBusyError, answered 429), so a burst cannot grow memory or latency without bound. A
    call that outlives ``timeout`` is answered 504 but keeps its slot until its thread finishes,
    so the bound stays true.
    """

    def __init__(self, workers: int, queue: int) -> None:
        self._executor = ThreadPoolExecutor(workers, thread_name_prefix="cactus-router-serve")
        self.slots = workers + queue
        self.busy = 0  # touched only on the event loop's thread

    async def run(self, fn: Callable[..., T], *args: Any, timeout: float) -> T:
        """``fn(*args)`` on a worker thread.

        Raises:
            ServiceBusyError: every worker is busy and the queue is full.
            RequestTimeoutError: the call took longer than ``timeout`` seconds.
        """
        if self.busy >= self.slots:
            raise ServiceBusyError(f"all {self.slots} routing slots are taken; retry shortly")
        self.busy += 1
        future = asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)
        future.add_done_callback(self._release)
        try:
            return await asyncio.wait_for(asyncio.shield(future), timeout)
        except asyncio.TimeoutError:
            raise RequestTimeoutError(f"the request took longer than this service's timeout of {timeout:g} s") from None

    def _release(self, future: asyncio.Future[Any]) -> None:
        self.busy -= 1
        if not future.cancelled():
            future.exception()  # retrieved here: a caller that timed out no longer awaits it

    def close(self) -> None:
        """Finish the calls already running, then stop the threads."""
        self._executor.shutdown(wait=True, cancel_futures=True)
