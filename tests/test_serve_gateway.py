"""The OpenAI-compatible gateway of ``cactus-router serve`` over real HTTP on loopback.

Its backends are the FAKE OpenAI-compatible server of fake_openai_server.py and the FAKE libcactus
of fake_libcactus.py: they stand in for no model, only for the other side of our boundary.
"""

from __future__ import annotations

import signal
import threading
import time

import pytest

httpx = pytest.importorskip("httpx", reason="the serve tests need httpx (pip install 'cactus-router[serve]')")

from fake_libcactus import compile_fake  # noqa: E402
from fake_openai_server import Reply  # noqa: E402
from serve_harness import GATEWAY_MODELS, PASSTHROUGH_MODEL, Served, backend_config  # noqa: E402

from cactus_router import Router  # noqa: E402

PROMPT = "Prove that the square root of 2 is irrational"
CONVERSATION = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hello"},
                {"role": "assistant", "content": "hi"}, {"role": "user", "content": PROMPT}]
TOKEN = "test-token-0123456789abcdef"


@pytest.fixture(scope="module")
def router() -> Router:
    return Router.load("default")


def chat(url: str, body: dict[str, object], **kw: object) -> httpx.Response:
    return httpx.post(url + "/v1/chat/completions", json=body, timeout=30, **kw)  # type: ignore[arg-type]


def test_routed_completion(served, fake_backend, router):
    """model 'cactus-router:0.3' routes the last user message among the configured models, forwards the
    body with only 'model' changed, and says what it chose in the x-cactus-router headers."""
    body = {"model": "cactus-router:0.3", "messages": CONVERSATION, "temperature": 0.2, "seed": 7, "user": "u1"}
    reply = chat(served.url, body)
    assert reply.status_code == 200, reply.text
    want = router.route(PROMPT, cost_bias=0.3, allow=GATEWAY_MODELS)
    assert reply.headers["x-cactus-router-model"] == want.model
    assert float(reply.headers["x-cactus-router-score"]) == pytest.approx(want.score, abs=1e-5)
    assert reply.headers["x-cactus-router-tier"] == (want.tier or "none") and reply.headers["x-cactus-router-reason"]
    assert reply.json()["choices"][0]["message"]["content"] == f"answer 0 to: {PROMPT}"
    _, sent = fake_backend.requests[-1]
    assert sent == {**body, "model": f"served-{want.model}"}


def test_routed_stream_passes_through_unchanged(served, fake_backend):
    """A streamed reply reaches the client byte for byte as the backend sent it."""
    body = {"model": "cactus-router", "messages": CONVERSATION, "stream": True}
    with httpx.stream("POST", served.url + "/v1/chat/completions", json=body, timeout=30) as reply:
        assert reply.status_code == 200
        assert reply.headers["content-type"].startswith("text/event-stream")
        assert reply.headers["x-cactus-router-model"] in GATEWAY_MODELS
        relayed = b"".join(reply.iter_raw())
    _, sent = fake_backend.requests[-1]
    direct = httpx.post(fake_backend.base_url + "/chat/completions", json=sent).content
    assert relayed == direct and relayed.endswith(b"data: [DONE]\n\n")


def test_content_parts_are_routed_on_their_text(served, router):
    """A last user message given as content parts is routed on its text parts."""
    parts = [{"type": "text", "text": PROMPT}, {"type": "image_url", "image_url": {"url": "data:,"}}]
    reply = chat(served.url, {"model": "cactus-router", "messages": [{"role": "user", "content": parts}]})
    assert reply.status_code == 200
    assert reply.headers["x-cactus-router-model"] == router.route(PROMPT, allow=GATEWAY_MODELS).model


def test_a_real_model_id_passes_through(served, fake_backend):
    """A configured model id goes to its backend unrouted."""
    reply = chat(served.url, {"model": PASSTHROUGH_MODEL, "messages": [{"role": "user", "content": "hi"}]})
    assert reply.status_code == 200
    assert reply.headers["x-cactus-router-model"] == PASSTHROUGH_MODEL
    assert "x-cactus-router-score" not in reply.headers
    assert fake_backend.requests[-1][1]["model"] == f"served-{PASSTHROUGH_MODEL}"


