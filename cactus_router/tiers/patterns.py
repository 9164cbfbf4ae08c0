"""Keyword patterns with a bound on their cost: plain words, or regular expressions checked
before they are compiled (once).

Python's ``re`` backtracks, so a pattern such as ``(a+)+$`` or ``\\w+\\w+x`` can take
exponential or cubic time on a hostile prompt. A regular expression is accepted only if a simple
upper bound on its backtracking work per starting position is small:

- no backreference and no conditional (``\\1``, ``(?P=name)``, ``(?(1)...)``), which can make
  matching NP-hard;
- no quantified group that itself holds a quantifier or an alternation (``(a+)+``, ``(a|aa)*``);
- the product, over its quantifiers, of (most repetitions + 1), counting an unbounded one
  (``*``, ``+``, ``{m,}``) as ``SCAN_CHARS``, is at most ``MAX_COST``: so at most one unbounded
  quantifier, beside bounded ones whose product is at most 4.

Prompts are searched in their first and last ``SCAN_CHARS // 2`` characters only, so a search
takes at most about ``SCAN_CHARS * MAX_COST`` steps.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

#: Characters of a prompt the keyword patterns see: the first and the last half of this.
SCAN_CHARS = 2000
#: Bound on a regular expression's backtracking work per starting position (see the module doc).
MAX_COST = 4 * SCAN_CHARS
#: Longest regular expression or word accepted (characters).
MAX_PATTERN_CHARS = 200
_QUANT = re.compile(r"\{(\d*)(,?)(\d*)\}")


class PatternProblem(ValueError):
    """Why a pattern is refused (a one-line reason; callers add where the pattern came from)."""


@dataclass
class _Group:
    quantified_inside: bool = False
    alternation: bool = False


def scan_text(text: str) -> str:
    """The part of a prompt the patterns search: all of it, or its first and last halves of SCAN_CHARS."""
    if len(text) <= SCAN_CHARS:
        return text
    half = SCAN_CHARS // 2
    return text[:half] + "\n" + text[-half:]


def compile_words(words: list[str]) -> re.Pattern[str]:
    """One case-insensitive pattern matching any of ``words`` as whole words (or phrases)."""
    for w in words:
        if not w.strip() or len(w) > MAX_PATTERN_CHARS:
            raise PatternProblem(f"a word must be non-empty and at most {MAX_PATTERN_CHARS} characters, got {w!r}")
    alternatives = "|".join(re.escape(w.strip()) for w in sorted(words, key=len, reverse=True))
    return re.compile(rf"(?<!\w)(?:{alternatives})(?!\w)", re.IGNORECASE)


def compile_regex(pattern: str) -> re.Pattern[str]:
    """Compile a regular expression after checking its cost bound.

    Raises:
        PatternProblem: the pattern is too long, malformed, or over the cost bound (the reason).
    """
    if not pattern or len(pattern) > MAX_PATTERN_CHARS:
        raise PatternProblem(f"a regex must be 1 to {MAX_PATTERN_CHARS} characters long")
    try:
        compiled = re.compile(pattern)
    except re.error as exc:
        raise PatternProblem(f"is not a valid regular expression ({exc})") from None
    cost = _cost(pattern)
    if cost > MAX_COST:
        raise PatternProblem(f"may backtrack too much (cost bound {cost} > {MAX_COST}: at most one unbounded "
                             "quantifier, beside bounded ones whose repetitions multiply to at most 4)")
    return compiled


def _cost(p: str) -> int:
    """The cost bound of a syntactically valid pattern, or PatternProblem for a refused construct."""
    stack = [_Group()]
    cost = 1
    i, n = 0, len(p)
    atom: _Group | None = None  # the last atom, if a group (a quantifier after it may nest)
    have_atom = False
    while i < n:
        c = p[i]
        if c == "\\":
            nxt = p[i + 1] if i + 1 < n else ""
            if nxt.isdigit() and nxt != "0":
                raise PatternProblem("uses a backreference, whose matching cost is unbounded")
            i += _escape_length(p, i)
            atom, have_atom = None, True
            continue
        if c == "[":
            i = _class_end(p, i)
            atom, have_atom = None, True
            continue
        if c == "(":
            if p.startswith("(?P=", i) or p.startswith("(?(", i):
                raise PatternProblem("uses a backreference or a conditional, whose matching cost is unbounded")
            if p.startswith("(?#", i):
                i = p.index(")", i) + 1
                continue
            stack.append(_Group())
            i += 1
            have_atom = False
            continue
        if c == ")":
            inner = stack.pop()
            if inner.quantified_inside:
                stack[-1].quantified_inside = True
            atom, have_atom = inner, True
            i += 1
            continue
        if c == "|":
            stack[-1].alternation = True
            atom, have_atom = None, False
            i += 1
            continue
        reps, length = _quantifier(p, i)
        if length and have_atom:
            if atom is not None and (atom.quantified_inside or atom.alternation) and reps != 1:
                raise PatternProblem("has a quantified group that holds a quantifier or an alternation "
                                     "(e.g. (a+)+ or (a|b)*), which can backtrack exponentially")
            cost *= (SCAN_CHARS if reps is None else reps) + 1
            stack[-1].quantified_inside = True
            i += length
            if i < n and p[i] in "?+":  # lazy or possessive
                i += 1
            atom, have_atom = None, False
            continue
        atom, have_atom = None, True
        i += 1
    return cost


def _quantifier(p: str, i: int) -> tuple[int | None, int]:
    """(most repetitions or None for unbounded, characters) of a quantifier at ``i``; (0, 0) if none."""
    c = p[i]
    if c in "*+":
        return None, 1
    if c == "?":
        return 1, 1
    if c == "{":
        m = _QUANT.match(p, i)
        if m and (m.group(1) or m.group(3)):
            if not m.group(2):
                return int(m.group(1)), m.end() - i
            return (int(m.group(3)) if m.group(3) else None), m.end() - i
    return 0, 0


def _escape_length(p: str, i: int) -> int:
    if p.startswith("\\N{", i):
        return p.index("}", i) + 1 - i
    return 2


def _class_end(p: str, i: int) -> int:
    """The index just past the character class that opens at ``i``."""
    j = i + 1
    if j < len(p) and p[j] == "^":
        j += 1
    if j < len(p) and p[j] == "]":
        j += 1
    while j < len(p) and p[j] != "]":
        j += 2 if p[j] == "\\" else 1
    return j + 1
