"""The ASGI application: the routes, the error shape, the middleware and the start-up and shutdown."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .. import __version__
from ..errors import RouterError, error_to_dict
from .config import ServeConfig
from .errors import NotFoundError, ServiceBusyError, ServiceError, status_for
from .gateway import chat_completions
from .guard import TokenGuard
from .openapi import openapi_document
from .routes import ROUTES
from .service import Service, log

#: The playground's files, shipped in the package.
STATIC = Path(__file__).parent / "static"
#: The playground loads nothing from anywhere but this service.
_PAGE_HEADERS = {"content-security-policy": "default-src 'self'; frame-ancestors 'none'",
                 "x-content-type-options": "nosniff", "referrer-policy": "no-referrer"}


class MethodNotAllowedError(ServiceError):
    """The endpoint exists, but not for this method."""

    status = 405


def _error(exc: RouterError) -> Response:
    headers = {"retry-after": "1"} if isinstance(exc, ServiceBusyError) else None
    return JSONResponse({"error": error_to_dict(exc)}, status_code=status_for(exc), headers=headers)


async def _router_error(request: Request, exc: Exception) -> Response:
    if isinstance(exc, ServiceBusyError):
        request.app.state.service.metrics.rejected_busy += 1
    return _error(exc) if isinstance(exc, RouterError) else _internal(request)


async def _http_error(request: Request, exc: Exception) -> Response:
    if isinstance(exc, HTTPException) and exc.status_code == 405:
        return _error(MethodNotAllowedError(f"{request.method} is not allowed on {request.url.path}"))
    return _error(NotFoundError(f"no endpoint at {request.url.path}; see /openapi.json"))


def _internal(request: Request) -> Response:
    log.exception("cactus-router serve: unexpected error on %s", request.url.path)
    return JSONResponse({"error": {"type": "InternalError", "message": "unexpected error; see the service's log"}},
                        status_code=500)


async def _unexpected(request: Request, exc: Exception) -> Response:
    return _internal(request)


class Timing:
    """ASGI middleware: counts every response by endpoint and status and times it."""

    def __init__(self, app: ASGIApp, service: Service, endpoints: frozenset[str]) -> None:
        self.app = app
        self.service = service
        self.endpoints = endpoints

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        # Unknown paths share one label, so random URLs cannot grow the metrics without bound.
        endpoint = scope["path"] if scope["path"] in self.endpoints else "other"
        start = time.perf_counter()
        status = [500]

        async def timed_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, timed_send)
        finally:
            self.service.metrics.responded(endpoint, status[0], time.perf_counter() - start)


def create_app(config: ServeConfig) -> Starlette:
    """The service as an ASGI app; it loads the router in the background once started."""
    service = Service(config)
    document = openapi_document(config, __version__)

    async def openapi(request: Request) -> Response:
        return JSONResponse(document)

    async def playground(request: Request) -> Response:
        return FileResponse(STATIC / "index.html", headers=_PAGE_HEADERS)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        loading = asyncio.create_task(asyncio.to_thread(service.load))
        loading.add_done_callback(lambda t: t.cancelled() or t.exception())  # failure: /ready says why
        async with httpx.AsyncClient() as client:
            app.state.http = client
            yield
        service.pool.close()
        service.generation.close()

    routes = [*ROUTES, Route("/v1/chat/completions", chat_completions, methods=["POST"]),
              Route("/openapi.json", openapi, methods=["GET"]), Route("/", playground, methods=["GET"]),
              Mount("/static", StaticFiles(directory=STATIC), name="static")]
    endpoints = frozenset(r.path for r in routes if isinstance(r, Route))
    middleware = [Middleware(Timing, service=service, endpoints=endpoints)]
    if config.token is not None:
        middleware.append(Middleware(TokenGuard, token=config.token))
    app = Starlette(routes=routes, middleware=middleware, lifespan=lifespan,
                    exception_handlers={RouterError: _router_error, HTTPException: _http_error,
                                        Exception: _unexpected})
    app.state.service = service
    return app
