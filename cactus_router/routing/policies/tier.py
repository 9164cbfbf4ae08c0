"""The tier policy: every decision gets a tier, and a profile's policy map turns it into a model."""

from __future__ import annotations

import functools
from dataclasses import replace
from typing import TYPE_CHECKING

import numpy as np

from ...profile import Profile, TierCounts, TierRule
from ...tiers import TIERS
from ..decision import set_draft_tier
from ..decision import with_tier as _with_tier
from ..ranking import Ranking
from ._base import PolicyContext, changed
from ._tiers import choose

if TYPE_CHECKING:
    from ..batch import Columns
    from ..decision import Decision
    from ..request import RouteRequest

_AMBIGUOUS, _COMPLEX, _STANDARD = TIERS.index("Ambiguous"), TIERS.index("Complex"), TIERS.index("Standard")
_DEFAULT_RULE = TierRule()


def _derived(decision: Decision, context: PolicyContext, rule: TierRule) -> str:
    """The derived rule on one decision, in plain Python (the batch path's arithmetic, row by row):
    Ambiguous when the best expected error exceeds ``rule.ambiguous_error``, Standard when the
    cheapest eligible model's is within ``rule.margin`` of the best, Complex otherwise."""
    ranking = decision.ranking
    derived = context.derived
    if derived is not None and derived[0] is ranking:  # the cluster rule's: C has done the loop below
        _, best, cheapest = derived
        return _rule(best, cheapest, rule)
    cost_of = context.scorer.cost_of
    lo, span = _cost_range(context.eligibility.indices, cost_of)
    order, scores = (ranking.indexed(context.scorer.index_of) if isinstance(ranking, Ranking)
                     else ([context.scorer.index_of[m] for m, _ in ranking], [s for _, s in ranking]))
    lam = context.lam
    best = cheapest = float("inf")
    for j, score in zip(order, scores):
        cost = cost_of[j]
        error = score - lam * ((cost - lo) / span if span > 0 else 0.0)  # the batch path's arithmetic
        if error < best:
            best = error
        if cost == lo and error < cheapest:
            cheapest = error
    return _rule(best, cheapest, rule)


def _rule(best: float, cheapest: float, rule: TierRule) -> str:
    if best > rule.ambiguous_error:
        return "Ambiguous"
    return "Standard" if cheapest - best <= rule.margin else "Complex"


@functools.lru_cache(maxsize=256)
def _cost_range(indices: tuple[int, ...], cost_of: tuple[float, ...]) -> tuple[float, float]:
    """The lowest eligible cost and the eligible costs' span (one per eligibility, cached)."""
    eligible = [cost_of[j] for j in indices]
    return min(eligible), max(eligible) - min(eligible)


