"""Final-answer extraction, so that sampled answers can be compared: numbers and multiple-choice options."""

from __future__ import annotations

import json
import re
from typing import Literal

AnswerKind = Literal["auto", "number", "option", "text"]

_JSON_ANSWER = re.compile(r'"answer"\s*:\s*("(?:[^"\\]|\\.)*"|-?[\d.,]+)')
_OPTION = re.compile(r"(?:answer|option|choice)\s*(?:is|:)?\s*\(?\s*([A-J])\s*\)?(?![A-Za-z])", re.I)
_LONE_OPTION = re.compile(r"^\s*\(?([A-J])\)?[.):]?\s*$")
_BOXED = re.compile(r"\\boxed\{([^{}]*)\}")
_NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?|-?\.\d+")


def _number(text: str) -> str | None:
    """The last number in ``text``, canonical: no thousands commas, no trailing zeros ("1,200.50" -> "1200.5")."""
    found = _NUMBER.findall(text)
    if not found:
        return None
    raw = found[-1].replace(",", "")
    try:
        value = float(raw)
    except ValueError:
        return None
    return str(int(value)) if value == int(value) and abs(value) < 1e15 else repr(value)


def _option(text: str) -> str | None:
    lone = _LONE_OPTION.match(text)
    if lone:
        return lone.group(1).upper()
    found = _OPTION.findall(text)
    return found[-1].upper() if found else None


def _focus(text: str) -> str:
    """The part of an output that states the answer: a JSON "answer" field, a \\boxed{}, or the whole text."""
    m = _JSON_ANSWER.findall(text)
    if m:
        last = m[-1]
        try:
            value = json.loads(last) if last.startswith('"') else last
        except ValueError:
            value = last.strip('"')
        return str(value)
    boxed = _BOXED.findall(text)
    return boxed[-1] if boxed else text


def extract_answer(text: str, kind: AnswerKind = "auto") -> str | None:
    """The final answer stated in ``text`` as a canonical string, or None if it states none.

    ``number``: the last number (of the JSON "answer" field or \\boxed{} when present); ``option``:
    a letter A-J ("the answer is (B)", "Answer: B", or a lone "B"); ``text``: the answer part
    lower-cased with whitespace collapsed; ``auto``: an option if one is stated, else a number,
    else the text.
    """
    focus = _focus(text)
    if kind == "number":
        return _number(focus)
    if kind == "option":
        return _option(focus)
    if kind == "text":
        return " ".join(focus.lower().split()) or None
    return _option(focus) or _number(focus) or (" ".join(focus.lower().split()) or None)


__all__ = ["AnswerKind", "extract_answer"]
