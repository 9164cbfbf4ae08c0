"""Asking the judge: one preflight request, then every missing judgement with bounded concurrency and rate."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, as_completed

from ..errors import ArgumentError, GenerationError, RouterError
from ..generation import Generation, Generator, SamplingParams
from .cache import MAX_REPLY_CHARS, Judgement
from .parse import parse_answer
from .prompt import JudgeConfig

#: The preflight request: a chat completion of one token, with the judgements' JSON mode.
PREFLIGHT_MESSAGES = (
    {"role": "system", "content": 'Reply with the JSON object {"ok": true}.'},
    {"role": "user", "content": "ping"},
)


class RateLimiter:
    """Spaces request starts at least ``1 / per_second`` seconds apart, across threads."""

    def __init__(self, per_second: float, *, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        if isinstance(per_second, bool) or not isinstance(per_second, (int, float)) or not (
                per_second > 0 and math.isfinite(per_second)):
            raise ArgumentError(f"the request rate must be a finite number > 0 per second, got {per_second!r}")
        self.interval = 1.0 / float(per_second)
        self._clock = clock
        self._sleep = sleep
        self._next = -math.inf
        self._lock = threading.Lock()

    def wait(self) -> None:
        """Block until this caller may start a request."""
        with self._lock:
            now = self._clock()
            start = max(now, self._next)
            self._next = start + self.interval
        if start > now:
            self._sleep(start - now)


def preflight(generator: Generator, backend: str, json_object: bool) -> Generation:
    """One 1-token chat completion to the judge's endpoint, before any prompt is sent.

    It goes through the same generator, endpoint, key, served model and JSON mode as the
    judgements, so a missing or refused key, an unknown model, an unreachable server or a refused
    ``response_format`` fails here, with nothing of the user's sent. (A model listing, ``GET
    /models``, is not served by every OpenAI-compatible endpoint and proves none of this.)

    Raises:
        GenerationError: the request failed, naming the backend.
    """
    try:
        return generator.generate(list(PREFLIGHT_MESSAGES), SamplingParams(max_tokens=1, json_object=json_object))
    except GenerationError as exc:
        hint = ("; a server without a JSON mode may refuse response_format: ask without it (--no-json-mode)"
                if json_object and "HTTP 4" in str(exc) else "")
        raise GenerationError(f"judge backend {backend!r}: the preflight request (a 1-token chat completion) "
                              f"failed, so no prompt was sent: {exc}{hint}") from None


def judge_one(generator: Generator, config: JudgeConfig, prompt_sha256: str, prompt: str,
              ids: Sequence[str]) -> Judgement:
    """Ask the judge about one prompt and parse its reply strictly (an unparseable reply is kept, counted)."""
    out = generator.generate(config.messages(prompt), config.params)
    first = out.completions[0]
    answer = parse_answer(first.text, ids)
    return Judgement(prompt_sha256, config.sha256, answer.model, answer.problem, first.text[:MAX_REPLY_CHARS],
                     first.finish_reason, out.seconds, out.prompt_tokens, out.completion_tokens, out.calls)


def ask_all(generator: Generator, config: JudgeConfig, jobs: Sequence[tuple[str, str]], ids: Sequence[str], *,
            concurrency: int, limiter: RateLimiter, record: Callable[[Judgement], None],
            progress: Callable[[int, int], None] | None = None) -> int:
    """Judge every ``(prompt_sha256, prompt)`` of ``jobs``, ``record``-ing each judgement as it arrives.

    At most ``concurrency`` requests are in flight and their starts are spaced by ``limiter``. After
    a failed request (or an interrupt) no new request starts; the ones in flight are waited for and
    recorded, since they are paid for, and the failure is raised. Returns the judgements recorded.

    Raises:
        GenerationError: a request failed after the backend's retries.
    """
    if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
        raise ArgumentError(f"concurrency must be an int >= 1, got {concurrency!r}")
    stop = threading.Event()

    def work(sha: str, prompt: str) -> Judgement | None:
        if stop.is_set():
            return None
        limiter.wait()
        if stop.is_set():
            return None
        try:
            return judge_one(generator, config, sha, prompt, ids)
        except BaseException:
            stop.set()  # here, not when the main thread sees it: this worker's next job must not start
            raise

    failures: list[RouterError] = []
    taken: set[Future[Judgement | None]] = set()
    recorded = 0

    def take(future: Future[Judgement | None]) -> None:
        nonlocal recorded
        taken.add(future)
        try:
            judgement = future.result()
        except RouterError as exc:
            failures.append(exc)
            stop.set()
            return
        if judgement is not None:
            record(judgement)
            recorded += 1
            if progress is not None:
                progress(recorded, len(jobs))

    with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="cactus-judge") as pool:
        futures = [pool.submit(work, sha, prompt) for sha, prompt in jobs]
        try:
            for future in as_completed(futures):
                take(future)
        except BaseException:
            stop.set()
            for future in futures:
                if future not in taken:
                    take(future)  # waits for a request in flight: what it paid for is kept
            raise
    if failures:
        raise failures[0]
    return recorded


__all__ = ["PREFLIGHT_MESSAGES", "RateLimiter", "ask_all", "judge_one", "preflight"]
