"""The keyword rule: words or regular expressions that force a tier or a model."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ...tiers import SEVERITY, most_severe
from ...tiers.patterns import scan_text
from ...tiers.rules import KeywordRule
from ._base import PolicyContext, changed
from ._tiers import configured, current_tier, moved_first, retiered

if TYPE_CHECKING:
    from ..decision import Decision
    from ..request import RouteRequest


class Keyword:
    """Searches the prompt (its first and last 1,000 characters, ``tiers.patterns.scan_text``) for
    each entry's words or regex. A matching entry that names an eligible model forces it (the
    first such entry listed); otherwise the most severe tier among the matching entries is set,
    lower or higher than the tier before. A matching entry whose model the request excluded is
    said in ``applied`` and passed over.

    Args:
        rule: the entries (patterns compiled once, when the rule was read); None = the profile's.
    """

    name = "keyword"

    def __init__(self, rule: KeywordRule | None = None) -> None:
        self.rule = rule

    def apply(self, decision: Decision, request: RouteRequest, context: PolicyContext) -> Decision:
        """Force the tier or model of a matching prompt; leave others (and embeddings) unchanged."""
        rule = self.rule or configured(context.profile, self.name)
        text = context.prompt
        if not isinstance(rule, KeywordRule) or text is None:
            return decision
        part = scan_text(text)
        hits = [(e, m.group(0)) for e in rule.entries if (m := e.pattern.search(part)) is not None]
        if not hits:
            return decision
        eligible = {m for m, _ in decision.ranking}
        passed = [f"{found!r} asks for {e.model}, which the request excluded" for e, found in hits
                  if e.model is not None and e.model not in eligible]
        note = f" ({'; '.join(passed)})" if passed else ""
        for e, found in hits:
            if e.model is not None and e.model in eligible:
                return moved_first(decision, e.model, context, self.name, f"{found!r} forces {e.model}{note}")
        tiers = [(e.tier, found) for e, found in hits if e.tier is not None]
        if not tiers:
            return decision if not passed else _noted(decision, self.name, note)
        tier = most_severe(t for t, _ in tiers)
        found = next(f for t, f in tiers if t == tier)
        now = current_tier(decision)
        if tier == now and decision.tier is not None:
            return decision if not passed else _noted(decision, self.name, note)
        direction = "->" if SEVERITY[tier] != SEVERITY[now] else "stays"
        return retiered(decision, tier, request, context, self.name, f"{found!r}: tier {now} {direction} {tier}{note}")


def _noted(decision: Decision, policy: str, note: str) -> Decision:
    return changed(decision, policy, f"no change{note}")
