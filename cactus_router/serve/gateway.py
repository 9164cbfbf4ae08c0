"""The OpenAI-compatible gateway: ``POST /v1/chat/completions`` routed, or passed through, to a backend.

``model: "cactus-router"`` (or ``"cactus-router:0.3"`` for cost_bias 0.3) routes the last user
message among the profile's models that have a backend; any other configured model id goes to its
backend unrouted. An ``openai`` backend gets the client's body as sent (only ``model`` changed to
the server's name) and its reply, streamed or not, is passed back byte for byte; a backend error
of 4xx is the client's and passes through, a 5xx or no answer is a 502, and no answer within the
timeout a 504. Other backends (libcactus) generate on a worker thread and are answered in the
OpenAI shape. The routing headers say what was chosen and why.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import AsyncIterator, Mapping
from typing import Any

import httpx
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse

from ..errors import ArgumentError, GenerationError, PromptError
from ..generation import Completion, Generation, Generator, SamplingParams, as_messages
from ..generation.http import OpenAIGenerator
from ..routing import Decision, RouteRequest
from .errors import NotFoundError, RequestTimeoutError
from .guard import check_length, read_json
from .routes import ROUTER_MODEL
from .service import Service, log, tier_of

_BODY_CHARS = 200  # of a failing backend's body, quoted in the error


def router_cost_bias(model: str) -> tuple[bool, float | None]:
    """Whether ``model`` names the router, and the cost_bias its ``:suffix`` sets (None = the profile's)."""
    if model == ROUTER_MODEL:
        return True, None
    if not model.startswith(ROUTER_MODEL + ":"):
        return False, None
    try:
        return True, float(model[len(ROUTER_MODEL) + 1:])
    except ValueError:
        raise ArgumentError(f"model {model!r}: after '{ROUTER_MODEL}:' put a cost_bias in [0, 1], "
                            f"e.g. {ROUTER_MODEL}:0.3") from None


def last_user_text(messages: list[Any]) -> str:
    """The text of the conversation's last user message (a string, or its text parts joined)."""
    for msg in reversed(messages):
        if msg.get("role") != "user":
            continue
        content = msg.get("content")
        if isinstance(content, str):
            return content
        if isinstance(content, list):
            parts = [p.get("text") for p in content if isinstance(p, Mapping) and p.get("type") == "text"]
            return "\n".join(p for p in parts if isinstance(p, str))
        raise PromptError("the last user message's content must be a string or a list of content parts")
    raise PromptError("the conversation has no user message to route")


def _check_body(body: Any) -> tuple[str, list[Any], bool]:
    if not isinstance(body, Mapping):
        raise ArgumentError(f"the request body must be a JSON object, got {type(body).__name__}")
    model, messages, stream = body.get("model"), body.get("messages"), body.get("stream", False)
    if not isinstance(model, str) or not model:
        raise ArgumentError("'model' must be a model id, or 'cactus-router' to route (see GET /v1/models)")
    if not isinstance(messages, list) or not messages or not all(isinstance(m, Mapping) for m in messages):
        raise PromptError("'messages' must be a non-empty array of message objects")
    if stream is not None and not isinstance(stream, bool):
        raise ArgumentError(f"'stream' must be true or false, got {stream!r}")
    return model, messages, bool(stream)


def _headers(model: str, d: Decision | None) -> dict[str, str]:
    if d is None:
        return {"x-cactus-router-model": model, "x-cactus-router-reason": "named by the request, not routed"}
    if d.applied:
        reason = "; ".join(f"{a.policy}: {a.reason}" for a in d.applied)
    else:
        reason = (f"cluster {d.cluster} (similarity {d.similarity:.3f}): expected error {d.expected_error:.3f}, "
                  f"cost {d.cost:g}, cost_bias {d.cost_bias:g}")
    return {"x-cactus-router-model": d.model, "x-cactus-router-tier": tier_of(d),
            "x-cactus-router-score": f"{d.score:.6f}",
            "x-cactus-router-reason": reason.encode("ascii", "backslashreplace").decode("ascii")}


async def chat_completions(request: Request) -> Response:
    """POST /v1/chat/completions."""
    service: Service = request.app.state.service
    body = await read_json(request, service.config.max_body_bytes)
    model, messages, stream = _check_body(body)
    routed, cost_bias = router_cost_bias(model)
    backends = service.backends
    if backends is None:
        raise NotFoundError("this service has no backend config for the gateway; start it with --config "
                            "backends.toml (docs/backends.md)")
    configured = backends.models
    decision = None
    if routed:
        router = service.ready_router()
        choices = [m for m in router.profile.model_ids if m in configured]
        if not choices:
            raise NotFoundError("no model of the profile has a backend; start the service with --config "
                                "backends.toml naming them (docs/backends.md)")
        text = last_user_text(messages)
        check_length(text, service.config.max_prompt_chars, "the last user message")
        decision = await service.route(text, RouteRequest.of(cost_bias=cost_bias, allow=choices))
        model = decision.model
    elif model not in configured:
        raise NotFoundError(f"unknown model {model!r}: name '{ROUTER_MODEL}' to route, or one of the configured "
                            f"models ({', '.join(configured)})")
    generator = backends.generator(model)
    headers = _headers(model, decision)
    if isinstance(generator, OpenAIGenerator):
        return await _forward(request, generator, {**body, "model": generator.served_model}, stream, headers)
    return await _generate(service, generator, model, messages, body, stream, headers)


async def _forward(request: Request, gen: OpenAIGenerator, body: dict[str, Any], stream: bool,
                   headers: dict[str, str]) -> Response:
    client: httpx.AsyncClient = request.app.state.http
    timeout = request.app.state.service.config.timeout
    outgoing = client.build_request("POST", f"{gen.base_url}/chat/completions", json=body,
                                    headers=gen.request_headers(), timeout=timeout)
    where = f"backend {gen.name!r} (model {gen.model!r})"
    try:
        reply = await client.send(outgoing, stream=True)
    except httpx.TimeoutException:
        raise RequestTimeoutError(f"{where} did not answer within {timeout:g} s") from None
    except httpx.TransportError as exc:
        raise GenerationError(f"{where}: could not connect ({type(exc).__name__}) at {gen.base_url}") from None
    media = reply.headers.get("content-type", "application/json")
    if not stream or not 200 <= reply.status_code < 300:
        try:
            data = await reply.aread()
        except httpx.TimeoutException:
            raise RequestTimeoutError(f"{where} did not finish its reply within {timeout:g} s") from None
        except httpx.TransportError as exc:
            raise GenerationError(f"{where}: the reply was cut off ({type(exc).__name__})") from None
        finally:
            await reply.aclose()
        if reply.status_code >= 500:
            raise GenerationError(f"{where} answered HTTP {reply.status_code}: "
                                  f"{data[:_BODY_CHARS].decode('utf-8', 'replace')}")
        return Response(data, status_code=reply.status_code, media_type=media, headers=headers)
    return StreamingResponse(_relay(reply, where), status_code=reply.status_code, media_type=media,
                             headers=headers)


async def _relay(reply: httpx.Response, where: str) -> AsyncIterator[bytes]:
    """The backend's stream, chunk by chunk as it arrives; a stream cut off midway ends ours there.

    The backend's response is closed here, also when our client goes away mid-stream.
    """
    try:
        async for chunk in reply.aiter_raw():
            yield chunk
    except httpx.HTTPError as exc:
        log.warning("cactus-router serve: %s: the stream was cut off (%s)", where, type(exc).__name__)
    finally:
        await reply.aclose()


def _params(body: Mapping[str, Any]) -> SamplingParams:
    stop = body.get("stop")
    try:
        return SamplingParams(
            n=body.get("n", 1), temperature=body.get("temperature", 0.0),
            max_tokens=body.get("max_completion_tokens", body.get("max_tokens", 256)), top_p=body.get("top_p"),
            stop=(stop,) if isinstance(stop, str) else tuple(stop or ()),
        )
    except TypeError:
        raise ArgumentError("'stop' must be a string or an array of strings") from None


def _completion_json(model: str, out: Generation) -> dict[str, Any]:
    def choice(i: int, c: Completion) -> dict[str, Any]:
        return {"index": i, "message": {"role": "assistant", "content": c.text},
                "finish_reason": c.finish_reason or "stop"}

    usage = {"prompt_tokens": out.prompt_tokens, "completion_tokens": out.completion_tokens}
    return {"id": f"chatcmpl-{uuid.uuid4().hex}", "object": "chat.completion", "created": int(time.time()),
            "model": model, "choices": [choice(i, c) for i, c in enumerate(out.completions)], "usage": usage}


async def _generate(service: Service, gen: Generator, model: str, messages: list[Any], body: Mapping[str, Any],
                    stream: bool, headers: dict[str, str]) -> Response:
    chat = as_messages(messages, f"model {model!r}")
    out = await service.generation.run(gen.generate, chat, _params(body), timeout=service.config.timeout)
    reply = _completion_json(model, out)
    if not stream:
        return JSONResponse(reply, headers=headers)
    events = []
    for ch in reply["choices"]:
        delta = {"index": ch["index"], "delta": {"role": "assistant", "content": ch["message"]["content"]},
                 "finish_reason": ch["finish_reason"]}
        events.append({"id": reply["id"], "object": "chat.completion.chunk", "created": reply["created"],
                       "model": model, "choices": [delta]})
    data = "".join(f"data: {json.dumps(e)}\n\n" for e in events) + "data: [DONE]\n\n"
    return Response(data, media_type="text/event-stream", headers=headers)