def test_models_lists_router_names_and_backends(served):
    """GET /v1/models names the router, the profile's models with their backends, and backend-only models."""
    data = {m["id"]: m for m in httpx.get(served.url + "/v1/models").json()["data"]}
    assert data["cactus-router"]["router"] is True
    assert data[GATEWAY_MODELS[0]]["backend"] == "openai" and data[PASSTHROUGH_MODEL]["owned_by"] == "backend"


def test_failing_backend(served, fake_backend):
    """A backend 5xx is a typed 502; a backend 4xx is the client's and passes through as sent."""
    fake_backend.script.append(Reply(status=500, body=b'{"error": "boom"}'))
    reply = chat(served.url, {"model": "cactus-router", "messages": CONVERSATION})
    assert reply.status_code == 502
    assert reply.json()["error"]["type"] == "GenerationError" and "HTTP 500" in reply.json()["error"]["message"]
    fake_backend.script.append(Reply(status=400, body=b'{"error": {"message": "bad max_tokens"}}'))
    reply = chat(served.url, {"model": PASSTHROUGH_MODEL, "messages": CONVERSATION, "max_tokens": -1})
    assert reply.status_code == 400 and reply.json() == {"error": {"message": "bad max_tokens"}}


@pytest.mark.parametrize(("body", "status", "kind"), [
    ({"model": "gpt-nothing", "messages": CONVERSATION}, 404, "NotFoundError"),
    ({"model": "cactus-router:cheap", "messages": CONVERSATION}, 400, "ArgumentError"),
    ({"model": "cactus-router:1.5", "messages": CONVERSATION}, 400, "ArgumentError"),
    ({"model": "cactus-router", "messages": [{"role": "system", "content": "x"}]}, 400, "PromptError"),
    ({"model": "cactus-router", "messages": []}, 400, "PromptError"),
    ({"model": "cactus-router", "messages": CONVERSATION, "stream": "yes"}, 400, "ArgumentError"),
    ({"messages": CONVERSATION}, 400, "ArgumentError"),
])
def test_gateway_errors_are_typed(served, body, status, kind):
    """Bad gateway requests are 4xx in the service's error shape, and reach no backend."""
    reply = chat(served.url, body)
    assert reply.status_code == status and reply.json()["error"]["type"] == kind


def test_the_openai_client(served, router):
    """The official OpenAI Python client talks to the gateway, streaming and not, with no key for local backends."""
    openai = pytest.importorskip("openai", reason="the OpenAI client test needs the openai package")
    client = openai.OpenAI(base_url=served.url + "/v1", api_key="unused", max_retries=0)
    raw = client.chat.completions.with_raw_response.create(model="cactus-router", messages=CONVERSATION)
    assert raw.headers["x-cactus-router-model"] == router.route(PROMPT, allow=GATEWAY_MODELS).model
    assert raw.parse().choices[0].message.content == f"answer 0 to: {PROMPT}"
    pieces = [c.choices[0].delta.content for c in client.chat.completions.create(
        model="cactus-router", messages=CONVERSATION, stream=True) if c.choices]
    assert "".join(p or "" for p in pieces).strip() == f"answer 0 to: {PROMPT}"
    assert "cactus-router" in [m.id for m in client.models.list()]


# -- a second service: a bearer token, a short timeout, a backend that is down, a libcactus one --------


