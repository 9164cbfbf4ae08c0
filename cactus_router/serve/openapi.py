"""The service's OpenAPI 3 document, written by hand so that every schema says what the code does."""

from __future__ import annotations

from typing import Any

from ..profile import CAPABILITIES
from .config import ServeConfig

_NUM = {"type": "number"}
_INT = {"type": "integer"}
_STR = {"type": "string"}


def _obj(required: list[str], props: dict[str, Any], closed: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {"type": "object", "required": required, "properties": props}
    if closed:
        out["additionalProperties"] = False
    return out


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


_ERRORS = {
    "400": "bad input: malformed JSON, an unknown field, a bad knob or prompt (ArgumentError, PromptError, ...)",
    "401": "the bearer token is missing or wrong (only when the service was started with one)",
    "413": "the body, a prompt or a batch is over the service's limit",
    "422": "no model meets the request's constraints (NoEligibleModelError)",
    "429": "every worker is busy and the queue is full; retry shortly",
    "503": "the router is still loading",
    "504": "routing took longer than the service's timeout",
}


def _errors(*codes: str) -> dict[str, Any]:
    return {c: _json(_ref("Error"), _ERRORS[c]) for c in codes}


def _schemas(config: ServeConfig) -> dict[str, Any]:
    nullable_num = {"type": "number", "nullable": True}
    knobs = {
        "cost_bias": {**nullable_num, "minimum": 0, "maximum": 1,
                      "description": "0 = best expected quality, 1 = cheapest; null = the profile's"},
        "require": {"type": "array", "nullable": True, "items": {"type": "string", "enum": sorted(CAPABILITIES)},
                    "description": "capabilities the model must have"},
        "allow": {"type": "array", "nullable": True, "items": _STR, "description": "only these model ids"},
        "max_size_mb": {**nullable_num, "minimum": 0, "description": "only models of at most this size"},
    }
    prompt = {"type": "string", "minLength": 1, "maxLength": config.max_prompt_chars}
    decision = _obj(
        ["model", "cluster", "similarity", "margin", "expected_error", "cost", "score", "ranking", "cost_bias",
         "in_distribution", "applied", "embed_ms", "score_ms"],
        {"model": _STR, "cluster": _INT, "similarity": _NUM, "margin": _NUM, "expected_error": _NUM, "cost": _NUM,
         "score": _NUM,
         "ranking": {"type": "array", "items": _obj(["model", "score"], {"model": _STR, "score": _NUM})},
         "cost_bias": _NUM, "in_distribution": {"type": "boolean"},
         "applied": {"type": "array", "items": _obj(["policy", "reason"], {"policy": _STR, "reason": _STR})},
         "embed_ms": _NUM, "score_ms": _NUM})
    decision["description"] = "Decision.to_dict() (docs/decision-format.md)"
    term = _obj(["model", "cluster_error_rate", "cluster_count", "cost", "expected_error", "cost_term", "score"],
                {"model": _STR, "cluster_error_rate": _NUM, "cluster_count": _INT, "cost": _NUM,
                 "expected_error": nullable_num, "cost_term": nullable_num, "score": nullable_num})
    return {
        "Error": _obj(["error"], {"error": _obj(["type", "message"], {"type": _STR, "message": _STR})}),
        "RouteBody": _obj(["prompt"], {"prompt": prompt, **knobs}, closed=True),
        "BatchBody": _obj(["prompts"], {"prompts": {"type": "array", "minItems": 1, "maxItems": config.max_batch,
                                                    "items": prompt}, **knobs}, closed=True),
        "ExplainBody": _obj(["prompt"], {"prompt": prompt, "top_clusters": {**_INT, "minimum": 1, "maximum": 64},
                                         **knobs}, closed=True),
        "Decision": decision,
        "Batch": _obj(["decisions"], {"decisions": {"type": "array", "items": _ref("Decision")}}),
        "Explanation": _obj(
            ["decision", "cluster_size", "cluster_tasks", "nearest_clusters", "lambda", "temperature",
             "ood_threshold", "terms"],
            {"decision": _ref("Decision"), "cluster_size": _INT,
             "cluster_tasks": {"type": "array", "items": _obj(["task", "count"], {"task": _STR, "count": _INT})},
             "nearest_clusters": {"type": "array",
                                  "items": _obj(["cluster", "similarity"], {"cluster": _INT, "similarity": _NUM})},
             "lambda": _NUM, "temperature": _NUM, "ood_threshold": nullable_num,
             "terms": {"type": "array", "items": term}}),
        "Models": _obj(["object", "data"], {
            "object": {"type": "string", "enum": ["list"]},
            "data": {"type": "array", "items": _obj(["id", "object", "owned_by", "router"], {
                "id": _STR, "object": {"type": "string", "enum": ["model"]}, "owned_by": _STR,
                "router": {"type": "boolean"}, "cost": nullable_num, "backend": {"type": "string", "nullable": True}})},
        }),
        "Profile": _obj(["format", "embedder", "clusters", "cluster_sizes", "models", "routing", "ood", "training",
                         "libcactus"],
                        {"format": _STR, "embedder": {"type": "object"}, "clusters": _INT,
                         "cluster_sizes": {"type": "array", "items": _INT}, "models": {"type": "array"},
                         "routing": {"type": "object"}, "ood": {"type": "object"}, "training": {"type": "object"},
                         "libcactus": {"type": "object"}}),
        "ChatBody": _obj(["model", "messages"], {
            "model": {"type": "string", "minLength": 1,
                      "description": "'cactus-router' or 'cactus-router:<cost_bias>' to route, or a configured id"},
            "messages": {"type": "array", "minItems": 1, "items": _obj(["role", "content"], {
                "role": _STR, "content": {"oneOf": [_STR, {"type": "array", "items": {"type": "object"}}]}})},
            "stream": {"type": "boolean"}}),
    }


def _post(summary: str, body: str, reply: str, description: str) -> dict[str, Any]:
    return {"post": {"summary": summary, "requestBody": {"required": True, "content": {
        "application/json": {"schema": _ref(body)}}},
        "responses": {"200": _json(_ref(reply), description), **_errors("400", "401", "413", "422", "429", "503",
                                                                         "504")}}}


def _get(summary: str, ok: dict[str, Any], *codes: str) -> dict[str, Any]:
    return {"get": {"summary": summary, "responses": {"200": ok, **_errors(*codes)}}}


def openapi_document(config: ServeConfig, version: str) -> dict[str, Any]:
    """The OpenAPI 3.0 document of a service with ``config``'s limits."""
    chat_ok = {"description": "the backend's reply (a JSON completion, or its server-sent events when stream is true)",
               "content": {"application/json": {"schema": {"type": "object"}},
                           "text/event-stream": {"schema": _STR}}}
    chat_errors = _errors("400", "401", "413", "422", "429", "503", "504")
    chat_errors["404"] = _json(_ref("Error"), "an unknown model, or no backend config")
    chat_errors["502"] = _json(_ref("Error"), "the backend failed (an HTTP 5xx, no connection, a cut-off reply)")
    ready_body = {"type": "object", "required": ["ready"], "properties": {"ready": {"type": "boolean"}}}
    paths = {
        "/v1/route": _post("Route one prompt", "RouteBody", "Decision", "the decision"),
        "/v1/route/batch": _post("Route a batch in one embedding pass", "BatchBody", "Batch",
                                 "the decisions, in the order of the prompts"),
        "/v1/explain": _post("Route one prompt and say why", "ExplainBody", "Explanation", "the explanation"),
        "/v1/models": _get("The router's names and the models", _json(_ref("Models"), "the models"), "401", "503"),
        "/v1/profile": _get("What `cactus-router info --json` shows", _json(_ref("Profile"), "the profile"),
                            "401", "503"),
        "/health": {"get": {"summary": "Liveness", "security": [],
                            "responses": {"200": _json(_obj(["status"], {"status": _STR}), "alive")}}},
        "/ready": {"get": {"summary": "Readiness: the profile loaded and the embedder warmed", "responses": {
            "200": _json(ready_body, "ready"), "503": _json(ready_body, "not ready yet, with the reason"),
            **_errors("401")}}},
        "/metrics": _get("Prometheus metrics", {"description": "the text exposition format",
                                                "content": {"text/plain": {"schema": _STR}}}, "401"),
        "/v1/chat/completions": {"post": {
            "summary": "OpenAI-compatible chat completions, routed by model 'cactus-router'",
            "requestBody": {"required": True, "content": {"application/json": {"schema": _ref("ChatBody")}}},
            "responses": {"200": chat_ok, **chat_errors}}},
    }
    doc: dict[str, Any] = {
        "openapi": "3.0.3",
        "info": {"title": "cactus-router", "version": version,
                 "description": "Local routing service: pick the cheapest model likely to answer well."},
        "paths": paths,
        "components": {"schemas": _schemas(config)},
    }
    if config.token is not None:
        doc["components"]["securitySchemes"] = {"bearer": {"type": "http", "scheme": "bearer"}}
        doc["security"] = [{"bearer": []}]
    return doc
