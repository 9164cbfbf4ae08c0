"""Agreement with an LLM judge: ask a model through a generation backend which candidate should answer
each prompt, cache every judgement, and report agreement, sizes, savings, latency, token cost and,
given labels, quality.

Agreement with a judge is not quality; see ``figures.NOT_QUALITY`` and the README.
"""

from .ask import RateLimiter, ask_all, preflight
from .cache import CACHE_NAME, Judgement, JudgementCache
from .candidates import Candidate, Candidates, build_candidates
from .figures import NOT_QUALITY, Outcome, figures
from .parse import Answer, parse_answer
from .prompt import JudgeConfig, prompt_sha256, system_message
from .report import markdown, write_outputs
from .study import JudgeRun, JudgeSettings, read_judge_prompts, run_judge

__all__ = [
    "CACHE_NAME",
    "NOT_QUALITY",
    "Answer",
    "Candidate",
    "Candidates",
    "JudgeConfig",
    "JudgeRun",
    "JudgeSettings",
    "Judgement",
    "JudgementCache",
    "Outcome",
    "RateLimiter",
    "ask_all",
    "build_candidates",
    "figures",
    "markdown",
    "parse_answer",
    "preflight",
    "prompt_sha256",
    "read_judge_prompts",
    "run_judge",
    "system_message",
    "write_outputs",
]
