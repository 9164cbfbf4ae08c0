"""``cactus-router judge`` end to end over real HTTP on loopback, against the FAKE judge of fake_judge_server.py."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("httpx", reason="the judge asks through the HTTP generator (pip install 'cactus-router[generate]')")

from click.testing import CliRunner  # noqa: E402
from cr_factories import make_profile  # noqa: E402
from fake_judge_server import FakeJudgeServer  # noqa: E402
from fake_openai_server import Reply  # noqa: E402

from cactus_router.cli.judge import judge  # noqa: E402

PROMPTS = ["hi", "What is 2 + 2?", "Translate 'good morning' into French, please.",
           "Prove that there are infinitely many primes, " * 6, "Summarise this contract. " * 30,
           "Write a haiku about autumn.", "hi"]  # a repeated prompt is asked once


@pytest.fixture()
def server():  # type: ignore[no-untyped-def]
    with FakeJudgeServer(chars_per_step=60) as s:
        yield s


@pytest.fixture()
def files(tmp_path, hash_embedder):  # type: ignore[no-untyped-def]
    profile = make_profile(k=4, d=64, m=3, embedder=hash_embedder, sizes=[150.0, 400.0, 1200.0])
    profile.save(tmp_path / "p.json")
    (tmp_path / "prompts.txt").write_text("\n".join(PROMPTS) + "\n")
    return tmp_path


def backends(tmp_path: Path, base_url: str, extra: str = "") -> str:
    path = tmp_path / "backends.toml"
    path.write_text(f'[models."fake-judge"]\nbackend = "openai"\nbase_url = "{base_url}"\n'
                    f'timeout = 5\nmax_retries = 0\n{extra}')
    return str(path)


def run(files: Path, base_url: str, *args: str, extra: str = "", prompts: str = "prompts.txt"):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(judge, [str(files / "p.json"), str(files / prompts), "--backend", "fake-judge",
                                      "--backends", backends(files, base_url, extra), "-o", str(files / "out"),
                                      "--bootstrap", "200", "--rate", "1000", *args])


def summary(files: Path) -> dict:  # type: ignore[type-arg]
    return json.loads((files / "out" / "summary.json").read_text())


def test_end_to_end_then_a_rerun_pays_nothing(files, server):
    """A run sends one preflight then each distinct prompt once; the rerun comes from the cache, with zero requests."""
    first = run(files, server.base_url)
    assert first.exit_code == 0, first.output
    assert len(server.requests) == 1 + len(set(PROMPTS))
    preflight = server.requests[0][1]
    assert preflight["max_tokens"] == 1 and preflight["response_format"] == {"type": "json_object"}
    assert all(body["response_format"] == {"type": "json_object"} for body in server.judgement_requests())
    out = files / "out"
    assert {p.name for p in out.iterdir()} == {"judgements.jsonl", "summary.json", "report.md", "results.json",
                                                "agreement_matrix.csv"}
    s = summary(files)
    assert s["prompts"] == len(PROMPTS) and s["judged"] == len(PROMPTS) and s["run"]["asked"] == len(set(PROMPTS))
    results = json.loads((out / "results.json").read_text())
    same = [r["cactus_router"]["model"] == r["judge"]["model"] for r in results]
    assert s["agreement"]["exact"] == pytest.approx(sum(same) / len(same))
    assert sum(map(sum, s["confusion"]["counts"])) == len(PROMPTS)
    report = (out / "report.md").read_text()
    assert "Agreement with a judge is not quality" in report and "no labels" in report
    assert "Agreement with a judge is not quality" in first.output

    server.requests.clear()
    again = run(files, server.base_url, extra='api_key_env = "JUDGE_KEY_NOT_SET_ANYWHERE"\n')
    assert again.exit_code == 0, again.output  # nothing to ask, so no key is needed
    assert server.requests == [] and "0 judgements asked" in again.output
    s2 = summary(files)
    assert s2["run"]["asked"] == 0 and s2["run"]["from_cache"] == len(set(PROMPTS)) and s2["run"]["preflight"] is None
    assert s2["agreement"] == s["agreement"] and s2["judge_cost"] == s["judge_cost"]


def test_a_cut_off_last_line_is_asked_again_on_the_rerun(files, server):
    """After a crash cut the cache's last line, the rerun reports it and asks that one prompt (plus the preflight)."""
    assert run(files, server.base_url).exit_code == 0
    cache = files / "out" / "judgements.jsonl"
    cache.write_bytes(cache.read_bytes()[:-20])
    server.requests.clear()
    again = run(files, server.base_url)
    assert again.exit_code == 0, again.output
    assert "cut off" in again.output and len(server.judgement_requests()) == 1 and len(server.requests) == 2
    assert summary(files)["run"]["cut_tail"] is True and summary(files)["judged"] == len(PROMPTS)


