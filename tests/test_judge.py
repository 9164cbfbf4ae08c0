"""The judge's parts on their own: parser, candidates, prompt, cache, rate limiter, figures."""

from __future__ import annotations

import json

import numpy as np
import pytest
from cr_factories import make_profile

from cactus_router.errors import ArgumentError, JudgeCacheError, RouterError, RoutingTableError
from cactus_router.generation import SamplingParams
from cactus_router.judge import (
    Judgement,
    JudgementCache,
    Outcome,
    RateLimiter,
    build_candidates,
    figures,
    parse_answer,
    system_message,
)
from cactus_router.judge.prompt import MAX_PROMPT_CHARS, JudgeConfig, user_message

IDS = ("small", "mid", "big")


@pytest.mark.parametrize("text, model", [
    ('{"model": "mid"}', "mid"),
    ('  {"model": "big", "reason": "needs reasoning"}\n', "big"),
    ('```json\n{"model": "small"}\n```', "small"),
    ('```\n{"model": "small"}\n```', "small"),
])
def test_parser_accepts_one_object_naming_a_candidate(text, model):
    """A reply that is one JSON object (in at most one code fence) naming a candidate parses to it."""
    assert parse_answer(text, IDS).model == model


@pytest.mark.parametrize("text, problem", [
    ("", "empty reply"),
    ("I would pick mid.", "not one JSON object"),
    ('The answer is {"model": "mid"}', "not one JSON object"),
    ('{"model": "mid"} {"model": "big"}', "not one JSON object"),
    ('["mid"]', "not one JSON object"),
    ('{"model": "mid", "model": "big"}', "not one JSON object"),
    ('{"model": NaN}', "not one JSON object"),
    ('{"choice": "mid"}', 'no "model" key'),
    ('{"model": 2}', '"model" is not a string'),
    ('{"model": "Mid"}', '"model" names no candidate'),
    ('{"model": "mi"}', '"model" names no candidate'),
])
def test_parser_counts_anything_unclear_and_never_guesses(text, problem):
    """Prose, near misses, two objects or a wrong type are unparseable, with the reason; no id is guessed."""
    answer = parse_answer(text, IDS)
    assert answer.model is None and answer.problem == problem


def test_candidates_default_to_the_profile_ordered_by_cost_without_sizes():
    """Without a list, the profile's models are the candidates, cheapest first, and steps go by cost."""
    c = build_candidates(make_profile(m=3, costs=[3.0, 1.0, 2.0]))
    assert c.ids == ("m1", "m2", "m0") and c.step_basis == "cost"
    assert c.steps().tolist() == [0, 1, 2] and c.ids[c.largest] == "m0"


def test_candidates_from_a_list_take_its_sizes_and_equal_sizes_share_a_step(tmp_path):
    """A model list gives sizes and capabilities; models of equal size are one step; unknown ids are named."""
    listed = [{"id": "m2", "cost": 5, "size_mb": 700, "capabilities": ["text", "tools"]},
              {"id": "m0", "cost": 1, "size_mb": 100}, {"id": "m1", "cost": 2, "size_mb": 700},
              {"id": "elsewhere", "cost": 9, "size_mb": 900}]
    path = tmp_path / "models.json"
    path.write_text(json.dumps(listed))
    profile = make_profile(m=3)
    c = build_candidates(profile, path)
    assert c.ids == ("m0", "m1", "m2") and c.step_basis == "size_mb" and c.left_out == ("elsewhere",)
    assert c.steps().tolist() == [0, 1, 1]
    assert c.models[2].capabilities == frozenset({"text", "tools"})
    assert c.models[2].cost == profile.models[2].cost  # the router's cost, not the list's
    assert c.models[0].error_rate == pytest.approx(profile.models[0].overall_error_rate)


def test_candidates_need_two_models_the_profile_routes_to():
    """The Cactus catalog against a profile of other models is a one-line ArgumentError naming both sides."""
    with pytest.raises(ArgumentError, match="share 0 .*profile's models are m0, m1, m2"):
        build_candidates(make_profile(m=3), "cactus")
    with pytest.raises(RoutingTableError):
        build_candidates(make_profile(m=3), [{"id": "m0"}])


def test_system_message_states_every_candidates_facts_and_the_reply_form():
    """The prompt names each model with its size, capabilities, profile error rate and cost, and the reply's ids."""
    profile = make_profile(m=3, sizes=[100.0, 250.0, 900.0],
                           caps=[frozenset({"text"}), frozenset({"text", "vision"}), frozenset({"text"})])
    c = build_candidates(profile)
    text = system_message(c)
    for m in profile.models:
        assert f'"{m.id}": {m.size_mb:g} MB' in text
        assert f"error rate {m.overall_error_rate:.3f} over {int(m.counts.sum())} labelled prompts" in text
        assert f"relative cost {m.cost:g}" in text
    assert "capabilities: text, vision" in text and "smallest first" in text
    assert text.endswith('where <id> is one of: "m0", "m1", "m2".')


