"""Verification signals: how much to trust an answer, each a score in [0, 1] with the calls it took.

- ``self_verification``: AutoMix's few-shot self-verification. The model that answered is shown
  worked examples of judging an answer against its question, then asked about its own answer
  ``n`` times at temperature ``T``; the score is the share of samples that judge it correct.
- ``self_consistency``: ``n`` fresh samples of the question; the score is the share whose
  extracted final answer equals the answer's.
- ``logprob_confidence``: the geometric-mean token probability of the answer.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from ..errors import GenerationError
from ..generation import Completion, Generation, Generator, SamplingParams
from .answers import AnswerKind, extract_answer

#: Our few-shot prompt for judging an answer. Its examples cover a correct and a wrong answer in
#: arithmetic and in reading, so "yes" is not the pattern to copy.
VERIFY_PROMPT = """You check answers. Read the question and the proposed answer, reason briefly, then end with \
"Verdict: correct" or "Verdict: wrong".

Question: A shop sells pens at 3 for $2. How much do 12 pens cost?
Proposed answer: 12 pens are 4 groups of 3, so 4 x $2 = $8.
Check: 12 / 3 = 4 groups, each $2, total $8. The answer matches.
Verdict: correct

Question: What is 15% of 80?
Proposed answer: 15% of 80 is 15.
Check: 0.15 x 80 = 12, not 15.
Verdict: wrong

Question: The meeting moved from Tuesday to two days later. On which day is it now?
Proposed answer: Friday.
Check: two days after Tuesday is Thursday, not Friday.
Verdict: wrong

Question: A train leaves at 09:40 and the trip takes 85 minutes. When does it arrive?
Proposed answer: 85 minutes is 1 h 25 min; 09:40 + 1:25 = 11:05.
Check: 09:40 + 1 h = 10:40, + 25 min = 11:05. The answer matches.
Verdict: correct

Question: {question}
Proposed answer: {answer}
Check:"""

_VERDICT = re.compile(r"verdict\s*:\s*(correct|wrong|incorrect)", re.I)


@dataclass(frozen=True)
class Score:
    """A verification score in [0, 1], with the generations behind it (their calls and tokens are its cost)."""

    value: float
    generations: tuple[Generation, ...] = ()

    @property
    def calls(self) -> int:
        """Backend requests the score took."""
        return sum(g.calls for g in self.generations)

    @property
    def completion_tokens(self) -> int | None:
        """Tokens generated for the score, or None if a backend did not say."""
        counts = [g.completion_tokens for g in self.generations]
        return None if any(c is None for c in counts) else sum(c for c in counts if c is not None)


def verdict(text: str) -> bool | None:
    """True for "Verdict: correct", False for "wrong"/"incorrect" (the last one stated), None for neither."""
    found = _VERDICT.findall(text)
    return None if not found else found[-1].lower() == "correct"


def self_verification(question: str, answer: str, generator: Generator, *, n: int = 8, temperature: float = 0.7,
                      max_tokens: int = 128) -> Score:
    """Share of ``n`` verification samples that judge ``answer`` correct (a sample with no verdict counts as not)."""
    prompt = VERIFY_PROMPT.format(question=question.strip(), answer=answer.strip())
    out = generator.generate(prompt, SamplingParams(n=n, temperature=temperature, max_tokens=max_tokens))
    votes = [verdict(c.text) is True for c in out.completions]
    return Score(sum(votes) / len(votes), (out,))


def self_consistency(question: str, answer: str, generator: Generator, *, n: int = 5, temperature: float = 0.7,
                     max_tokens: int = 256, kind: AnswerKind = "auto") -> Score:
    """Share of ``n`` fresh samples whose final answer equals ``answer``'s (0 if ``answer`` states none)."""
    out = generator.generate(question, SamplingParams(n=n, temperature=temperature, max_tokens=max_tokens))
    target = extract_answer(answer, kind)
    if target is None:
        return Score(0.0, (out,))
    same = [extract_answer(c.text, kind) == target for c in out.completions]
    return Score(sum(same) / len(same), (out,))


def logprob_confidence(question: str, answer: str | Completion, generator: Generator, *,
                       max_tokens: int = 256) -> Score:
    """exp(mean token log-probability) of the answer: its own if ``answer`` carries them, else a greedy re-generation's.

    Raises:
        GenerationError: the backend gives no log-probabilities.
    """
    if isinstance(answer, Completion) and answer.logprobs:
        mean = answer.mean_logprob()
        return Score(math.exp(mean) if mean is not None else 0.0)
    out = generator.generate(question, SamplingParams(temperature=0.0, max_tokens=max_tokens, logprobs=True))
    mean = out.completions[0].mean_logprob()
    if mean is None:
        raise GenerationError(f"model {generator.model!r}: its backend gives no token log-probabilities; "
                              "use self_verification or self_consistency")
    return Score(min(1.0, math.exp(mean)), (out,))


__all__ = ["Score", "VERIFY_PROMPT", "logprob_confidence", "self_consistency", "self_verification", "verdict"]
