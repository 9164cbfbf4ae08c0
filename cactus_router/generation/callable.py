"""A generator from any function: ``fn(messages, params) -> text or list of texts``."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from ..errors import GenerationError
from ._types import DEFAULT_PARAMS, Completion, Generation, Prompt, SamplingParams, as_messages

GenerateFn = Callable[[list[dict[str, str]], SamplingParams], "str | Sequence[str] | Sequence[Completion]"]


class CallableGenerator:
    """Wraps ``fn`` as a Generator; ``fn`` may return one text (called ``n`` times) or ``n`` texts/Completions.

    Whatever ``fn`` raises is re-raised as a GenerationError naming the model, the original chained.
    """

    def __init__(self, fn: GenerateFn, *, model: str) -> None:
        if not callable(fn):
            raise GenerationError(f"CallableGenerator for {model!r} needs a callable, got {type(fn).__name__}")
        self._fn = fn
        self._model = model

    @property
    def model(self) -> str:
        """The model id this generator serves."""
        return self._model

    def __repr__(self) -> str:
        return f"CallableGenerator(model={self._model!r}, fn={getattr(self._fn, '__qualname__', self._fn)!r})"

    def _call(self, messages: list[dict[str, str]], params: SamplingParams) -> list[Completion]:
        try:
            out = self._fn(messages, params)
        except GenerationError:
            raise
        except Exception as exc:
            raise GenerationError(f"callable backend (model {self._model!r}) failed: {type(exc).__name__}: {exc}"
                                  ) from exc
        items = [out] if isinstance(out, (str, Completion)) else list(out) if isinstance(out, Sequence) else []
        if not items or not all(isinstance(i, (str, Completion)) for i in items):
            raise GenerationError(f"callable backend (model {self._model!r}) must return str, Completion "
                                  f"or a non-empty list of them, got {type(out).__name__}")
        return [i if isinstance(i, Completion) else Completion(text=str(i)) for i in items]

    def generate(self, prompt: Prompt, params: SamplingParams = DEFAULT_PARAMS) -> Generation:
        """``params.n`` completions from ``fn``; it is called again while it returns fewer."""
        messages = as_messages(prompt, f"callable backend (model {self._model!r})")
        start = time.perf_counter()
        completions: list[Completion] = []
        calls = 0
        while len(completions) < params.n:
            completions.extend(self._call(messages, params))
            calls += 1
        return Generation(self._model, tuple(completions[: params.n]), None, time.perf_counter() - start, calls)


__all__ = ["CallableGenerator", "GenerateFn"]