class Tier:
    """Sets ``Decision.tier``. With tier counts in the profile: the most probable tier of the
    prompt, its probability a mix of the clusters' tier shares weighted as the error rates are
    (softmax of similarity / temperature; the nearest cluster at temperature 0; the overall shares
    for an out-of-distribution prompt). Without them: the derived rule (``TierRule``) on the
    eligible models' expected errors. When the profile's policy map names the tier, its list then
    chooses the model; otherwise the cluster rule's choice stands."""

    name = "tier"

    def __init__(self) -> None:
        self._cache: tuple[Profile, np.ndarray, np.ndarray, np.ndarray] | None = None

    def apply(self, decision: Decision, request: RouteRequest, context: PolicyContext) -> Decision:
        """Give one decision its tier (and, with a map, the tier's model)."""
        tiers = context.profile.tiers
        if tiers is None or tiers.counts is None:
            tier = _derived(decision, context, _DEFAULT_RULE if tiers is None or tiers.rule is None else tiers.rule)
            if decision is context.draft:
                set_draft_tier(decision, tier, None)
                with_derived = decision
            else:
                with_derived = _with_tier(decision, tier, None)
            if tier not in (context.profile.policy_map or {}):
                return with_derived
            after, how = choose(with_derived, tier, request, context)
            return changed(after, self.name, f"tier {tier}: {how}")
        ids = context.scorer.ids
        rankings = np.array([[ids.index(m) for m, _ in decision.ranking]], dtype=np.int64)
        scores = np.array([[s for _, s in decision.ranking]], dtype=np.float64)
        vectors = None if context.vectors is None else context.vectors[context.row:context.row + 1]
        codes, probs = self._tiers(context, np.array([decision.cluster]), np.array([decision.in_distribution]),
                                   vectors, rankings, scores)
        tier, p = TIERS[int(codes[0])], float(probs[0])
        with_tier = replace(decision, tier=tier, tier_probability=None if np.isnan(p) else p)
        if tier not in (context.profile.policy_map or {}):
            return with_tier
        after, how = choose(with_tier, tier, request, context)
        return changed(after, self.name, f"tier {tier}: {how}")

    def apply_many(self, batch: Columns, request: RouteRequest, context: PolicyContext) -> None:
        """The same for a batch: the tiers at once, then the map row by row (when there is one)."""
        codes, probs = self._tiers(context, batch.cluster, batch.in_distribution, context.vectors,
                                   batch.rankings.astype(np.int64), batch.scores.astype(np.float64))
        batch.tier_code[:] = codes
        batch.tier_probability[:] = probs
        named = [TIERS.index(t) for t in (context.profile.policy_map or {})]
        for i in np.flatnonzero(np.isin(codes, named)).tolist():
            context.row = i
            d = batch.decision(i, 0.0, 0.0, 0.0)
            tier = TIERS[int(codes[i])]
            after, how = choose(d, tier, request, context)
            batch.replace_row(i, changed(after, self.name, f"tier {tier}: {how}"))

    def _tiers(self, context: PolicyContext, cluster: np.ndarray, in_distribution: np.ndarray,
               vectors: np.ndarray | None, rankings: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Tier codes (index into TIERS) and probabilities (NaN from the derived rule) of n rows."""
        tiers = context.profile.tiers
        if tiers is not None and tiers.counts is not None:
            return self._from_counts(context.profile, tiers, cluster, in_distribution, vectors)
        rule = TierRule() if tiers is None or tiers.rule is None else tiers.rule
        costs = context.scorer.costs
        eligible = costs[list(context.eligibility.indices)]
        lo, span = float(eligible.min()), float(eligible.max() - eligible.min())
        ranked_costs = costs[rankings]
        errors = scores - context.lam * ((ranked_costs - lo) / span if span > 0 else 0.0)
        best = errors.min(axis=1)
        cheapest = np.where(ranked_costs == lo, errors, np.inf).min(axis=1)
        codes = np.where(best > rule.ambiguous_error, _AMBIGUOUS,
                         np.where(cheapest - best <= rule.margin, _STANDARD, _COMPLEX))
        return codes.astype(np.int8), np.full(len(codes), np.nan)

    def _from_counts(self, profile: Profile, tiers: TierCounts, cluster: np.ndarray, in_distribution: np.ndarray,
                     vectors: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        cache = self._cache
        if cache is None or cache[0] is not profile:
            per_cluster, overall = tiers.probabilities()
            unit = profile.centroids / np.linalg.norm(profile.centroids, axis=1, keepdims=True)
            cache = self._cache = (profile, per_cluster, overall, unit)
        _, per_cluster, overall, unit = cache
        p = _mix(per_cluster, overall, unit, profile.routing.temperature, cluster, in_distribution, vectors)
        codes = p.argmax(axis=1)
        return codes.astype(np.int8), p[np.arange(len(codes)), codes]


def _mix(per_cluster: np.ndarray, overall: np.ndarray, unit: np.ndarray, temperature: float, cluster: np.ndarray,
         in_distribution: np.ndarray, vectors: np.ndarray | None) -> np.ndarray:
    """Each row's (3,) tier probabilities from the clusters' shares (see ``Tier``)."""
    if temperature == 0 or vectors is None:
        p = per_cluster[cluster]
    else:
        v = vectors.astype(np.float64)
        sims = (v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-30)) @ unit.T / temperature
        w = np.exp(sims - sims.max(axis=1, keepdims=True))
        p = (w / w.sum(axis=1, keepdims=True)) @ per_cluster
    return np.asarray(np.where(np.asarray(in_distribution, dtype=bool)[:, None], p, overall))


def tier_probabilities(profile: Profile, cluster: np.ndarray, in_distribution: np.ndarray,
                       vectors: np.ndarray | None) -> np.ndarray:
    """The (n, 3) tier probabilities (columns in ``TIERS`` order) the ``Tier`` policy gives rows
    with these clusters, in-distribution flags and embeddings; its tier is each row's argmax.

    Raises:
        ArgumentError: the profile has no tier counts.
    """
    tiers = profile.tiers if profile.tiers is not None else TierCounts()
    per_cluster, overall = tiers.probabilities()
    unit = profile.centroids / np.linalg.norm(profile.centroids, axis=1, keepdims=True)
    return _mix(per_cluster, overall, unit, profile.routing.temperature, np.asarray(cluster), in_distribution,
                vectors)