@pytest.fixture(scope="module")
def guarded(fake_backend, tmp_path_factory):
    folder = tmp_path_factory.mktemp("guarded")
    lib = compile_fake(folder, "fake_libcactus_serve.so")
    (folder / "tiny-lm").mkdir()
    config = backend_config(fake_backend.base_url, folder)
    with config.open("a", encoding="utf-8") as f:
        f.write('[models."down"]\nbackend = "openai"\nbase_url = "http://127.0.0.1:1/v1"\nmax_retries = 0\n\n'
                f'[models."tiny-lm"]\nbackend = "cactus"\nmodel_path = "tiny-lm"\nlib_path = "{lib}"\n')
    server = Served("--config", str(config), "--timeout", "1", "--token-env", "SERVE_TEST_TOKEN",
                    env={"SERVE_TEST_TOKEN": TOKEN})
    try:
        server.wait_ready({"Authorization": f"Bearer {TOKEN}"})
        yield server
    finally:
        server.stop()


AUTH = {"Authorization": f"Bearer {TOKEN}"}


def test_the_token_is_required(guarded):
    """Every API call needs the bearer token; /health and the playground's page do not."""
    body = {"prompt": PROMPT}
    assert httpx.post(guarded.url + "/v1/route", json=body).status_code == 401
    wrong = httpx.post(guarded.url + "/v1/route", json=body, headers={"Authorization": f"Bearer {TOKEN}x"})
    assert wrong.status_code == 401 and wrong.json()["error"]["type"] == "UnauthorizedError"
    assert httpx.get(guarded.url + "/metrics").status_code == 401
    assert httpx.post(guarded.url + "/v1/route", json=body, headers=AUTH).status_code == 200
    assert httpx.get(guarded.url + "/health").status_code == 200 and httpx.get(guarded.url + "/").status_code == 200


def test_slow_backend_times_out(guarded, fake_backend):
    """A backend slower than the service's timeout is a typed 504, not a hung client."""
    fake_backend.script.append(Reply(delay=3.0))
    reply = chat(guarded.url, {"model": PASSTHROUGH_MODEL, "messages": CONVERSATION}, headers=AUTH)
    assert reply.status_code == 504 and reply.json()["error"]["type"] == "RequestTimeoutError"


def test_backend_down(guarded):
    """A backend nobody listens for is a typed 502 naming it."""
    reply = chat(guarded.url, {"model": "down", "messages": CONVERSATION}, headers=AUTH)
    assert reply.status_code == 502 and "could not connect" in reply.json()["error"]["message"]


def test_libcactus_backend(guarded):
    """A libcactus backend answers in the OpenAI shape, as JSON or as one streamed event."""
    body = {"model": "tiny-lm", "messages": CONVERSATION, "max_tokens": 16}
    reply = chat(guarded.url, body, headers=AUTH)
    assert reply.status_code == 200 and reply.json()["choices"][0]["message"]["content"] == "fake reply"
    streamed = chat(guarded.url, {**body, "stream": True}, headers=AUTH)
    assert streamed.headers["content-type"].startswith("text/event-stream")
    assert '"content": "fake reply"' in streamed.text and streamed.text.endswith("data: [DONE]\n\n")


def test_graceful_shutdown_finishes_requests_in_flight(fake_backend, tmp_path):
    """SIGTERM while a request is in flight: the request still gets its answer, then the process ends."""
    server = Served("--config", str(backend_config(fake_backend.base_url, tmp_path)))
    server.wait_ready()
    seen = len(fake_backend.requests)
    fake_backend.script.append(Reply(delay=1.5, body=b'{"choices": []}'))
    result: dict[str, httpx.Response] = {}
    worker = threading.Thread(target=lambda: result.update(
        r=chat(server.url, {"model": PASSTHROUGH_MODEL, "messages": CONVERSATION})))
    worker.start()
    while len(fake_backend.requests) == seen:  # the request has reached the backend
        time.sleep(0.01)
    status = server.stop()
    worker.join()
    assert result["r"].status_code == 200 and result["r"].json() == {"choices": []}
    # uvicorn shuts down gracefully, then re-raises the signal, which the CLI turns into exit 143.
    assert status == 128 + signal.SIGTERM  # the CLI's exit status for SIGTERM, after uvicorn finished
