"""What the tier policy and the rules share: the eligible models' expected errors, and the
choice of a model for a tier (by the profile's policy map, or by the default meaning of tiers)."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

import numpy as np

from ...tiers import COMPLEX, SEVERITY, STANDARD
from ..ranking import Ranking
from ._base import PolicyContext, changed

if TYPE_CHECKING:
    from ...profile import Profile
    from ...tiers.rules import Rule
    from ..decision import Decision
    from ..request import RouteRequest


def cost_terms(context: PolicyContext, model_index: np.ndarray) -> np.ndarray:
    """``lambda x normalised cost`` of models (indices), normalised over the eligible ones as the cluster rule does."""
    costs = context.scorer.costs
    eligible = costs[list(context.eligibility.indices)]
    lo, span = float(eligible.min()), float(eligible.max() - eligible.min())
    return context.lam * ((costs[model_index] - lo) / span if span > 0 else np.zeros(np.shape(model_index)))


def ranked(decision: Decision, context: PolicyContext) -> list[tuple[str, int, float, float]]:
    """The decision's ranking as (model, index, score, expected error), in the cluster rule's order:
    by score, then lower cost, then profile order (however a policy reordered it)."""
    ids = context.scorer.ids
    index = [ids.index(m) for m, _ in decision.ranking]
    terms = cost_terms(context, np.array(index, dtype=np.int64))
    rows = [(m, j, s, s - float(t)) for (m, s), j, t in zip(decision.ranking, index, terms)]
    return sorted(rows, key=lambda r: (r[2], float(context.scorer.costs[r[1]]), r[1]))


def choose(decision: Decision, tier: str, request: RouteRequest, context: PolicyContext) -> tuple[Decision, str]:
    """``decision`` re-chosen for ``tier`` (its tier set, nothing recorded), and how it was chosen.

    With a policy map naming the tier: the first eligible model of its list, or, when the request
    sets cost_bias, the list's eligible model the cluster rule scores best; none eligible keeps
    the choice. Otherwise the default meaning: Complex is the eligible model with the lowest
    expected error, Standard and Ambiguous the cluster rule's choice.
    """
    rows = ranked(decision, context)
    listed = (context.profile.policy_map or {}).get(tier)
    if listed is not None:
        present = {r[0]: r for r in rows}
        candidates = [present[m] for m in listed if m in present]
        if not candidates:
            return (replace(decision, tier=tier),
                    f"no model of the {tier} list [{', '.join(listed)}] is eligible: the choice stands")
        if request.cost_bias is None:
            head, how = candidates, f"the policy map's {tier} list chose {candidates[0][0]} (its first eligible model)"
        else:
            head = sorted(candidates, key=rows.index)
            how = f"cost_bias {request.cost_bias:g} ordered the {tier} list: {head[0][0]} scores best of it"
    elif tier == COMPLEX:
        best = min(rows, key=lambda r: (r[3], float(context.scorer.costs[r[1]]), r[1]))
        head, how = [best], f"{best[0]} has the lowest expected error ({best[3]:.3f})"
    else:
        head, how = rows[:1], f"the cluster rule's choice {rows[0][0]}"
    order = head + [r for r in rows if r not in head]
    ids = context.scorer.ids
    first = order[0]
    return replace(decision, model=first[0], expected_error=first[3], cost=float(context.scorer.costs[first[1]]),
                   score=first[2], ranking=Ranking(ids, [r[1] for r in order], [r[2] for r in order]),
                   tier=tier), how


def retiered(decision: Decision, tier: str, request: RouteRequest, context: PolicyContext, policy: str,
             reason: str) -> Decision:
    """``decision`` moved to ``tier`` by a rule (its tier probability dropped), recording why and how."""
    after, how = choose(decision, tier, request, context)
    return changed(after, policy, f"{reason}; {how}", tier_probability=None)


def current_tier(decision: Decision) -> str:
    """The decision's tier; a decision no tier policy saw counts as Standard for the rules."""
    return decision.tier or STANDARD


def raised(decision: Decision, tier: str, request: RouteRequest, context: PolicyContext, policy: str,
           why: str) -> Decision:
    """``decision`` raised to ``tier`` if that is more severe than its own (else unchanged)."""
    now = current_tier(decision)
    if SEVERITY[tier] <= SEVERITY[now]:
        return decision
    return retiered(decision, tier, request, context, policy, f"{why}: tier {now} -> {tier}")


def configured(profile: Profile, name: str) -> Rule | None:
    """The profile's rule of that name, if its ``policies`` list has one."""
    return next((r for r in profile.policies if r.name == name), None)


def moved_first(decision: Decision, model: str, context: PolicyContext, policy: str, reason: str) -> Decision:
    """``decision`` choosing ``model`` (which its ranking holds), the rest of the ranking in order after it."""
    rows = ranked(decision, context)
    pick = next(r for r in rows if r[0] == model)
    order = [pick] + [r for r in rows if r is not pick]
    return changed(decision, policy, reason, model=model, expected_error=pick[3],
                   cost=float(context.scorer.costs[pick[1]]), score=pick[2],
                   ranking=Ranking(context.scorer.ids, [r[1] for r in order], [r[2] for r in order]))
