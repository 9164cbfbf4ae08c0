"""The Generator protocol and the frozen values it takes and returns."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from ..errors import ArgumentError, PromptError

#: A chat message: {"role": "system" | "user" | "assistant", "content": text}.
Message = Mapping[str, str]
#: What a generator takes: a prompt (one user message) or the chat messages themselves.
Prompt = str | Sequence[Message]

_ROLES = ("system", "user", "assistant")


@dataclass(frozen=True)
class SamplingParams:
    """The knobs of one generation call, validated once.

    Args:
        n: completions wanted (independent samples of the same prompt).
        temperature: sampling temperature (0 = greedy).
        max_tokens: cap on each completion's length in tokens.
        top_p: nucleus sampling mass, or None for the backend's default.
        stop: strings that end a completion.
        logprobs: ask for each generated token's log-probability where the backend gives them.
        json_object: ask for a reply that is one JSON object where the backend has a JSON mode
            (OpenAI-compatible servers: ``response_format``); the caller still parses and checks it.
    """

    n: int = 1
    temperature: float = 0.0
    max_tokens: int = 256
    top_p: float | None = None
    stop: tuple[str, ...] = ()
    logprobs: bool = False
    json_object: bool = False

    def __post_init__(self) -> None:
        if isinstance(self.n, bool) or not isinstance(self.n, int) or not 1 <= self.n <= 128:
            raise ArgumentError(f"n must be an int in [1, 128], got {self.n!r}")
        if not isinstance(self.temperature, (int, float)) or not 0.0 <= self.temperature <= 2.0:
            raise ArgumentError(f"temperature must be in [0, 2], got {self.temperature!r}")
        if isinstance(self.max_tokens, bool) or not isinstance(self.max_tokens, int) or self.max_tokens < 1:
            raise ArgumentError(f"max_tokens must be an int >= 1, got {self.max_tokens!r}")
        if self.top_p is not None and not 0.0 < self.top_p <= 1.0:
            raise ArgumentError(f"top_p must be in (0, 1], got {self.top_p!r}")
        if not isinstance(self.stop, tuple) or not all(isinstance(s, str) and s for s in self.stop):
            raise ArgumentError(f"stop must be a tuple of non-empty strings, got {self.stop!r}")
        if not isinstance(self.json_object, bool):
            raise ArgumentError(f"json_object must be a bool, got {self.json_object!r}")


#: The parameters a generator uses when given none: one greedy completion of up to 256 tokens.
DEFAULT_PARAMS = SamplingParams()


@dataclass(frozen=True)
class Completion:
    """One generated text with what the backend reported about it.

    ``logprobs`` holds each generated token's natural-log probability, or None where the backend
    gives none; ``confidence`` is a backend's own score in [0, 1] (libcactus reports one).
    """

    text: str
    completion_tokens: int | None = None
    logprobs: tuple[float, ...] | None = None
    finish_reason: str | None = None
    confidence: float | None = None

    def mean_logprob(self) -> float | None:
        """The mean token log-probability, or None without log-probabilities."""
        if not self.logprobs:
            return None
        return math.fsum(self.logprobs) / len(self.logprobs)


@dataclass(frozen=True)
class Generation:
    """What one ``generate`` call produced: the completions, the prompt's size, the time and the calls made.

    ``calls`` counts backend requests (an HTTP server that ignores ``n`` needs one per sample), so
    a cascade can count what verification really cost.
    """

    model: str
    completions: tuple[Completion, ...]
    prompt_tokens: int | None
    seconds: float
    calls: int

    @property
    def text(self) -> str:
        """The first completion's text."""
        return self.completions[0].text

    @property
    def completion_tokens(self) -> int | None:
        """Tokens generated over all completions, or None if the backend did not say."""
        counts = [c.completion_tokens for c in self.completions]
        return None if any(c is None for c in counts) else sum(c for c in counts if c is not None)


@runtime_checkable
class Generator(Protocol):
    """Anything that turns a prompt into ``params.n`` completions (thread-safe per instance)."""

    @property
    def model(self) -> str:
        """The model id this generator serves (the id a profile and a cascade use)."""
        ...

    def generate(self, prompt: Prompt, params: SamplingParams = ...) -> Generation:
        """``params.n`` completions of ``prompt``; raises GenerationError naming backend and model."""
        ...


def as_messages(prompt: Prompt, where: str) -> list[dict[str, str]]:
    """``prompt`` as a validated list of chat messages; a str becomes one user message."""
    if isinstance(prompt, str):
        if not prompt.strip():
            raise PromptError(f"{where}: the prompt is empty; pass the text to generate from")
        return [{"role": "user", "content": prompt}]
    if not isinstance(prompt, Sequence) or not prompt:
        raise PromptError(f"{where}: pass a prompt string or a non-empty list of chat messages")
    out = []
    for i, msg in enumerate(prompt):
        if not isinstance(msg, Mapping) or set(msg) != {"role", "content"}:
            raise PromptError(f"{where}: message {i} must have exactly the keys 'role' and 'content'")
        role, content = msg["role"], msg["content"]
        if role not in _ROLES or not isinstance(content, str):
            raise PromptError(f"{where}: message {i} needs a role in {_ROLES} and str content")
        out.append({"role": role, "content": content})
    return out
