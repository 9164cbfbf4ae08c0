"""Agreement with an LLM judge: ask a model through a generation backend which candidate should answer
each prompt, cache every judgement, and report agreement, sizes, savings, latency, token cost and,
given labels, quality.
"""

from .cache import CACHE_NAME, Judgement, JudgementCache
from .candidates import Candidate, Candidates, build_candidates
from .parse import Answer, parse_answer
from .prompt import JudgeConfig, prompt_sha256, system_message

__all__ = [
    "CACHE_NAME",
    "Answer",
    "Candidate",
    "Candidates",
    "JudgeConfig",
    "Judgement",
    "JudgementCache",
    "build_candidates",
    "parse_answer",
    "prompt_sha256",
    "system_message",
]
