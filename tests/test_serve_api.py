"""The routing API of ``cactus-router serve``, end to end over real HTTP on loopback.

The shared service (serve_harness.py) runs in a subprocess with the default profile and the real
default embedder; its answers are checked against the same Router in this process.
"""

from __future__ import annotations

import asyncio
import json

import pytest

httpx = pytest.importorskip("httpx", reason="the serve tests need httpx (pip install 'cactus-router[serve]')")

from click.testing import CliRunner  # noqa: E402
from serve_harness import LIMITS  # noqa: E402

from cactus_router import Decision, Router  # noqa: E402
from cactus_router.cli import cli  # noqa: E402

PROMPT = "Write a SQL query that finds duplicate emails"


@pytest.fixture(scope="module")
def router() -> Router:
    return Router.load("default")


def post(served, path: str, body: object) -> httpx.Response:
    return httpx.post(served.url + path, json=body, timeout=30)


def test_route_matches_the_python_api(served, router):
    """POST /v1/route gives Decision.to_dict() of the same choice Router.route makes in process."""
    reply = post(served, "/v1/route", {"prompt": PROMPT, "cost_bias": 0.3, "require": ["text"]})
    assert reply.status_code == 200
    got = Decision.from_dict(reply.json())
    want = router.route(PROMPT, cost_bias=0.3, require=["text"])
    assert got.model == want.model and got.cluster == want.cluster and got.cost_bias == 0.3
    assert [m for m, _ in got.ranking] == [m for m, _ in want.ranking]


def test_null_knobs_mean_the_profile_defaults(served, router):
    """JSON null knobs are unset, as None is in Python: the profile's cost_bias applies."""
    reply = post(served, "/v1/route", {"prompt": PROMPT, "cost_bias": None, "allow": None})
    assert reply.status_code == 200
    assert reply.json()["cost_bias"] == router.profile.routing.cost_bias


def test_batch_is_route_many(served, router):
    """POST /v1/route/batch returns one decision per prompt, in order, as Router.route_many does."""
    prompts = [PROMPT, "What is 17 * 23?", "Summarise Hamlet"]
    reply = post(served, "/v1/route/batch", {"prompts": prompts, "cost_bias": 0.8})
    assert reply.status_code == 200
    got = [d["model"] for d in reply.json()["decisions"]]
    assert got == list(router.route_many(prompts, cost_bias=0.8).models)


def test_explain_says_why(served, router):
    """POST /v1/explain carries the decision, the cluster's tasks and every model's terms."""
    reply = post(served, "/v1/explain", {"prompt": PROMPT, "top_clusters": 2})
    assert reply.status_code == 200
    body = reply.json()
    want = router.explain(PROMPT, top_clusters=2)
    assert body["decision"]["model"] == want.decision.model
    assert [(t["task"], t["count"]) for t in body["cluster_tasks"]] == list(want.cluster_tasks)
    assert body["cluster_tasks"], "the default profile records its clusters' tasks"
    assert len(body["nearest_clusters"]) == 2
    assert [t["model"] for t in body["terms"]] == [t.model for t in want.terms]


def test_models_and_profile(served, router):
    """GET /v1/models lists the router name and every profile model; /v1/profile is 'info --json'."""
    ids = [m["id"] for m in httpx.get(served.url + "/v1/models").json()["data"]]
    assert ids[0] == "cactus-router" and set(router.profile.model_ids) <= set(ids)
    info = CliRunner().invoke(cli, ["info", "--json"])
    assert info.exit_code == 0
    assert httpx.get(served.url + "/v1/profile").json() == json.loads(info.output)


def test_health_and_ready(served):
    """GET /health is alive; GET /ready says the profile is loaded with its embedder."""
    assert httpx.get(served.url + "/health").json() == {"status": "ok"}
    ready = httpx.get(served.url + "/ready").json()
    assert ready["ready"] is True and ready["embedder"] == "paraphrase-minilm-l3-v2"


