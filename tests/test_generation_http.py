"""OpenAIGenerator over real HTTP on loopback, against the FAKE OpenAI-compatible server of fake_openai_server.py."""

from __future__ import annotations

import asyncio
import json
import logging
import socket

import pytest

pytest.importorskip("httpx", reason="the HTTP generator needs httpx (pip install 'cactus-router[generate]')")

from fake_openai_server import FakeOpenAIServer, Reply  # noqa: E402

from cactus_router.errors import BackendConfigError, GenerationError, RouterError  # noqa: E402
from cactus_router.generation import SamplingParams  # noqa: E402
from cactus_router.generation.http import OpenAIGenerator  # noqa: E402

SECRET = "sk-test-5f0c1d9e-do-not-leak"


@pytest.fixture
def server():  # type: ignore[no-untyped-def]
    with FakeOpenAIServer() as s:
        yield s


def gen(server: FakeOpenAIServer, **kw: object) -> OpenAIGenerator:
    opts: dict[str, object] = {"timeout": 2.0, "max_retries": 2, "backoff": 0.01, "max_backoff": 1.0, "name": "fake"}
    opts.update(kw)
    return OpenAIGenerator("small-model", server.base_url, **opts)  # type: ignore[arg-type]


def test_success(server):
    """One completion: text, token counts, one call, and the request the server saw."""
    out = gen(server, served_model="served-name").generate("What is 2 + 2?")
    assert out.text == "answer 0 to: What is 2 + 2?"
    assert out.model == "small-model" and out.calls == 1 and out.seconds > 0
    assert out.prompt_tokens == 5 and out.completions[0].completion_tokens == 4
    _, body = server.requests[0]
    assert body["model"] == "served-name" and body["messages"] == [{"role": "user", "content": "What is 2 + 2?"}]
    assert body["n"] == 1 and body["temperature"] == 0.0 and "logprobs" not in body
    assert "response_format" not in body


def test_json_object_sends_response_format(server):
    """json_object=True asks the server for JSON mode through response_format."""
    gen(server).generate("q", SamplingParams(json_object=True))
    assert server.requests[0][1]["response_format"] == {"type": "json_object"}


def test_n_samples_in_one_call(server):
    """n=3 is one request with n=3 when the server supports it."""
    out = gen(server).generate("q", SamplingParams(n=3, temperature=0.7))
    assert [c.text for c in out.completions] == [f"answer {i} to: q" for i in range(3)]
    assert out.calls == 1 and len(server.requests) == 1


def test_n_samples_from_a_server_that_ignores_n():
    """A server returning one choice per request is asked again until n completions are in, and the calls counted."""
    with FakeOpenAIServer(max_n=1) as s:
        out = gen(s).generate("q", SamplingParams(n=3, temperature=0.7))
    assert len(out.completions) == 3 and out.calls == 3
    assert [body["n"] for _, body in s.requests] == [3, 2, 1]


def test_logprobs(server):
    """Token log-probabilities are requested and parsed when asked for."""
    out = gen(server).generate("q", SamplingParams(logprobs=True))
    assert server.requests[0][1]["logprobs"] is True
    assert out.completions[0].logprobs == (-0.5, -1.5)
    assert out.completions[0].mean_logprob() == pytest.approx(-1.0)


def test_429_then_success(server):
    """A 429 with Retry-After is retried after the wait the server asked for."""
    server.script = [Reply(429, b'{"error": "slow down"}', {"Retry-After": "0.2"})]
    out = gen(server).generate("q")
    assert out.text == "answer 0 to: q" and len(server.requests) == 2


def test_500s_exhaust_the_retries(server):
    """Persistent 500s end after max_retries + 1 tries in one GenerationError naming backend, model and status."""
    server.script = [Reply(500, b'{"error": "boom"}') for _ in range(3)]
    with pytest.raises(GenerationError) as info:
        gen(server).generate("q")
    msg = str(info.value)
    assert "backend 'fake' (model 'small-model')" in msg and "HTTP 500 after 3 tries" in msg and "boom" in msg
    assert "\n" not in msg and isinstance(info.value, RouterError) and isinstance(info.value, RuntimeError)
    assert len(server.requests) == 3