def test_unparseable_replies_are_counted_cached_and_never_guessed(files, server):
    """A reply in prose is counted as unparseable (not mapped to the model it mentions) and not asked again."""
    server.replies["What is 2 + 2?"] = "I would route this to m0."
    assert run(files, server.base_url).exit_code == 0
    s = summary(files)
    assert s["unparseable"] == 1 and s["judged"] == len(PROMPTS) - 1 and s["problems"] == {"not one JSON object": 1}
    assert s["agreement"]["rows"] == len(PROMPTS) - 1
    row = next(r for r in json.loads((files / "out" / "results.json").read_text()) if r["prompt"] == "What is 2 + 2?")
    assert row["judge"] == {"model": None, "problem": "not one JSON object", "reply": "I would route this to m0.",
                            "finish_reason": "stop"}
    server.requests.clear()
    assert run(files, server.base_url).exit_code == 0 and server.requests == []


def test_no_key_is_one_line_naming_the_backend_before_any_request(files, server, monkeypatch):
    """A key variable that is not set fails at once, naming the backend and the variable; nothing is sent."""
    monkeypatch.delenv("JUDGE_TEST_KEY", raising=False)
    result = run(files, server.base_url, extra='api_key_env = "JUDGE_TEST_KEY"\n')
    assert result.exit_code == 1 and server.requests == []
    line = result.output.strip().splitlines()[-1]
    assert "fake-judge" in line and "JUDGE_TEST_KEY is not set" in line and "Traceback" not in result.output


