"""CascadeRouter: start where a Router decides, generate, verify, and escalate while the decider says so."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, Literal

from ..errors import ArgumentError, GenerationError
from ..generation import DEFAULT_PARAMS, BackendConfig, Generation, Generator, SamplingParams
from .model import Cascade
from .signals import Score, self_verification

if TYPE_CHECKING:
    from ..routing import Router

#: A verification signal: (question, answer, generator of the model that answered) -> Score.
Signal = Callable[[str, str, Generator], Score]
OnError = Literal["raise", "keep"]


@dataclass(frozen=True)
class CascadeStep:
    """One model's turn: its answer, its verification score (None for the last), cost, time and calls."""

    model: str
    answer: str | None
    score: float | None
    cost: float
    seconds: float
    calls: int
    error: str | None = None


@dataclass(frozen=True)
class CascadeResult:
    """The answer kept, the model that gave it, every step, and why the cascade stopped."""

    answer: str | None
    model: str | None
    steps: tuple[CascadeStep, ...]
    stopped: str
    start: str

    @property
    def cost(self) -> float:
        """Every answer and every verification paid for."""
        return sum(s.cost for s in self.steps)

    def to_dict(self) -> dict[str, Any]:
        return {"answer": self.answer, "model": self.model, "start": self.start, "stopped": self.stopped,
                "cost": self.cost, "steps": [asdict(s) for s in self.steps]}


def _tokens(g: Generation) -> float:
    """What a generation used: its tokens if the backend counted them, else its calls."""
    if g.completion_tokens is None:
        return float(g.calls)
    return float(g.completion_tokens + (g.prompt_tokens or 0) * g.calls)


class CascadeRouter:
    """Runs a trained cascade over generators.

    Args:
        cascade: the trained chain and decider.
        generators: a BackendConfig or a mapping from model id to Generator.
        router: if given, its decision (restricted to the chain) picks the starting model, and its
            ranking orders the more expensive chain models to escalate to; else the chain's first.
        signal: the verification signal (default: few-shot self-verification by the answering model).
        prices: cost per token (or per call, for backends that count no tokens) of each model; default 1.
        max_steps: models tried at most; budget: stop escalating once the cost spent reaches it.
        on_error: "raise" stops with a failing step's error; "keep" returns the last good answer
            (the failing step is recorded with its error, and ``stopped`` says so).
    """

    def __init__(self, cascade: Cascade, generators: BackendConfig | Mapping[str, Generator], *,
                 router: Router | None = None, signal: Signal | None = None, params: SamplingParams = DEFAULT_PARAMS,
                 prices: Mapping[str, float] | None = None, max_steps: int | None = None,
                 budget: float | None = None, on_error: OnError = "raise", cost_weight: float | None = None) -> None:
        if on_error not in ("raise", "keep"):
            raise ArgumentError(f"on_error must be 'raise' or 'keep', got {on_error!r}")
        if max_steps is not None and (isinstance(max_steps, bool) or not isinstance(max_steps, int) or max_steps < 1):
            raise ArgumentError(f"max_steps must be an int >= 1, got {max_steps!r}")
        self.cascade = cascade
        self._generators = generators
        self.router = router
        self.signal: Signal = signal or self_verification
        self.params = params
        self.prices = dict(prices or {})
        self.max_steps = max_steps
        self.budget = budget
        self.on_error = on_error
        self.cost_weight = cascade.cost_weight if cost_weight is None else cost_weight

    def _generator(self, model: str) -> Generator:
        if isinstance(self._generators, BackendConfig):
            return self._generators.generator(model)
        if model not in self._generators:
            raise ArgumentError(f"no generator for model {model!r} (have: {', '.join(self._generators)})")
        return self._generators[model]

    def order(self, prompt: str) -> list[str]:
        """The models to try, in order: the router's pick (or the chain's first), then the costlier ones."""
        chain = list(self.cascade.chain)
        if self.router is None:
            return chain
        decision = self.router.route(prompt, allow=[m for m in chain if m in self.router.profile.model_ids])
        start = chain.index(decision.model)
        ranked = [m for m, _ in decision.ranking if m in chain and chain.index(m) > start]
        return [decision.model, *ranked, *(m for m in chain[start + 1:] if m not in ranked)]

    def _step(self, prompt: str, model: str, verify: bool) -> CascadeStep:
        gen = self._generator(model)
        price = self.prices.get(model, 1.0)
        start = time.perf_counter()
        out = gen.generate(prompt, self.params)
        cost, calls, score = _tokens(out) * price, out.calls, None
        if verify:
            s = self.signal(prompt, out.text, gen)
            score = s.value
            cost += price * sum(_tokens(g) for g in s.generations)
            calls += s.calls
        return CascadeStep(model, out.text, score, cost, time.perf_counter() - start, calls)

    def _next(self, steps: list[CascadeStep], order: list[str]) -> str | None:
        """None to stop (with the reason set by the caller), else keep going."""
        last = steps[-1]
        if len(steps) == len(order):
            return "last model"
        if self.max_steps is not None and len(steps) >= self.max_steps:
            return "max_steps"
        if self.budget is not None and sum(s.cost for s in steps) >= self.budget:
            return "budget"
        chain = self.cascade.chain
        observed = [s.score if s.score is not None else 0.0 for s in steps]
        step = chain.index(last.model)
        history = [0.0] * step + observed[-1:]  # the decider sees the current model's score at its chain step
        if len(steps) == step + 1 and [s.model for s in steps] == list(chain[: step + 1]):
            history = observed
        if not self.cascade.decider.escalate(step, history, self.cost_weight):
            return "verified"
        return None

    def _result(self, steps: list[CascadeStep], stopped: str, order: list[str]) -> CascadeResult:
        good = [s for s in steps if s.error is None]
        kept = good[-1] if good else None
        return CascadeResult(None if kept is None else kept.answer, None if kept is None else kept.model,
                             tuple(steps), stopped, order[0])

    def run(self, prompt: str) -> CascadeResult:
        """Generate, verify and escalate for one prompt."""
        order = self.order(prompt)
        steps: list[CascadeStep] = []
        for i, model in enumerate(order):
            verify = i < len(order) - 1 and (self.max_steps is None or i < self.max_steps - 1)
            try:
                steps.append(self._step(prompt, model, verify))
            except GenerationError as exc:
                if self.on_error == "raise" or not steps:
                    raise
                steps.append(CascadeStep(model, None, None, 0.0, 0.0, 0, str(exc)))
                return self._result(steps, f"error at {model}: kept the last good answer", order)
            reason = self._next(steps, order)
            if reason is not None:
                return self._result(steps, reason, order)
        return self._result(steps, "last model", order)

    async def arun(self, prompt: str) -> CascadeResult:
        """``run`` in a worker thread, so a server's event loop keeps serving."""
        return await asyncio.to_thread(self.run, prompt)


__all__ = ["CascadeResult", "CascadeRouter", "CascadeStep", "Signal"]
