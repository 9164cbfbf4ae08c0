"""The Pipeline: score an embedding with the cluster rule, then apply the policies in order."""

from __future__ import annotations

from collections.abc import Sequence
from time import perf_counter

import numpy as np

from ..errors import ArgumentError, PolicyError
from ..profile import Profile
from .batch import Columns, DecisionBatch
from .decision import Decision, new_decision
from .mapped import scorer_for
from .policies import REGISTRY, RULE_ORDER, OutOfDistribution, Policy, PolicyContext, Tier, rule_policy
from .policies._base import BatchPolicy
from .request import RouteRequest
from .scorer import Eligibility

#: The policies known to keep no reference to the decision they are given, so that the tier
#: policy may set a tier in place on the pipeline's draft after them (``PolicyContext.draft``).
_KEEP_NO_REFERENCE = frozenset({OutOfDistribution, Tier})


def default_policies(profile: Profile) -> tuple[Policy, ...]:
    """The policies a profile routes with: out-of-distribution, then the tier (and its policy
    map), then the profile's own rules in the fixed order ``RULE_ORDER`` (docs/tiers.md), whatever
    their order in its ``policies`` list.

    Raises:
        LedgerError: a budget rule's ledger is not a writable regular file, or is corrupt.
    """
    position = {r.name: i for i, r in enumerate(profile.policies)}
    rules = [rule_policy(profile.policies[position[name]], f"policies[{position[name]}] ({name})")
             for name in RULE_ORDER if name in position]
    return (OutOfDistribution(), Tier(), *rules)


class Pipeline:
    """Embeddings in, decisions out: what ``Router`` runs after embedding, and what training's
    cross-validation, ``evaluate`` and ``calibrate`` measure, so they measure what ``route`` does.

    Args:
        profile: the routing profile.
        policies: the policies to apply after scoring, in order, as objects or as names of
            ``policies.REGISTRY``; None = ``default_policies``.
    """

    __slots__ = ("profile", "scorer", "policies", "_default_bias", "_default_lam")

    def __init__(self, profile: Profile, policies: Sequence[Policy | str] | None = None) -> None:
        if not isinstance(profile, Profile):
            raise ArgumentError(f"profile must be a Profile, got {type(profile).__name__}; use Router.load(path)")
        if isinstance(policies, str):
            raise ArgumentError("policies takes a list of policies or policy names, e.g. ['out-of-distribution']")
        chosen = default_policies(profile) if policies is None else tuple(_policy(p) for p in policies)
        for p in chosen:
            if not isinstance(p, Policy):
                raise ArgumentError(f"{p!r} is not a Policy (a 'name' and an 'apply' method); "
                                    f"known policies: {', '.join(REGISTRY)}")
        self.profile = profile
        self.scorer = scorer_for(profile)
        self.policies = chosen
        self._default_bias = profile.routing.cost_bias
        self._default_lam = profile.routing.lam()

    def knobs(self, request: RouteRequest) -> tuple[float, float]:
        """The cost_bias and lambda of a request (the profile's when it sets none)."""
        if request.cost_bias is None:
            return self._default_bias, self._default_lam
        return request.cost_bias, self.profile.routing.lam(request.cost_bias)

    def decide(self, vec: np.ndarray, request: RouteRequest, embed_ms: float = 0.0,
               prompt: str | None = None) -> Decision:
        """Route one checked float32 embedding of the profile's dimension (``prompt``: its text,
        for the rules that read it)."""
        t0 = perf_counter()
        eligibility = self.scorer.eligibility(request)
        bias, lam = self.knobs(request)
        cluster, sim, margin, ranking, best, error, score, derived = self.scorer.choose(vec, eligibility, lam)
        ids = self.scorer.ids
        d = new_decision(ids[best], cluster, sim, margin, error, self.scorer.cost_of[best], score, ranking, bias,
                         embed_ms, (perf_counter() - t0) * 1e3)
        if self.policies:
            context = PolicyContext.one(self.profile, self.scorer, eligibility, lam, vec,
                                        None if prompt is None else (prompt,), derived, d)
            for policy in self.policies:
                if type(policy) not in _KEEP_NO_REFERENCE:
                    context.draft = None  # this policy may keep the decision: no change in place after it
                after = policy.apply(d, request, context)
                if after is not d:
                    _check_allowed(policy, after, eligibility, ids, d)
                    d = after
        return d

    def decide_many(self, vecs: np.ndarray, request: RouteRequest, embed_ms: float = 0.0, *,
                    lam: float | None = None, prompts: Sequence[str] | None = None) -> DecisionBatch:
        """Route an (n, d) checked float32 array: one C call, then each policy over the batch.

        ``lam`` sets lambda directly instead of through the request's cost_bias, for tracing a
        deferral curve over a lambda grid (training's cross-validation, ``evaluate``);
        ``prompts`` are the rows' texts, for the rules that read them.
        """
        t0 = perf_counter()
        eligibility = self.scorer.eligibility(request)
        bias, knob_lam = self.knobs(request)
        lam = knob_lam if lam is None else lam
        cols = Columns(self.scorer.ids, self.scorer.costs, *self.scorer.score_many(vecs, eligibility, lam))
        if self.policies and len(cols):
            context = PolicyContext(self.profile, self.scorer, eligibility, lam, vecs, prompts)
            for policy in self.policies:
                if isinstance(policy, BatchPolicy):
                    policy.apply_many(cols, request, context)
                    _check_allowed_rows(policy, cols, eligibility)
                    continue
                for i in range(len(cols)):
                    context.row = i
                    d = cols.decision(i, bias, 0.0, 0.0)
                    after = policy.apply(d, request, context)
                    if after is not d:
                        _check_allowed(policy, after, eligibility, self.scorer.ids)
                        cols.replace_row(i, after)
        n = max(len(cols), 1)
        return DecisionBatch(cols, bias, embed_ms / n, (perf_counter() - t0) * 1e3 / n)


def _policy(p: Policy | str) -> Policy:
    if not isinstance(p, str):
        return p
    if p not in REGISTRY:
        raise ArgumentError(f"unknown policy {p!r}; known: {', '.join(REGISTRY)}")
    return REGISTRY[p]()


def _check_allowed(policy: Policy, d: Decision, eligibility: Eligibility, ids: tuple[str, ...],
                   before: Decision | None = None) -> None:
    if before is not None and d.ranking is before.ranking and d.model == before.model:
        return  # the policy changed other fields (a tier, a reason): the choice is the checked one
    try:
        j = ids.index(d.model)
    except ValueError:
        raise PolicyError(f"policy {policy.name!r} chose {d.model!r}, which is not a model of the profile") from None
    if not eligibility.allows(j) or any(m not in ids or not eligibility.allows(ids.index(m)) for m, _ in d.ranking):
        raise PolicyError(f"policy {policy.name!r} chose or ranked a model the request made ineligible "
                          f"({d.model!r}); policies must keep to the eligible models")


def _check_allowed_rows(policy: Policy, cols: Columns, eligibility: Eligibility) -> None:
    if eligibility.mask is not None and not eligibility.mask[cols.rankings].all():
        raise PolicyError(f"policy {policy.name!r} ranked a model the request made ineligible; "
                          "policies must keep to the eligible models")