def test_400_is_not_retried(server):
    """A client error is final at once."""
    server.script = [Reply(400, b'{"error": "bad model"}')]
    with pytest.raises(GenerationError, match="HTTP 400: .*bad model"):
        gen(server).generate("q")
    assert len(server.requests) == 1


def test_retry_after_beyond_max_backoff_stops(server):
    """A Retry-After longer than max_backoff is an error at once, not a long hang."""
    server.script = [Reply(503, b"{}", {"Retry-After": "3600"})]
    with pytest.raises(GenerationError, match="retry after 3600 s, more than max_backoff 1 s"):
        gen(server).generate("q")


def test_slow_server_hits_the_timeout(server):
    """A reply slower than the timeout is retried, then one error saying it timed out."""
    server.script = [Reply(200, b"{}", delay=1.0) for _ in range(2)]
    with pytest.raises(GenerationError, match="timed out .*timeout 0.3 s.* after 2 tries"):
        gen(server, timeout=0.3, max_retries=1).generate("q")


def test_connection_refused():
    """A backend that is down is a GenerationError after the retries."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again before the generator connects
    g = OpenAIGenerator("m", f"http://127.0.0.1:{port}/v1", max_retries=1, backoff=0.01, name="down")
    with pytest.raises(GenerationError, match="backend 'down' \\(model 'm'\\): could not connect .*after 2 tries"):
        g.generate("q")


@pytest.mark.parametrize("body", [b"not json", b'{"choices": [{"message": {}}]}', b'{"choices": []}'])
def test_malformed_reply(server, body):
    """Malformed JSON, a choice without content, or no choices: one typed line."""
    server.script = [Reply(200, body)]
    with pytest.raises(GenerationError, match="backend 'fake' \\(model 'small-model'\\): (malformed reply|the reply)"):
        gen(server).generate("q")


def test_key_never_in_repr_log_or_error(server, monkeypatch, caplog):
    """The key is sent as a Bearer token and appears in no repr, log record or error, even when echoed back."""
    monkeypatch.setenv("FAKE_API_KEY", SECRET)
    caplog.set_level(logging.DEBUG)
    g = gen(server, api_key_env="FAKE_API_KEY")
    g.generate("q")
    assert server.requests[0][0]["Authorization"] == f"Bearer {SECRET}"
    server.script = [Reply(500, json.dumps({"echo": f"Bearer {SECRET}"}).encode()) for _ in range(3)]
    with pytest.raises(GenerationError) as info:
        g.generate("q")
    assert SECRET not in str(info.value) and "[key]" in str(info.value)
    assert SECRET not in repr(g) and "FAKE_API_KEY" in repr(g)
    assert caplog.records and all(SECRET not in r.getMessage() for r in caplog.records)


def test_missing_key_variable(monkeypatch, server):
    """A key variable that is named but not set is a config error naming the variable."""
    monkeypatch.delenv("FAKE_API_KEY", raising=False)
    with pytest.raises(BackendConfigError, match="FAKE_API_KEY is not set"):
        gen(server, api_key_env="FAKE_API_KEY")


def test_stream(server):
    """stream() yields the server-sent pieces, in order, up to [DONE]."""
    pieces = list(gen(server).stream("hello there"))
    assert "".join(pieces).strip() == "answer 0 to: hello there" and len(pieces) > 1
    assert server.requests[0][1]["stream"] is True


def test_async_generate(server):
    """agenerate gives what generate gives, and retries the same way."""
    server.script = [Reply(502, b"{}")]
    out = asyncio.run(gen(server).agenerate("q", SamplingParams(n=2, temperature=0.5)))
    assert [c.text for c in out.completions] == ["answer 0 to: q", "answer 1 to: q"]
    assert len(server.requests) == 2
