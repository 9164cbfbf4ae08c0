"""The routing API: route, route a batch, explain, the models, the profile, health, readiness, metrics."""

from __future__ import annotations

import reprlib
from collections.abc import Mapping
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ..errors import ArgumentError, PromptError
from ..routing import Explanation, RouteRequest
from .errors import RequestTooLargeError
from .guard import read_json
from .service import Service

#: The routing knobs a body may carry, as ``Router.route`` takes them.
KNOBS = ("cost_bias", "require", "allow", "max_size_mb")
#: The name a client gives as ``model`` to be routed (``cactus-router:0.3`` sets a cost_bias).
ROUTER_MODEL = "cactus-router"


def _service(request: Request) -> Service:
    service: Service = request.app.state.service
    return service


async def _body(request: Request, allowed: tuple[str, ...]) -> dict[str, Any]:
    body = await read_json(request, _service(request).config.max_body_bytes)
    if not isinstance(body, Mapping):
        raise ArgumentError(f"the request body must be a JSON object, got {type(body).__name__}")
    unknown = sorted(set(body) - set(allowed) - set(KNOBS))
    if unknown:
        raise ArgumentError(f"unknown field {unknown[0]!r}; known: {', '.join((*allowed, *KNOBS))}")
    return dict(body)


def _request(body: Mapping[str, Any]) -> RouteRequest:
    # JSON null means "not set", as None does for the Python API.
    knobs = {k: body[k] for k in KNOBS if body.get(k) is not None}
    return RouteRequest.of(**knobs)


def _prompt(body: Mapping[str, Any]) -> Any:
    if "prompt" not in body:
        raise PromptError("the body needs a 'prompt' (the text to route)")
    return body["prompt"]


def explanation_to_dict(e: Explanation) -> dict[str, Any]:
    """An Explanation as JSON data: the decision, the cluster's tasks, the nearest clusters and every model's terms."""

    def r(x: float | None) -> float | None:
        return None if x is None else round(x, 6)

    return {
        "decision": e.decision.to_dict(),
        "cluster_size": e.cluster_size,
        "cluster_tasks": [{"task": t, "count": n} for t, n in e.cluster_tasks],
        "nearest_clusters": [{"cluster": c, "similarity": round(s, 6)} for c, s in e.nearest_clusters],
        "lambda": r(e.lam),
        "temperature": e.temperature,
        "ood_threshold": e.ood_threshold,
        "terms": [{"model": t.model, "cluster_error_rate": r(t.cluster_error_rate), "cluster_count": t.cluster_count,
                   "cost": t.cost, "expected_error": r(t.expected_error), "cost_term": r(t.cost_term),
                   "score": r(t.score)} for t in e.terms],
    }


async def route(request: Request) -> Response:
    """POST /v1/route: one prompt and the knobs; the Decision as JSON."""
    body = await _body(request, ("prompt",))
    decision = await _service(request).route(_prompt(body), _request(body))
    return JSONResponse(decision.to_dict())


async def route_batch(request: Request) -> Response:
    """POST /v1/route/batch: up to max_batch prompts, one embedding pass; their decisions in order."""
    body = await _body(request, ("prompts",))
    prompts = body.get("prompts")
    if not isinstance(prompts, list) or not prompts:
        raise PromptError(f"'prompts' must be a non-empty array of prompt strings, got {reprlib.repr(prompts)}")
    limit = _service(request).config.max_batch
    if len(prompts) > limit:
        raise RequestTooLargeError(f"the batch has {len(prompts)} prompts; this service takes at most {limit}")
    batch = await _service(request).route_many(prompts, _request(body))
    return JSONResponse({"decisions": batch.to_dicts()})


async def explain(request: Request) -> Response:
    """POST /v1/explain: route one prompt and say why."""
    body = await _body(request, ("prompt", "top_clusters"))
    top = body.get("top_clusters", 3)
    if isinstance(top, bool) or not isinstance(top, int) or not 1 <= top <= 64:
        raise ArgumentError(f"top_clusters must be an int in [1, 64], got {reprlib.repr(top)}")
    e = await _service(request).explain(_prompt(body), _request(body), top)
    return JSONResponse(explanation_to_dict(e))


async def models(request: Request) -> Response:
    """GET /v1/models: the router's names and every model, in the OpenAI list shape."""
    service = _service(request)
    profile = service.ready_router().profile
    backends = service.backends.specs if service.backends is not None else {}
    data: list[dict[str, Any]] = [{
        "id": ROUTER_MODEL, "object": "model", "owned_by": "cactus-router", "router": True,
        "description": f"routes each request among the profile's models; {ROUTER_MODEL}:0.3 sets cost_bias 0.3",
    }]
    for m in profile.models:
        spec = backends.get(m.id)
        data.append({"id": m.id, "object": "model", "owned_by": "profile", "router": False, "cost": m.cost,
                     "backend": None if spec is None else spec.backend})
    data += [{"id": s.model, "object": "model", "owned_by": "backend", "router": False, "cost": None,
              "backend": s.backend} for s in backends.values() if s.model not in profile.model_ids]
    return JSONResponse({"object": "list", "data": data})


async def profile(request: Request) -> Response:
    """GET /v1/profile: what ``cactus-router info --json`` shows."""
    service = _service(request)
    service.ready_router()
    return JSONResponse(service.summary)


async def health(request: Request) -> Response:
    """GET /health: the process is alive and answering."""
    return JSONResponse({"status": "ok"})


async def ready(request: Request) -> Response:
    """GET /ready: 200 once the profile is loaded and the embedder warmed; 503 before, with why."""
    service = _service(request)
    if service.not_ready or service.router is None:
        return JSONResponse({"ready": False, "reason": service.not_ready or "loading"}, status_code=503)
    router = service.router
    return JSONResponse({"ready": True, "profile": service.config.profile, "embedder": router.embedder.name,
                         "models": len(router.profile.models), "workers": service.config.workers})


async def metrics(request: Request) -> Response:
    """GET /metrics: Prometheus text format."""
    service = _service(request)
    return Response(service.metrics.render(service.pool.busy), media_type="text/plain; version=0.0.4; charset=utf-8")


ROUTES = [
    Route("/v1/route", route, methods=["POST"]),
    Route("/v1/route/batch", route_batch, methods=["POST"]),
    Route("/v1/explain", explain, methods=["POST"]),
    Route("/v1/models", models, methods=["GET"]),
    Route("/v1/profile", profile, methods=["GET"]),
    Route("/health", health, methods=["GET"]),
    Route("/ready", ready, methods=["GET"]),
    Route("/metrics", metrics, methods=["GET"]),
]
