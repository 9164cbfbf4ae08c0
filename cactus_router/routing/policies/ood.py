"""The out-of-distribution policy: a prompt unlike the training data is not routed by its cluster."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from ...ood import UNSEEN_TOPIC, UNSUPPORTED_SCRIPT
from ._base import PolicyContext

if TYPE_CHECKING:
    from ..._native import Routed
    from ...profile import Profile
    from ..batch import Columns
    from ..decision import Decision
    from ..request import RouteRequest


class OutOfDistribution:
    """A prompt is out of distribution when the profile's checks say so: its text is in a script the
    embedder cannot represent (``ood.script``, on ``route``/``route_many`` only: it reads the text),
    its embedding is unlike the training prompts' (``ood.topic``), or its best cluster similarity
    is below ``routing.ood_threshold``. Its nearest cluster's rates then say little about it, so
    the eligible models are ranked on their overall error rates instead, with the request's
    lambda: the cost knob and the constraints still apply. A profile that names a ``fallback``
    model asks for that model instead, whenever it is eligible."""

    name = "out-of-distribution"

    def apply(self, decision: Decision, request: RouteRequest, context: PolicyContext) -> Decision:
        """Re-choose an out-of-distribution decision; leave any other unchanged."""
        profile = context.profile
        if profile.ood is None:  # the common case, kept to one comparison
            threshold = profile.routing.ood_threshold
            if threshold is None or decision.similarity >= threshold:
                return decision
            why: str | None = _similarity(decision.similarity, threshold)
        else:
            vector = None if context.vectors is None else context.vectors[context.row]
            why = _row_reason(profile, decision.similarity, vector, context.prompt)
            if why is None:
                return decision
        routed, how = self._ranking(context)
        return context.decision_from(decision, routed, self.name, f"{why}: {how}", in_distribution=False)

    def apply_many(self, batch: Columns, request: RouteRequest, context: PolicyContext) -> None:
        """The same, for every row of a batch at once."""
        whys = reasons(context.profile, batch.similarity, context.vectors, context.prompts)
        rows = np.array([i for i, w in enumerate(whys) if w is not None], dtype=np.intp)
        if rows.size:
            routed, how = self._ranking(context)
            batch.rechoose(rows, routed, self.name, [f"{whys[i]}: {how}" for i in rows.tolist()],
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


def reasons(profile: Profile, similarity: np.ndarray, vectors: np.ndarray | None,
            prompts: Sequence[str] | None) -> list[str | None]:
    """Per row, why it is out of distribution (None: it is not). The script check wins over the
    topic check, which a profile holds instead of the similarity threshold."""
    out: list[str | None] = [None] * len(similarity)
    threshold = profile.routing.ood_threshold
    if threshold is not None:
        for i in np.flatnonzero(similarity < threshold).tolist():
            out[i] = _similarity(float(similarity[i]), threshold)
    checks = profile.ood
    if checks is None:
        return out
    if checks.topic is not None and vectors is not None and len(vectors):
        familiar = checks.topic.native_familiarity(vectors, checks.topic.threshold)
        for i in np.flatnonzero(familiar < checks.topic.threshold).tolist():
            out[i] = _topic(float(familiar[i]), checks.topic.threshold)
    if checks.script is not None and prompts is not None and len(prompts):
        share = checks.script.unreadable_share(prompts)
        for i in np.flatnonzero(share > checks.script.threshold).tolist():
            out[i] = _script(float(share[i]), checks.script.threshold)
    return out


def _row_reason(profile: Profile, similarity: float, vector: np.ndarray | None, prompt: str | None) -> str | None:
    """``reasons`` of one row, without building arrays (the per-route path)."""
    checks = profile.ood
    if checks is None:
        return None
    if checks.script is not None and prompt is not None:
        share = float(checks.script.unreadable_share([prompt])[0])
        if share > checks.script.threshold:
            return _script(share, checks.script.threshold)
    if checks.topic is not None and vector is not None:
        familiar = checks.topic.familiarity_one(vector, checks.topic.threshold)
        if familiar < checks.topic.threshold:
            return _topic(familiar, checks.topic.threshold)
    threshold = profile.routing.ood_threshold
    if threshold is not None and similarity < threshold:
        return _similarity(similarity, threshold)
    return None


def _similarity(similarity: float, threshold: float) -> str:
    return f"similarity {similarity:.3f} < {threshold:.3f}"


def _topic(familiarity: float, threshold: float) -> str:
    return f"{UNSEEN_TOPIC} (familiarity {familiarity:.3f} < {threshold:.3f})"


def _script(share: float, threshold: float) -> str:
    return (f"{UNSUPPORTED_SCRIPT} ({share:.0%} of its letters are outside the embedder's vocabulary, "
            f"more than {threshold:.0%})")
