"""The service's parts on their own: the worker pool's bound and timeout, the token check, the metrics'
text format, the settings' validation, and the ``serve`` command's errors before it serves."""

from __future__ import annotations

import asyncio
import socket
import threading

import pytest

pytest.importorskip("starlette", reason="the service needs the serve extra (pip install 'cactus-router[serve]')")

from click.testing import CliRunner  # noqa: E402

from cactus_router.cli.serve import listening_socket, serve  # noqa: E402
from cactus_router.errors import ArgumentError, RouterError  # noqa: E402
from cactus_router.serve import ServeConfig  # noqa: E402
from cactus_router.serve.errors import RequestTimeoutError, ServiceBusyError  # noqa: E402
from cactus_router.serve.guard import WorkerPool, token_matches  # noqa: E402
from cactus_router.serve.metrics import Metrics  # noqa: E402


def test_the_pool_refuses_past_its_queue():
    """One worker and a queue of one hold two calls; a third is refused at once, and a slot frees when one ends."""
    gate = threading.Event()
    pool = WorkerPool(1, 1)

    async def scenario() -> list[object]:
        first = asyncio.ensure_future(pool.run(gate.wait, timeout=10))
        second = asyncio.ensure_future(pool.run(lambda: 2, timeout=10))
        await asyncio.sleep(0.05)
        with pytest.raises(ServiceBusyError, match="2 routing slots"):
            await pool.run(lambda: 3, timeout=10)
        gate.set()
        return [await first, await second, await pool.run(lambda: 4, timeout=10)]

    assert asyncio.run(scenario()) == [True, 2, 4]
    assert pool.busy == 0
    pool.close()


def test_a_timed_out_call_keeps_its_slot_until_it_ends():
    """A call past the timeout is a RequestTimeoutError, but its thread still holds the slot until done."""
    gate = threading.Event()
    pool = WorkerPool(1, 1)

    async def scenario() -> int:
        with pytest.raises(RequestTimeoutError):
            await pool.run(gate.wait, timeout=0.05)
        held = pool.busy
        gate.set()
        await asyncio.sleep(0.05)
        return held

    assert asyncio.run(scenario()) == 1 and pool.busy == 0
    pool.close()


def test_token_matches():
    """Only 'Bearer <the token>' matches."""
    token = "t" * 20
    assert token_matches(f"Bearer {token}", token)
    assert not token_matches(f"Bearer {token}x", token) and not token_matches(token, token)
    assert not token_matches(None, token) and not token_matches("Bearer ", token)
    assert not token_matches("Bearer \udcff", token)


def test_metrics_text_format():
    """Counters carry escaped labels; histogram buckets are cumulative and end at +Inf with the count."""
    m = Metrics()
    m.decided('we"ird\nmodel', "none")
    m.embed.observe(0.003)
    m.embed.observe(50.0)
    text = m.render(in_flight=1)
    assert 'cactus_router_decisions_total{model="we\\"ird\\nmodel",tier="none"} 1' in text
    assert 'cactus_router_embed_seconds_bucket{le="0.005"} 1' in text
    assert 'cactus_router_embed_seconds_bucket{le="30"} 1' in text
    assert 'cactus_router_embed_seconds_bucket{le="+Inf"} 2' in text and "cactus_router_embed_seconds_count 2" in text
    assert "cactus_router_in_flight 1" in text


@pytest.mark.parametrize("kw", [{"workers": 0}, {"queue": True}, {"timeout": float("nan")}, {"timeout": 0},
                                {"max_batch": 10**9}, {"token": "short"}, {"token": "has a space in it, long"}])
def test_bad_settings_are_argument_errors(kw):
    """Each bad setting is one ArgumentError (a RouterError and a ValueError)."""
    with pytest.raises(ArgumentError) as info:
        ServeConfig(**kw)
    assert isinstance(info.value, RouterError) and isinstance(info.value, ValueError)


@pytest.mark.parametrize(("args", "env", "message"), [
    (["--profile", "no/such/profile.json"], {}, "profile"),
    (["--token-env", "SERVE_UNSET_VARIABLE"], {}, "SERVE_UNSET_VARIABLE"),
    (["--token-env", "SERVE_SHORT"], {"SERVE_SHORT": "abc"}, "at least 16"),
])
def test_serve_refuses_before_serving(args, env, message, monkeypatch):
    """A bad profile or token is a one-line error and exit 1, before any port is opened."""
    monkeypatch.delenv("SERVE_UNSET_VARIABLE", raising=False)
    result = CliRunner().invoke(serve, args, env=env)
    assert result.exit_code == 1 and message in result.output and len(result.output.strip().splitlines()) == 1


def test_the_listening_socket_is_tcp_so_responses_are_not_delayed():
    """serve's socket names IPPROTO_TCP, the condition for asyncio to set TCP_NODELAY on each connection
    (without it Nagle's algorithm and delayed ACKs held every response back by about 40 ms)."""
    sock = listening_socket("127.0.0.1", 0)
    try:
        assert sock.proto == socket.IPPROTO_TCP
    finally:
        sock.close()
