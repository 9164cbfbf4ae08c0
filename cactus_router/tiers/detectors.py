"""Content detectors for math and code: cheap heuristics on the prompt's text, no model.

Each detector counts *signals*, independent kinds of evidence, and fires at ``THRESHOLD`` or
more of them, so one stray digit or the word "list" is not enough. The signals were written
against the LLMRouter training prompts' tasks and are measured for precision and recall on other
labelled prompts by ``benchmarks/detectors.py`` (docs/tiers.md has the figures).

Math: an arithmetic expression between numbers; mathematical notation (LaTeX commands, ``$...$``,
powers, roots); mathematical vocabulary; the vocabulary of word problems (total, each, costs,
hours, ...); two or more numbers (digits, amounts or number words). Text with code syntax is not
maths, whatever its numbers.
Code: code syntax (fences, ``def f(``, ``return x`` ending a line, ``#include``, braces and semicolons,
``>>>``); programming vocabulary; a request for code ("write a function", "implement a class");
an identifier in snake_case or camelCase called with ``(``; a line indented as code.
"""

from __future__ import annotations

import re

from .patterns import scan_text

#: Signals needed for a detector to fire.
THRESHOLD = 2

_MATH = (
    ("expression", re.compile(r"\d\s{0,3}[-+*/×÷^=<>≤≥]\s{0,3}[(\d]|\d\s{0,3}[=<>]\s{0,3}[a-z]\b")),
    ("notation", re.compile(r"\\(?:frac|sqrt|sum|int|pi|cdot|times|le|ge|leq|geq|infty|mathbb|binom|log|sin|cos)"
                            r"|\$[^$\n]{1,200}\$|\b[a-z]\^\{?[\d a-z]|√|π|∑|∫")),
    ("vocabulary", re.compile(
        r"\b(?:solve|equation|integral|derivative|polynomial|probability|prime|divisible|remainder|calculate"
        r"|compute|how many|how much|percent|average|ratio|fraction|theorem|prove|triangle|circle|area|perimeter"
        r"|radius|angle|matrix|vector|logarithm|factorial|integer|integers|digit|digits|sum of|product of"
        r"|real numbers|modulo|greatest common|least common|expected value|simplify|evaluate|boxed)\b",
        re.IGNORECASE)),
    ("word problem", re.compile(
        r"\b(?:in total|total|each|per|twice|half|times as|more than|less than|fewer|left|remaining|altogether"
        r"|costs?|price|profit|earns?|spends?|pays?|saves?|dozen|hours?|minutes?|miles|years old)\b", re.IGNORECASE)),
    ("numbers", re.compile(r"(?:(?:\$?\d+(?:[.,]\d+)?|\b(?:one|two|three|four|five|six|seven|eight|nine|ten|twenty"
                           r"|hundred|thousand)\b)\D{1,80}){2}", re.IGNORECASE)),
)
_CODE = (
    ("syntax", re.compile(r"```|\bdef \w{1,60}\(|\breturn \w{1,40}\s{0,3}(?:;|$)|#include|\bimport \w"
                          r"|\bfunction\s{0,3}\w{0,60}\(|\bclass \w{1,60}[:({]|=>|console\.log|>>>"
                          r"|;\s{0,3}$|\{\s{0,3}$|\bassert \w",
                          re.MULTILINE)),
    ("vocabulary", re.compile(
        r"\b(?:python|javascript|java|typescript|c\+\+|rust|golang|sql|function|code|program|script|implement"
        r"|algorithm|compile|bug|regex|array|recursion|api|json|string|substring|list of|dictionary|tuple"
        r"|variable|loop|method|input|output|returns?)\b", re.IGNORECASE)),
    ("task", re.compile(r"\b(?:write|implement|create|define|complete)\s{1,3}(?:a|an|the)\s{1,3}(?:python\s{1,3})?"
                        r"(?:function|program|method|class|script|query)\b", re.IGNORECASE)),
    ("identifier", re.compile(r"\b[a-z]{1,30}(?:_[a-z0-9]{1,30}){1,6}\s{0,2}\("
                              r"|\b[a-z]{1,30}(?:[A-Z][a-z0-9]{1,30}){1,6}\(")),
    ("indented", re.compile(r"^(?: {4}|\t)\S.{0,200}[(){}:=;]", re.MULTILINE)),
)
DETECTORS = {"math": _MATH, "code": _CODE}


def signals(kind: str, text: str) -> tuple[str, ...]:
    """The names of the ``kind`` detector's signals present in ``text`` (its scanned part)."""
    part = scan_text(text)
    return tuple(name for name, pattern in DETECTORS[kind] if pattern.search(part))


def detect(kind: str, text: str) -> bool:
    """Whether the ``kind`` (``math`` or ``code``) detector fires on ``text``: at least THRESHOLD
    signals, and, for math, no code syntax (numbers in a program are not a maths question)."""
    if len(signals(kind, text)) < THRESHOLD:
        return False
    return kind != "math" or _CODE[0][1].search(scan_text(text)) is None