def test_unreachable_backend_fails_in_the_preflight(files):
    """Nothing listening: one line naming the backend and saying no prompt was sent."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again when the block ends: nothing listens there
    result = run(files, f"http://127.0.0.1:{port}/v1")
    assert result.exit_code == 1
    line = result.output.strip().splitlines()[-1]
    assert "judge backend 'fake-judge'" in line and "preflight" in line and "no prompt was sent" in line
    assert "could not connect" in line


def test_a_refused_key_stops_at_the_preflight(files, server, monkeypatch):
    """A 401 to the preflight is one line with the status; the server saw that request and no prompt."""
    monkeypatch.setenv("JUDGE_TEST_KEY", "sk-wrong")
    server.script.append(Reply(401, b'{"error": "invalid api key sk-wrong"}'))
    result = run(files, server.base_url, extra='api_key_env = "JUDGE_TEST_KEY"\n')
    assert result.exit_code == 1 and len(server.requests) == 1 and server.requests[0][1]["max_tokens"] == 1
    line = result.output.strip().splitlines()[-1]
    assert "HTTP 401" in line and "no prompt was sent" in line and "sk-wrong" not in line


def test_a_failure_midway_keeps_what_was_paid_for_and_the_rerun_resumes(files, server):
    """The third judgement is refused: the two before it are cached, and the rerun asks only the rest."""
    ok = [json.dumps({"choices": [{"message": {"content": '{"model": "m0"}'}, "finish_reason": "stop"}],
                      "usage": {"prompt_tokens": 5, "completion_tokens": 4}}).encode()] * 3
    server.script.extend([Reply(200, ok[0]), Reply(200, ok[1]), Reply(200, ok[2]), Reply(400, b'{"error": "no"}')])
    result = run(files, server.base_url, "--concurrency", "1")
    assert result.exit_code == 1 and len(server.requests) == 4  # the preflight, 2 answered, 1 refused: no more
    assert "HTTP 400" in result.output and "the 2 judgements made before it are cached" in result.output
    assert not (files / "out" / "summary.json").exists()
    server.requests.clear()
    assert run(files, server.base_url).exit_code == 0
    assert len(server.judgement_requests()) == len(set(PROMPTS)) - 2


@pytest.mark.parametrize("concurrency", [1, 3])
def test_requests_in_flight_never_exceed_the_concurrency(files, concurrency):
    """With every request held open a while, the fake never sees more than --concurrency at once."""
    with FakeJudgeServer(hold=0.05) as s:
        assert run(files, s.base_url, "--concurrency", str(concurrency)).exit_code == 0
        assert 1 <= s.max_in_flight <= concurrency


def test_no_json_mode_sends_no_response_format(files, server):
    """--no-json-mode leaves response_format out of every request, and the config (hence the cache key) says so."""
    assert run(files, server.base_url, "--no-json-mode").exit_code == 0
    assert all("response_format" not in body for _, body in server.requests)
    assert summary(files)["judge"]["json_object"] is False


def test_labelled_prompts_report_the_quality_of_both_routers(files, server):
    """With a routing table, each router's quality is the mean score of its choices, computed here by hand too."""
    rows = [{"prompt": p, "scores": {"m0": float(i % 2), "m1": 1.0, "m2": 1.0}} for i, p in enumerate(PROMPTS[:6])]
    (files / "table.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    result = run(files, server.base_url, "--price-input", "3", "--price-output", "15", prompts="table.jsonl")
    assert result.exit_code == 0, result.output
    s = summary(files)
    results = json.loads((files / "out" / "results.json").read_text())
    for name, key in (("cactus-router", "cactus_router"), ("judge", "judge")):
        by_hand = sum(r["scores"][r[key]["model"]] for r in results) / len(results)
        assert s["quality"]["routers"][name]["quality"] == pytest.approx(by_hand)
    assert s["quality"]["routers"]["oracle"]["quality"] == 1.0
    tokens = s["judge_cost"]
    assert tokens["usd"]["total"] == pytest.approx((tokens["prompt_tokens"]["total"] * 3
                                                    + tokens["completion_tokens"]["total"] * 15) / 1e6)
    assert "This, not agreement, is quality" in (files / "out" / "report.md").read_text()


def test_a_table_missing_a_candidates_score_fails_before_any_request(files, server):
    """Labels must score every candidate; a row that does not is named, and nothing is sent."""
    (files / "table.jsonl").write_text(json.dumps({"prompt": "hi", "scores": {"m0": 1.0, "m1": 0.0}}) + "\n")
    result = run(files, server.base_url, prompts="table.jsonl")
    assert result.exit_code == 1 and "table.jsonl:1" in result.output and server.requests == []


def test_models_list_and_usage_errors(files, server):
    """--models cactus against a profile of other models, or one price alone, is one line and no request."""
    result = run(files, server.base_url, "--models", "cactus")
    assert result.exit_code == 1 and "the profile's models are m0, m1, m2" in result.output
    result = run(files, server.base_url, "--price-input", "3")
    assert result.exit_code == 2 and "--price-output" in result.output
    assert server.requests == []


def test_runs_as_a_module_in_a_real_process(files, server):
    """python -m cactus_router judge works in a fresh interpreter against the fake."""
    cmd = [sys.executable, "-m", "cactus_router", "judge", str(files / "p.json"), str(files / "prompts.txt"),
           "--backend", "fake-judge", "--backends", backends(files, server.base_url), "-o", str(files / "out"),
           "--json", "--bootstrap", "0", "--rate", "1000"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["judged"] == len(PROMPTS)
