"""The strict parser of a judge's reply: one JSON object naming one candidate, or a counted failure."""

from __future__ import annotations

import json
import re
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

# One markdown code fence around the whole reply (``` or ```json): chat models add it even when told
# not to. Removing it guesses nothing, since the object inside must still be the whole content.
_FENCE = re.compile(r"\A```(?:json)?[ \t]*\n(.*)\n```\Z", re.DOTALL)


@dataclass(frozen=True)
class Answer:
    """What a reply says: the chosen model id, or None with the reason the reply is unparseable."""

    model: str | None
    problem: str | None = None


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _unique(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out = dict(pairs)
    if len(out) != len(pairs):
        raise ValueError("duplicate key")
    return out


def parse_answer(text: str, ids: Collection[str]) -> Answer:
    """Parse ``text`` strictly: after trimming whitespace and at most one code fence around it, the
    whole reply must be one JSON object whose "model" is exactly one of ``ids``.

    Nothing is searched for inside prose and no near miss is accepted (another case, a partial
    id): an answer that is not clear is counted as unparseable, never guessed.
    """
    body = text.strip()
    if not body:
        return Answer(None, "empty reply")
    fenced = _FENCE.match(body)
    if fenced:
        body = fenced.group(1).strip()
    try:
        obj = json.loads(body, parse_constant=_no_constant, object_pairs_hook=_unique)
    except (ValueError, RecursionError):
        return Answer(None, "not one JSON object")
    if not isinstance(obj, dict):
        return Answer(None, "not one JSON object")
    if "model" not in obj:
        return Answer(None, "no \"model\" key")
    model = obj["model"]
    if not isinstance(model, str):
        return Answer(None, "\"model\" is not a string")
    if model not in ids:
        return Answer(None, "\"model\" names no candidate")
    return Answer(model)


__all__ = ["Answer", "parse_answer"]
