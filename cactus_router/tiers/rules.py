"""The rules a profile's ``policies`` list configures: length, keyword, math, code and budget.

Each rule is a frozen object read from JSON by ``parse_rule`` (every field checked, every problem
named by its JSON path) and written back by ``to_dict``; the policies that apply them live in
``cactus_router.routing.policies``. This module knows no profile: the caller passes the model ids
and capabilities the rules may name, and the error to raise.
"""

from __future__ import annotations

import math
import re
import reprlib
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from .names import COMPLEX, SEVERITY, TIERS
from .patterns import PatternProblem, compile_regex, compile_words

#: ``fail(json_path, message)`` -> the exception to raise.
Fail = Callable[[str, str], Exception]
LENGTH_UNITS = ("tokens", "characters")
DETECTORS = ("math", "code")
PERIODS = ("daily", "monthly")
BUDGET_ACTIONS = ("down-tier", "cheapest")
EXHAUSTED = ("zero-cost", "error")
#: The default steps of a budget: one tier down from 80% of it, the cheapest eligible model from 95%.
DEFAULT_STEPS = ((0.8, "down-tier"), (0.95, "cheapest"))
#: At most this many thresholds, keyword entries, words per entry: a rule is applied per prompt.
MAX_ITEMS = 256


@dataclass(frozen=True)
class LengthRule:
    """Raise the tier of long prompts: the highest threshold reached gives the tier (never lower)."""

    name: ClassVar[str] = "length"
    unit: str
    thresholds: tuple[tuple[int, str], ...]

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "unit": self.unit,
                "thresholds": [{"at": at, "tier": tier} for at, tier in self.thresholds]}


@dataclass(frozen=True)
class KeywordEntry:
    """Plain words (whole words, any case) or one regular expression, forcing a tier or a model."""

    words: tuple[str, ...] | None
    regex: str | None
    tier: str | None
    model: str | None
    pattern: re.Pattern[str] = field(compare=False, repr=False)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"words": list(self.words)} if self.words is not None else {"regex": self.regex}
        out.update({"tier": self.tier} if self.tier is not None else {"model": self.model})
        return out


@dataclass(frozen=True)
class KeywordRule:
    """Keyword entries; when several match, a model entry (the first listed) beats the tiers, and
    among tiers the most severe wins."""

    name: ClassVar[str] = "keyword"
    entries: tuple[KeywordEntry, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "entries": [e.to_dict() for e in self.entries]}


@dataclass(frozen=True)
class DetectorRule:
    """A content detector (``math`` or ``code``): when it fires, raise the tier to at least
    ``tier`` and/or require a capability of the chosen model."""

    detector: str
    tier: str | None = COMPLEX
    require: str | None = None

    @property
    def name(self) -> str:
        return self.detector

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.detector}
        if self.tier is not None:
            out["tier"] = self.tier
        if self.require is not None:
            out["require"] = self.require
        return out


@dataclass(frozen=True)
class BudgetRule:
    """A spend budget per period, kept in a ledger file; the steps apply from a fraction of it on."""

    name: ClassVar[str] = "budget"
    budget: float
    period: str
    ledger: str
    steps: tuple[tuple[float, str], ...] = DEFAULT_STEPS
    exhausted: str = "zero-cost"

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "budget": self.budget, "period": self.period, "ledger": self.ledger,
                "steps": [{"at": at, "action": a} for at, a in self.steps], "exhausted": self.exhausted}


Rule = LengthRule | KeywordRule | DetectorRule | BudgetRule
#: The rule names a ``policies`` entry may have.
RULE_NAMES = ("length", "keyword", *DETECTORS, "budget")


class _Checks:
    """Typed reads of a rule's JSON, each failure ``fail(path, message)``."""

    def __init__(self, fail: Fail) -> None:
        self.fail = fail

    def keys(self, obj: Any, path: str, required: Collection[str], optional: Collection[str] = ()) -> Mapping[str, Any]:
        if not isinstance(obj, Mapping):
            raise self.fail(path, "must be an object")
        for key in obj:
            if key not in required and key not in optional:
                known = ", ".join((*required, *optional))
                raise self.fail(f"{path}.{key}", f"is not a field of this rule (its fields: {known})")
        for key in required:
            if key not in obj:
                raise self.fail(path, f"is missing required key {key!r}")
        return obj

    def choice(self, v: Any, path: str, options: Collection[str]) -> str:
        if not isinstance(v, str) or v not in options:
            raise self.fail(path, f"must be one of {', '.join(options)}, got {reprlib.repr(v)}")
        return v

    def number(self, v: Any, path: str, lo: float, hi: float) -> float:
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(float(v)) \
                or not lo <= float(v) <= hi:
            raise self.fail(path, f"must be a number in [{lo:g}, {hi:g}], got {reprlib.repr(v)}")
        return float(v)

    def items(self, v: Any, path: str) -> list[Any]:
        if not isinstance(v, list) or not 1 <= len(v) <= MAX_ITEMS:
            raise self.fail(path, f"must be an array of 1 to {MAX_ITEMS} entries")
        return v

    def string(self, v: Any, path: str) -> str:
        if not isinstance(v, str) or not v:
            raise self.fail(path, f"must be a non-empty string, got {reprlib.repr(v)}")
        return v