def test_long_prompts_keep_head_and_tail_and_configs_hash_what_shapes_a_judgement():
    """A prompt over the cap keeps both ends; the config hash changes with the wording or the sampling."""
    long = "a" * MAX_PROMPT_CHARS + "END"
    cut = user_message(long)
    assert cut.startswith("a" * 100) and cut.endswith("END") and "characters left out" in cut
    assert user_message("short") == "short"
    base = JudgeConfig("judge", "openai", {"base_url": "http://x/v1"}, "system", SamplingParams(json_object=True))
    assert base.sha256 == JudgeConfig("judge", "openai", {"base_url": "http://x/v1"}, "system",
                                      SamplingParams(json_object=True)).sha256
    assert base.sha256 != JudgeConfig("judge", "openai", {"base_url": "http://x/v1"}, "system 2",
                                      SamplingParams(json_object=True)).sha256
    assert base.sha256 != JudgeConfig("judge", "openai", {"base_url": "http://x/v1"}, "system",
                                      SamplingParams(json_object=False)).sha256


def _judgement(i: int, model: str | None = "m0") -> Judgement:
    return Judgement(f"p{i}", "c", model, None if model else "empty reply", "", "stop", 0.25, 10, 3, 1)


def test_cache_appends_whole_lines_and_reloads_them(tmp_path):
    """Appended judgements are on disk at once, one line each, and a new cache reads them back."""
    path = tmp_path / "judgements.jsonl"
    cache = JudgementCache(path)
    cache.append(_judgement(1))
    cache.append(_judgement(2, None))
    assert path.read_bytes().count(b"\n") == 2
    again = JudgementCache(path)
    assert len(again) == 2 and again.get("p2", "c") == _judgement(2, None) and not again.cut_tail
    assert again.get("p1", "other config") is None


def test_cache_detects_a_cut_off_last_line_and_drops_it_so_its_prompt_is_asked_again(tmp_path):
    """A crash mid-write leaves a last line without its newline: it is reported, removed, and appends stay whole."""
    path = tmp_path / "judgements.jsonl"
    cache = JudgementCache(path)
    cache.append(_judgement(1))
    cache.append(_judgement(2))
    data = path.read_bytes()
    path.write_bytes(data[:-15])
    reloaded = JudgementCache(path)
    assert reloaded.cut_tail and len(reloaded) == 1 and reloaded.get("p2", "c") is None
    assert path.read_bytes() == data[: data.index(b"\n") + 1]
    reloaded.append(_judgement(2))
    assert JudgementCache(path).get("p2", "c") == _judgement(2) and path.read_bytes() == data


@pytest.mark.parametrize("line, message", [
    (b"not json\n", "jsonl:2: not a JSON line"),
    (b'{"prompt_sha256": "x"}\n', "jsonl:2: expected an object with exactly the fields"),
])
def test_cache_damaged_inside_is_a_typed_error_naming_the_line(tmp_path, line, message):
    """A complete line that is not a judgement is a JudgeCacheError naming file and line, never skipped."""
    path = tmp_path / "judgements.jsonl"
    JudgementCache(path).append(_judgement(1))
    with path.open("ab") as fh:
        fh.write(line)
    with pytest.raises(JudgeCacheError, match=message) as info:
        JudgementCache(path)
    assert isinstance(info.value, RouterError) and isinstance(info.value, ValueError)


def test_rate_limiter_spaces_request_starts():
    """At 2 requests a second, three callers arriving together start 0, 0.5 and 1.0 s later."""
    now, slept = [10.0], []
    limiter = RateLimiter(2.0, clock=lambda: now[0], sleep=slept.append)
    for _ in range(3):
        limiter.wait()
    assert slept == [0.5, 1.0]
    now[0] = 20.0
    limiter.wait()
    assert slept == [0.5, 1.0]
    with pytest.raises(ArgumentError):
        RateLimiter(float("inf"))


def test_figures_agreement_steps_confusion_and_savings_by_hand():
    """Exact and within-one-step agreement, confusion and savings match a hand count, without the unparseable row."""
    profile = make_profile(m=3, sizes=[100.0, 200.0, 400.0], costs=[1.0, 2.0, 4.0])
    c = build_candidates(profile)
    router = np.array([0, 1, 2, 0, 2])
    judge = np.array([0, 2, 2, 2, -1])
    outcome = Outcome(tuple("abcde"), router, np.full(5, 1.5), tuple(_judgement(i) for i in range(5)), judge)
    s = figures(c, outcome, bootstrap=200, seed=1)
    assert s["judged"] == 4 and s["unparseable"] == 1
    assert s["agreement"]["exact"] == 0.5 and s["agreement"]["within_one_step"] == 0.75
    lo, hi = s["agreement"]["ci95"]["exact"]
    assert 0.0 <= lo <= 0.5 <= hi <= 1.0
    assert s["confusion"]["counts"] == [[1, 0, 1], [0, 0, 1], [0, 0, 1]]
    judged = s["choices"]["judge"]
    assert judged["counts"] == {"m0": 1, "m1": 0, "m2": 3} and judged["mean_size_mb"] == 325.0
    assert judged["savings_vs_largest"]["cost"] == pytest.approx(1 - 3.25 / 4)
    assert s["choices"]["cactus-router (every prompt)"]["prompts"] == 5
    assert s["latency_ms"]["cactus-router"]["p50"] == 1.5 and s["latency_ms"]["judge"]["p50"] == 250.0
    assert s["judge_cost"]["prompt_tokens"]["total"] == 50 and s["quality"] is None
