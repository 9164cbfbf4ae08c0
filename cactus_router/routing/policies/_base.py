"""The Policy protocol and what a policy may read: the request's context."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import numpy as np

from ..decision import Applied, Decision
from ..ranking import Ranking

if TYPE_CHECKING:
    from ..._native import Routed
    from ...profile import Profile
    from ..batch import Columns
    from ..request import RouteRequest
    from ..scorer import DerivedInputs, Eligibility, Scorer


_NEW = object.__new__


class PolicyContext:
    """What a policy may consult besides the decision and the request (read-only by convention;
    a plain slotted class because one is made per routed prompt).

    Attributes:
        profile: the router's profile.
        scorer: the scorer (for rankings on other rates, e.g. ``scorer.overall``).
        eligibility: the models the request leaves.
        lam: the lambda the request's cost_bias stands for.
        vectors: the (n, d) float32 embeddings being routed (one row for ``route``).
        prompts: their texts, or None when only embeddings were given (``route_embedding*``):
            the rules that read text (length, keyword, math, code) then leave decisions as they are.
        row: the row a row-by-row ``apply`` is looking at (0 for ``route``).
        derived: for ``route``, the cluster rule's ranking with the derived tier rule's inputs as
            C computed them (``scorer.DerivedInputs``); the tier policy uses them while the
            decision's ranking is that one. None otherwise.
        draft: for ``route``, the decision the pipeline built, while only built-in policies that
            keep no reference to it have seen it (``Pipeline.decide``): the tier policy sets its
            tier in place instead of copying 15 fields. None otherwise.
    """

    __slots__ = ("profile", "scorer", "eligibility", "lam", "vectors", "prompts", "row", "derived", "draft")

    def __init__(self, profile: Profile, scorer: Scorer, eligibility: Eligibility, lam: float,
                 vectors: np.ndarray | None = None, prompts: Sequence[str] | None = None,
                 derived: DerivedInputs | None = None) -> None:
        self.profile = profile
        self.scorer = scorer
        self.eligibility = eligibility
        self.lam = lam
        self.vectors = vectors
        self.prompts = prompts
        self.row = 0
        self.derived = derived
        self.draft: Decision | None = None

    @staticmethod
    def one(profile: Profile, scorer: Scorer, eligibility: Eligibility, lam: float, vector: np.ndarray,
            prompts: tuple[str] | None, derived: DerivedInputs, draft: Decision) -> PolicyContext:
        """The context of one ``route``: ``vector`` is its 1-d embedding (``vectors`` its row
        view), ``draft`` the decision the pipeline built. Made without ``__init__``, which costs
        more than its slots on a path run for every prompt."""
        c: PolicyContext = _NEW(PolicyContext)
        c.profile = profile
        c.scorer = scorer
        c.eligibility = eligibility
        c.lam = lam
        c.vectors = vector[None, :]
        c.prompts = prompts
        c.row = 0
        c.derived = derived
        c.draft = draft
        return c

    @property
    def prompt(self) -> str | None:
        """The text of the row being looked at, or None when routing embeddings."""
        return None if self.prompts is None else self.prompts[self.row]

    def decision_from(self, base: Decision, routed: Routed, policy: str, reason: str, *,
                      in_distribution: bool | None = None) -> Decision:
        """``base`` re-chosen by another ranking (from the scorer), recording why."""
        _, _, _, ranking, scores, errors = routed
        ids = self.scorer.ids
        best = ranking[0]
        return changed(base, policy, reason, model=ids[best], expected_error=errors[0],
                       cost=float(self.scorer.costs[best]), score=scores[0],
                       ranking=Ranking(ids, ranking, scores),
                       in_distribution=base.in_distribution if in_distribution is None else in_distribution)


@runtime_checkable
class Policy(Protocol):
    """A rule applied after scoring. ``name`` identifies it in ``Decision.applied``."""

    name: str

    def apply(self, decision: Decision, request: RouteRequest, context: PolicyContext) -> Decision:
        """Return ``decision``, or a changed copy made with ``changed`` (which records why)."""
        ...


@runtime_checkable
class BatchPolicy(Policy, Protocol):
    """A policy that also applies to a whole batch at once (else the pipeline applies it row by
    row); ``apply_many`` must change the batch exactly as ``apply`` would change each row."""

    def apply_many(self, batch: Columns, request: RouteRequest, context: PolicyContext) -> None:
        """Change the rows of ``batch`` in place."""
        ...


def changed(decision: Decision, policy: str, reason: str, **fields: object) -> Decision:
    """A copy of ``decision`` with ``fields`` replaced and the change recorded in ``applied``."""
    return replace(decision, applied=(*decision.applied, Applied(policy, reason)), **fields)  # type: ignore[arg-type]
