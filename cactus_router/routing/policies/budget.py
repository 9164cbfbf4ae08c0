"""The budget rule: as spend nears a budget, cheaper choices; at the budget, free models or an error."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from ...errors import ArgumentError, BudgetExceededError
from ...tiers import COMPLEX, STANDARD
from ...tiers.ledger import Ledger
from ...tiers.rules import BudgetRule
from ._base import PolicyContext, changed
from ._tiers import choose, configured, moved_first, ranked

if TYPE_CHECKING:
    from ...profile import Profile
    from ..decision import Decision
    from ..request import RouteRequest

_PERIOD_NAMES = {"daily": "day", "monthly": "month"}


class Budget:
    """Reads the spend of the current period from the rule's ledger. From each step's fraction
    of the budget on, its action applies: ``down-tier`` moves a Complex decision to Standard when the
    Standard choice costs less, and otherwise takes the best-ranked eligible model that costs
    less; ``cheapest`` takes the best-ranked of the cheapest eligible models. At 100%:
    ``zero-cost`` keeps only models of cost 0, ``error`` refuses. No action raises the cost.

    Args:
        rule: the budget; None = the profile's ``budget`` rule (no rule: no effect).
        where: how errors name the rule (``policies[3]``).

    Raises:
        LedgerError: the ledger is not a writable regular file, or is corrupt (here, or when routing).
        BudgetExceededError (from apply): the budget is spent and the rule refuses, or no eligible
            model is free.
    """

    name = "budget"

    def __init__(self, rule: BudgetRule | None = None, *, where: str = "budget rule") -> None:
        self.rule = rule
        self._where = where
        self._ledger = None if rule is None else Ledger(rule.ledger, rule.period, where=f"{where}.ledger")
        self._lock = threading.Lock()

    def ledger(self, profile: Profile | None = None) -> Ledger | None:
        """The ledger of the rule (the profile's rule's, when none was given); None without a rule."""
        if self._ledger is None and profile is not None:
            rule = configured(profile, self.name)
            if isinstance(rule, BudgetRule):
                with self._lock:
                    if self._ledger is None:
                        self.rule = rule
                        self._ledger = Ledger(rule.ledger, rule.period, where=f"{self._where}.ledger")
        return self._ledger

    def record_spend(self, model: str, amount: float, profile: Profile | None = None) -> None:
        """Add a spend to the ledger (``amount`` in the profile's cost unit).

        Raises:
            ArgumentError: no rule (given, or in ``profile``), or a bad model or amount.
            LedgerError: the ledger cannot be written, or is corrupt.
        """
        ledger = self.ledger(profile)
        if ledger is None:
            raise ArgumentError("this budget policy has no rule: give it one, or a profile with a budget rule")
        ledger.record_spend(model, amount)

    def apply(self, decision: Decision, request: RouteRequest, context: PolicyContext) -> Decision:
        """Make the decision cheaper (or refuse it) as the period's spend nears or passes the budget."""
        ledger = self.ledger(context.profile)
        rule = self.rule
        if ledger is None or rule is None:
            return decision
        spent = ledger.spent()
        share = spent / rule.budget
        why = f"spent {spent:g} of {rule.budget:g} ({share:.0%}) this {_PERIOD_NAMES[rule.period]}"
        if share >= 1.0:
            return self._exhausted(decision, rule, context, why)
        steps = [action for at, action in rule.steps if share >= at]
        if not steps:
            return decision
        if steps[-1] == "cheapest":
            return self._cheapest(decision, context, why)
        return self._down(decision, request, context, why)

    def _down(self, decision: Decision, request: RouteRequest, context: PolicyContext, why: str) -> Decision:
        costs = context.scorer.costs
        ids = context.scorer.ids
        if decision.tier == COMPLEX:
            after, how = choose(decision, STANDARD, request, context)
            if float(costs[ids.index(after.model)]) < decision.cost:
                return changed(after, self.name, f"{why}: tier Complex -> Standard; {how}", tier_probability=None)
        cheaper = [r for r in ranked(decision, context) if float(costs[r[1]]) < decision.cost]
        if not cheaper:
            return decision
        return moved_first(decision, cheaper[0][0], context, self.name,
                           f"{why}: down to {cheaper[0][0]}, the best-ranked cheaper model")

    def _cheapest(self, decision: Decision, context: PolicyContext, why: str) -> Decision:
        rows = ranked(decision, context)
        costs = context.scorer.costs
        low = min(float(costs[r[1]]) for r in rows)
        if decision.cost <= low:
            return decision
        pick = next(r for r in rows if float(costs[r[1]]) == low)
        return moved_first(decision, pick[0], context, self.name, f"{why}: the cheapest eligible model {pick[0]}")

    def _exhausted(self, decision: Decision, rule: BudgetRule, context: PolicyContext, why: str) -> Decision:
        if rule.exhausted == "error":
            raise BudgetExceededError(f"{self._where}: {why}; routing is refused until the period ends "
                                      "(raise the budget, or set exhausted to zero-cost)")
        if decision.cost == 0:
            return decision
        costs = context.scorer.costs
        free = [r for r in ranked(decision, context) if float(costs[r[1]]) == 0]
        if not free:
            raise BudgetExceededError(f"{self._where}: {why}, and no eligible model costs 0; "
                                      "allow a local model, or raise the budget")
        return moved_first(decision, free[0][0], context, self.name, f"{why}: only free models, {free[0][0]}")