def parse_rule(obj: Any, path: str, fail: Fail, model_ids: Collection[str], capabilities: Collection[str]) -> Rule:
    """One ``policies`` entry, checked.

    Raises:
        whatever ``fail`` returns: an unknown rule or field, a tier that is not one of the three,
            a model not in ``model_ids``, a malformed or too costly pattern, a bad number.
    """
    c = _Checks(fail)
    if not isinstance(obj, Mapping) or "name" not in obj:
        raise fail(path, f"must be an object with a 'name' (one of {', '.join(RULE_NAMES)})")
    name = c.choice(obj["name"], f"{path}.name", RULE_NAMES)
    if name == "length":
        return _length(c, obj, path)
    if name == "keyword":
        return _keyword(c, obj, path, model_ids)
    if name == "budget":
        return _budget(c, obj, path)
    c.keys(obj, path, ("name",), ("tier", "require"))
    tier = obj.get("tier", COMPLEX)
    require = obj.get("require")
    if tier is None and require is None:
        raise fail(path, "must raise a 'tier' or 'require' a capability (or both)")
    return DetectorRule(name, None if tier is None else c.choice(tier, f"{path}.tier", TIERS),
                        None if require is None else c.choice(require, f"{path}.require", sorted(capabilities)))


def _length(c: _Checks, obj: Mapping[str, Any], path: str) -> LengthRule:
    c.keys(obj, path, ("name", "thresholds"), ("unit",))
    unit = c.choice(obj.get("unit", "tokens"), f"{path}.unit", LENGTH_UNITS)
    out: list[tuple[int, str]] = []
    for i, t in enumerate(c.items(obj["thresholds"], f"{path}.thresholds")):
        p = f"{path}.thresholds[{i}]"
        c.keys(t, p, ("at", "tier"))
        at = t["at"]
        if isinstance(at, bool) or not isinstance(at, int) or not 1 <= at <= 2**31:
            raise c.fail(f"{p}.at", f"must be an integer in [1, {2**31}], got {reprlib.repr(at)}")
        tier = c.choice(t["tier"], f"{p}.tier", TIERS)
        if out and (at <= out[-1][0] or SEVERITY[tier] < SEVERITY[out[-1][1]]):
            raise c.fail(p, "must come after the threshold before it, with a larger 'at' and a tier at least as severe")
        out.append((at, tier))
    return LengthRule(unit, tuple(out))


def _keyword(c: _Checks, obj: Mapping[str, Any], path: str, model_ids: Collection[str]) -> KeywordRule:
    c.keys(obj, path, ("name", "entries"))
    entries = []
    for i, e in enumerate(c.items(obj["entries"], f"{path}.entries")):
        p = f"{path}.entries[{i}]"
        c.keys(e, p, (), ("words", "regex", "tier", "model"))
        if ("words" in e) == ("regex" in e) or ("tier" in e) == ("model" in e):
            raise c.fail(p, "must give either 'words' or 'regex', and either a 'tier' or a 'model'")
        tier = c.choice(e["tier"], f"{p}.tier", TIERS) if "tier" in e else None
        model = c.string(e["model"], f"{p}.model") if "model" in e else None
        if model is not None and model not in model_ids:
            raise c.fail(f"{p}.model", f"must be one of the profile's model ids, got {model!r}")
        try:
            if "words" in e:
                words = tuple(c.string(w, f"{p}.words[{j}]") for j, w in enumerate(c.items(e["words"], f"{p}.words")))
                entries.append(KeywordEntry(words, None, tier, model, compile_words(list(words))))
            else:
                regex = c.string(e["regex"], f"{p}.regex")
                entries.append(KeywordEntry(None, regex, tier, model, compile_regex(regex)))
        except PatternProblem as exc:
            raise c.fail(f"{p}.{'words' if 'words' in e else 'regex'}", str(exc)) from None
    return KeywordRule(tuple(entries))


def _budget(c: _Checks, obj: Mapping[str, Any], path: str) -> BudgetRule:
    c.keys(obj, path, ("name", "budget", "period", "ledger"), ("steps", "exhausted"))
    budget = c.number(obj["budget"], f"{path}.budget", 0.0, 1e15)
    if budget <= 0:
        raise c.fail(f"{path}.budget", "must be > 0")
    steps: list[tuple[float, str]] = []
    for i, s in enumerate(c.items(obj["steps"], f"{path}.steps") if "steps" in obj else []):
        p = f"{path}.steps[{i}]"
        c.keys(s, p, ("at", "action"))
        at = c.number(s["at"], f"{p}.at", 0.0, 1.0)
        if steps and at <= steps[-1][0]:
            raise c.fail(f"{p}.at", f"must be larger than the step before it ({steps[-1][0]:g})")
        steps.append((at, c.choice(s["action"], f"{p}.action", BUDGET_ACTIONS)))
    period = c.choice(obj["period"], f"{path}.period", PERIODS)
    return BudgetRule(budget, period, c.string(obj["ledger"], f"{path}.ledger"),
                      tuple(steps) if "steps" in obj else DEFAULT_STEPS,
                      c.choice(obj.get("exhausted", "zero-cost"), f"{path}.exhausted", EXHAUSTED))
