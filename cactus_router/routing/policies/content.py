"""The content rules: math and code detectors that raise the tier or require a capability."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ...errors import NoEligibleModelError
from ...tiers.detectors import detect, signals
from ...tiers.rules import DetectorRule
from ._base import PolicyContext
from ._tiers import configured, moved_first, raised

if TYPE_CHECKING:
    from ..decision import Decision
    from ..request import RouteRequest


class _Detector:
    """When the detector fires (``cactus_router.tiers.detectors``): raise the tier to at least the
    rule's, then, if the rule requires a capability the chosen model lacks, take the best-ranked
    eligible model that has it.

    Args:
        rule: what to do; None = the profile's rule of this name (no rule: no effect).

    Raises (from apply):
        NoEligibleModelError: the rule requires a capability no eligible model has.
    """

    name = ""

    def __init__(self, rule: DetectorRule | None = None) -> None:
        if rule is not None and rule.detector != self.name:
            raise ValueError(f"a {rule.detector!r} rule given to the {self.name!r} policy")
        self.rule = rule

    def apply(self, decision: Decision, request: RouteRequest, context: PolicyContext) -> Decision:
        """Apply the rule to a prompt the detector fires on; leave others (and embeddings) unchanged."""
        rule = self.rule or configured(context.profile, self.name)
        text = context.prompt
        if not isinstance(rule, DetectorRule) or text is None or not detect(self.name, text):
            return decision
        why = f"{self.name} detected ({', '.join(signals(self.name, text))})"
        d = decision if rule.tier is None else raised(decision, rule.tier, request, context, self.name, why)
        if rule.require is None:
            return d
        models = {m.id: m for m in context.profile.models}
        if rule.require in models[d.model].capabilities:
            return d
        able = [m for m, _ in d.ranking if rule.require in models[m].capabilities]
        if not able:
            raise NoEligibleModelError(f"the {self.name} rule requires capability {rule.require!r} and no eligible "
                                       f"model has it ({request.describe()}); relax a constraint or the rule")
        return moved_first(d, able[0], context, self.name, f"{why}: requires {rule.require}, which {d.model} lacks")


class Math(_Detector):
    """The math detector's rule."""

    name = "math"


class Code(_Detector):
    """The code detector's rule."""

    name = "code"
