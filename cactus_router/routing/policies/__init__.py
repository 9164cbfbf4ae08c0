"""Policies: rules applied after scoring, each a small object in a module of its own.

A policy is given the scored decision, the request and a context, and returns the decision,
possibly changed; a change is recorded in ``Decision.applied`` with a one-line reason. Policies
run in a fixed order (``Pipeline`` applies them as listed). A policy may never pick a model the
request made ineligible: the pipeline refuses such a decision with PolicyError.

To add a policy: write its module here, and register its name in ``REGISTRY`` below.
"""

from __future__ import annotations

from ...tiers.rules import BudgetRule, DetectorRule, LengthRule, Rule
from ._base import Policy, PolicyContext, changed
from .budget import Budget
from .content import Code, Math
from .keyword import Keyword
from .length import Length
from .ood import OutOfDistribution
from .tier import Tier

#: Policy names (as a profile's ``policies`` list may name them) to their classes.
REGISTRY: dict[str, type[Policy]] = {
    OutOfDistribution.name: OutOfDistribution,
    Tier.name: Tier,
    Length.name: Length,
    Math.name: Math,
    Code.name: Code,
    Keyword.name: Keyword,
    Budget.name: Budget,
}
#: The order in which a profile's rules apply (docs/tiers.md), after out-of-distribution and tier:
#: the text rules raise the tier, keywords (the profile author's explicit word) override them, and
#: the budget, which never raises the cost, has the last word.
RULE_ORDER = (Length.name, Math.name, Code.name, Keyword.name, Budget.name)


def rule_policy(rule: Rule, where: str) -> Policy:
    """The policy that applies a profile's rule (``where`` names it in errors: ``policies[2]``).

    Raises:
        LedgerError: a budget rule's ledger is not a writable regular file, or is corrupt.
    """
    if isinstance(rule, BudgetRule):
        return Budget(rule, where=where)
    if isinstance(rule, DetectorRule):
        return Math(rule) if rule.detector == Math.name else Code(rule)
    return Length(rule) if isinstance(rule, LengthRule) else Keyword(rule)

__all__ = ["REGISTRY", "RULE_ORDER", "Budget", "Code", "Keyword", "Length", "Math", "OutOfDistribution", "Policy",
           "PolicyContext", "Tier", "changed", "rule_policy"]
