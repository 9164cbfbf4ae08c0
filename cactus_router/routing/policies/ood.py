"""The out-of-distribution policy: a prompt unlike the training data is not routed by its cluster."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ._base import PolicyContext

if TYPE_CHECKING:
    from ..._native import Routed
    from ..batch import Columns
    from ..decision import Decision
    from ..request import RouteRequest


class OutOfDistribution:
    """Below the profile's ``ood_threshold`` the nearest cluster's rates say little about the
    prompt, so the eligible models are ranked on their overall error rates instead, with the
    request's lambda: the cost knob and the constraints still apply. A profile that names a
    ``fallback`` model asks for that model instead, whenever it is eligible."""

    name = "out-of-distribution"

    def apply(self, decision: Decision, request: RouteRequest, context: PolicyContext) -> Decision:
        """Re-choose an out-of-distribution decision; leave any other unchanged."""
        threshold = context.profile.routing.ood_threshold
        if threshold is None or decision.similarity >= threshold:
            return decision
        routed, how = self._ranking(context)
        return context.decision_from(decision, routed, self.name, _reason(decision.similarity, threshold, how),
                                     in_distribution=False)

    def apply_many(self, batch: Columns, request: RouteRequest, context: PolicyContext) -> None:
        """The same, for every row of a batch at once."""
        threshold = context.profile.routing.ood_threshold
        if threshold is None:
            return
        rows = np.flatnonzero(batch.similarity < threshold)
        if rows.size:
            routed, how = self._ranking(context)
            batch.rechoose(rows, routed, self.name,
                           [_reason(float(batch.similarity[i]), threshold, how) for i in rows.tolist()],
                           in_distribution=False)

    @staticmethod
    def _ranking(context: PolicyContext) -> tuple[Routed, str]:
        routed = context.scorer.overall(context.eligibility, context.lam)
        named = context.profile.routing.fallback
        if named is None:
            return routed, "ranked on overall error rates"
        j = context.scorer.ids.index(named)
        if not context.eligibility.allows(j):
            return routed, f"ranked on overall error rates (the profile's fallback {named} is not eligible)"
        cluster, sim, margin, ranking, scores, errors = routed
        pos = ranking.index(j)
        order = [pos, *(i for i in range(len(ranking)) if i != pos)]
        return ((cluster, sim, margin, [ranking[i] for i in order], [scores[i] for i in order],
                 [errors[i] for i in order]), f"the profile's fallback model {named}")


def _reason(similarity: float, threshold: float, how: str) -> str:
    return f"similarity {similarity:.3f} < {threshold:.3f}: {how}"
