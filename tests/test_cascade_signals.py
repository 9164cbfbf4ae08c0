"""Answer extraction and the verification signals, driven through CallableGenerator with scripted replies."""

from __future__ import annotations

import itertools

import pytest

from cactus_router.cascade import extract_answer, logprob_confidence, self_consistency, self_verification
from cactus_router.cascade.signals import verdict
from cactus_router.errors import GenerationError
from cactus_router.generation import CallableGenerator, Completion


@pytest.mark.parametrize(("text", "kind", "want"), [
    ("so she makes 9 * 2 = 18 dollars. The answer is $1,800.00", "number", "1800"),
    ('```json\n{"reasoning": "3 + 4 = 7, 7 * 2", "answer": "14"}\n```', "number", "14"),
    ('{"answer": 2.50}', "number", "2.5"),
    ("thus \\boxed{-3} is it, not 5", "number", "-3"),
    ("I think the answer is (c).", "option", "C"),
    ("Answer: B", "auto", "B"),
    ("  D ", "option", "D"),
    ("no digits here", "number", None),
    ("Paris  is the Capital", "text", "paris is the capital"),
])
def test_extract_answer(text, kind, want):
    """Numbers are canonical (commas and trailing zeros dropped), options upper-case, text normalised."""
    assert extract_answer(text, kind) == want


def test_verdict_parsing():
    """The last stated verdict counts; none stated is None."""
    assert verdict("Check: ok.\nVerdict: correct") is True
    assert verdict("Verdict: correct ... on reflection Verdict: wrong") is False
    assert verdict("looks fine") is None


def test_self_verification_share_and_calls():
    """p_ver is the share of samples saying correct; samples without a verdict count as not; calls are counted."""
    replies = itertools.cycle(["Verdict: correct", "Verdict: wrong", "hmm", "Verdict: correct"])
    seen = []

    def fn(messages, params):  # type: ignore[no-untyped-def]
        seen.append((messages[-1]["content"], params.temperature))
        return next(replies)

    score = self_verification("What is 2+2?", "4", CallableGenerator(fn, model="s"), n=4, temperature=0.9)
    assert score.value == 0.5 and score.calls == 4
    assert "Question: What is 2+2?\nProposed answer: 4\nCheck:" in seen[0][0] and seen[0][1] == 0.9


def test_self_consistency_agreement():
    """The score is the share of fresh samples whose number equals the answer's."""
    replies = iter(["It is 42.", "answer: 42", "41", "forty-two", "42.0"])
    gen = CallableGenerator(lambda m, p: next(replies), model="s")
    score = self_consistency("q", "so the answer is 42", gen, n=5, kind="number")
    assert score.value == pytest.approx(3 / 5) and score.calls == 5
    assert self_consistency("q", "no answer", CallableGenerator(lambda m, p: "1", model="s"), n=2).value == 0.0


def test_logprob_confidence():
    """Its own log-probabilities cost no call; else one greedy call; no log-probabilities is an error."""
    unused = CallableGenerator(lambda m, p: "x", model="s")
    own = logprob_confidence("q", Completion("a", logprobs=(-0.2, -0.2)), unused)
    assert own.value == pytest.approx(0.8187, abs=1e-4) and own.calls == 0
    gen = CallableGenerator(lambda m, p: [Completion("a", logprobs=(0.0, -1.0))], model="s")
    again = logprob_confidence("q", "a", gen)
    assert again.value == pytest.approx(0.6065, abs=1e-4) and again.calls == 1
    with pytest.raises(GenerationError, match="no token log-probabilities"):
        logprob_confidence("q", "a", CallableGenerator(lambda m, p: "a", model="s"))
