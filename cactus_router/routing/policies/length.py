"""The length rule: long prompts need a higher tier."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from ...tiers.rules import LengthRule
from ._base import PolicyContext
from ._tiers import configured, raised

if TYPE_CHECKING:
    from ..decision import Decision
    from ..request import RouteRequest

#: What the length rule counts as a token: a run of word characters, or one other non-space
#: character. A subword tokenizer splits text finer, so this undercounts its tokens.
TOKEN = re.compile(r"\w+|[^\w\s]")


def length(text: str, unit: str) -> int:
    """The prompt's length in ``unit`` (``tokens``, see TOKEN, or ``characters``)."""
    return len(text) if unit == "characters" else sum(1 for _ in TOKEN.finditer(text))


class Length:
    """Raises the tier to the highest threshold the prompt reaches (never lowers it).

    Args:
        rule: the thresholds; None = the profile's ``length`` rule (no rule: no effect).
    """

    name = "length"

    def __init__(self, rule: LengthRule | None = None) -> None:
        self.rule = rule

    def apply(self, decision: Decision, request: RouteRequest, context: PolicyContext) -> Decision:
        """Raise a long prompt's tier; leave the decision unchanged without text or below every threshold."""
        rule = self.rule or configured(context.profile, self.name)
        text = context.prompt
        if not isinstance(rule, LengthRule) or text is None:
            return decision
        n = length(text, rule.unit)
        reached = [(at, tier) for at, tier in rule.thresholds if n >= at]
        if not reached:
            return decision
        at, tier = reached[-1]
        return raised(decision, tier, request, context, self.name, f"{n} {rule.unit} >= {at}")