@pytest.mark.parametrize(("path", "body", "status", "kind"), [
    ("/v1/route", {"prompt": "x", "cost_bias": 3}, 400, "ArgumentError"),
    ("/v1/route", {"prompt": "x", "cost_bias": True}, 400, "ArgumentError"),
    ("/v1/route", {"prompt": "x", "require": "vision"}, 400, "ArgumentError"),
    ("/v1/route", {"prompt": "x", "colour": "red"}, 400, "ArgumentError"),
    ("/v1/route", {"prompt": "   "}, 400, "PromptError"),
    ("/v1/route", {"prompt": 7}, 400, "PromptError"),
    ("/v1/route", {}, 400, "PromptError"),
    ("/v1/route", ["not", "an", "object"], 400, "ArgumentError"),
    ("/v1/route", {"prompt": "x", "allow": ["no-such-model"]}, 422, "NoEligibleModelError"),
    ("/v1/route", {"prompt": "x" * (LIMITS["max_prompt_chars"] + 1)}, 413, "RequestTooLargeError"),
    ("/v1/route/batch", {"prompts": ["x"] * (LIMITS["max_batch"] + 1)}, 413, "RequestTooLargeError"),
    ("/v1/route/batch", {"prompts": []}, 400, "PromptError"),
    ("/v1/route/batch", {"prompts": ["ok", None]}, 400, "PromptError"),
    ("/v1/explain", {"prompt": "x", "top_clusters": 0}, 400, "ArgumentError"),
])
def test_errors_are_typed(served, path, body, status, kind):
    """Bad input is a 4xx with {"error": {"type", "message"}}, the type the Python API raises."""
    reply = post(served, path, body)
    assert reply.status_code == status, reply.text
    error = reply.json()["error"]
    assert error["type"] == kind and error["message"] and "\n" not in error["message"]


def test_bad_json_oversized_body_unknown_path_and_method(served):
    """Non-JSON is 400, a body over the limit 413 (read no further), an unknown path 404, a wrong method 405."""
    bad = httpx.post(served.url + "/v1/route", content=b"{nope", headers={"content-type": "application/json"})
    assert bad.status_code == 400 and bad.json()["error"]["type"] == "ArgumentError"
    big = httpx.post(served.url + "/v1/route", content=b" " * (LIMITS["max_body_bytes"] + 1))
    assert big.status_code == 413 and big.json()["error"]["type"] == "RequestTooLargeError"
    assert httpx.get(served.url + "/v2/nothing").json()["error"]["type"] == "NotFoundError"
    assert httpx.get(served.url + "/v1/route").status_code == 405


def test_metrics_count_decisions_and_time_them(served):
    """GET /metrics counts each decision under its model and times embedding, scoring and the request."""
    def count(text: str, series: str) -> float:
        return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(series))

    before = httpx.get(served.url + "/metrics").text
    decided = post(served, "/v1/route", {"prompt": PROMPT}).json()
    post(served, "/v1/route/batch", {"prompts": [PROMPT, PROMPT]})
    after = httpx.get(served.url + "/metrics")
    assert after.headers["content-type"].startswith("text/plain")
    series = f'cactus_router_decisions_total{{model="{decided["model"]}",tier="{decided["tier"] or "none"}"}}'
    assert count(after.text, series) - count(before, series) == 3
    for name in ("cactus_router_embed_seconds_count", "cactus_router_score_seconds_count"):
        assert count(after.text, name) - count(before, name) == 2
    assert 'cactus_router_request_seconds_bucket{endpoint="/v1/route",le="+Inf"}' in after.text


def test_a_full_queue_answers_429(served):
    """With one worker and a queue of two, a burst of concurrent batches gets 429s, never a wait without bound."""
    prompts = [f"{PROMPT} number {i}, " * 12 for i in range(LIMITS["max_batch"])]

    async def burst() -> list[httpx.Response]:
        async with httpx.AsyncClient(timeout=60) as client:
            return await asyncio.gather(*(client.post(served.url + "/v1/route/batch", json={"prompts": prompts})
                                          for _ in range(24)))

    replies = asyncio.run(burst())
    statuses = [r.status_code for r in replies]
    assert set(statuses) <= {200, 429} and statuses.count(200) >= 3 and 429 in statuses
    busy = next(r for r in replies if r.status_code == 429)
    assert busy.json()["error"]["type"] == "ServiceBusyError" and busy.headers["retry-after"] == "1"
    assert "cactus_router_rejected_busy_total 0" not in httpx.get(served.url + "/metrics").text
