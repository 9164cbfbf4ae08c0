"""Decisions: the outcome of routing one prompt, as an object and as JSON data."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..errors import ArgumentError
from ..tiers import TIERS
from .ranking import Ranking

#: The version of the JSON shape of ``Decision.to_dict`` (docs/decision-format.md).
DECISION_FORMAT = 1


@dataclass(frozen=True, slots=True)
class Applied:
    """One policy's change to a decision: which policy, and why, in one line."""

    policy: str
    reason: str


@dataclass(frozen=True, slots=True)
class Decision:
    """The outcome of routing one prompt.

    Attributes:
        model: the chosen model id (the first entry of ``ranking``).
        cluster: index of the nearest centroid.
        similarity: cosine similarity of the prompt to that centroid.
        margin: similarity minus the second-nearest cluster's (small = ambiguous; 2.0 if K = 1).
        expected_error: the chosen model's expected error under the ranking that chose it.
        cost: the chosen model's cost, as given in the profile.
        score: ``expected_error + lambda * normalised_cost`` of the chosen model.
        ranking: the ranking that chose, every eligible model as ``(model_id, score)``, best first
            (a ``Ranking``: a sequence of pairs, equal to the tuple of them):
            the cluster rule's, or the one a policy put in its place (see ``applied``).
        cost_bias: the cost knob used (0 = best quality, 1 = cheapest).
        embed_ms: time spent embedding the prompt (0 for route_embedding; the batch mean for
            route_many).
        score_ms: time spent scoring (the batch mean for route_many, which includes the policies).
        in_distribution: False when the prompt's best similarity is below the profile's
            ``ood_threshold``; the out-of-distribution policy then chose (see ``applied``).
        applied: the policies that changed this decision, in the order they applied.
        tier: the prompt's tier (``Standard``, ``Complex`` or ``Ambiguous``, docs/tiers.md) as the
            tier policy and the rules after it left it; None when no tier policy ran.
        tier_probability: the probability of ``tier`` under the profile's tier counts (soft
            assignment over clusters, as for error rates); None when the tier comes from the
            derived rule or a rule set it.
    """

    model: str
    cluster: int
    similarity: float
    margin: float
    expected_error: float
    cost: float
    score: float
    ranking: Ranking
    cost_bias: float
    embed_ms: float
    score_ms: float
    in_distribution: bool = True
    applied: tuple[Applied, ...] = ()
    tier: str | None = None
    tier_probability: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """The decision as JSON data (docs/decision-format.md); ``from_dict`` reads it back."""
        return {
            "model": self.model,
            "cluster": self.cluster,
            "similarity": round(self.similarity, 6),
            "margin": round(self.margin, 6),
            "expected_error": round(self.expected_error, 6),
            "cost": self.cost,
            "score": round(self.score, 6),
            "ranking": [{"model": m, "score": round(s, 6)} for m, s in self.ranking],
            "cost_bias": self.cost_bias,
            "in_distribution": self.in_distribution,
            "tier": self.tier,
            "tier_probability": None if self.tier_probability is None else round(self.tier_probability, 6),
            "applied": [{"policy": a.policy, "reason": a.reason} for a in self.applied],
            "embed_ms": round(self.embed_ms, 3),
            "score_ms": round(self.score_ms, 4),
        }

    @classmethod
    def from_dict(cls, data: Any) -> Decision:
        """A decision from ``to_dict``'s JSON data.

        Raises:
            ArgumentError: a field is missing or of the wrong type (named in the message).
        """
        d = _Fields(data)
        ranking = Ranking.of([(_str(r, "model", "ranking[].model"), _num(r, "score", "ranking[].score"))
                              for r in d.objects("ranking")])
        applied = tuple(Applied(_str(a, "policy", "applied[].policy"), _str(a, "reason", "applied[].reason"))
                        for a in d.objects("applied"))
        return cls(d.text("model"), d.integer("cluster"), d.number("similarity"), d.number("margin"),
                   d.number("expected_error"), d.number("cost"), d.number("score"), ranking, d.number("cost_bias"),
                   d.number("embed_ms"), d.number("score_ms"), d.flag("in_distribution"), applied, d.tier(),
                   d.optional_number("tier_probability"))


# The routing hot path builds a Decision per prompt. A frozen dataclass's __init__ sets each field
# through object.__setattr__, and even its slot descriptors' __set__ are generic calls (about
# 1 us for 15 fields in CPython 3.11). _Draft has Decision's slots in the same order and no
# __setattr__ of its own, so its fields are plain slot stores; once they are set, the object
# becomes a Decision (``__class__`` assignment, which CPython allows between classes of the same
# layout) and is frozen from then on: a third of the time (benchmarks/test_bench_core.py).
# new_decision and with_tier must set every field of Decision: tests/test_router.py checks them
# against the constructor and ``replace``.
class _Draft:
    __slots__ = Decision.__slots__


_NEW = object.__new__
_TIER = Decision.__dict__["tier"].__set__
_TIER_PROBABILITY = Decision.__dict__["tier_probability"].__set__


def new_decision(model: str, cluster: int, similarity: float, margin: float, expected_error: float, cost: float,
                 score: float, ranking: Ranking, cost_bias: float, embed_ms: float, score_ms: float) -> Decision:
    """``Decision(...)`` with ``in_distribution=True``, nothing applied and no tier, built the fast way."""
    d: Any = _NEW(_Draft)
    d.model = model
    d.cluster = cluster
    d.similarity = similarity
    d.margin = margin
    d.expected_error = expected_error
    d.cost = cost
    d.score = score
    d.ranking = ranking
    d.cost_bias = cost_bias
    d.embed_ms = embed_ms
    d.score_ms = score_ms
    d.in_distribution = True
    d.applied = ()
    d.tier = None
    d.tier_probability = None
    d.__class__ = Decision
    return d  # type: ignore[no-any-return]


def set_draft_tier(d: Decision, tier: str, probability: float | None) -> None:
    """Set the tier of a decision still being built, in place: only for the pipeline's draft
    (``PolicyContext.draft``), which nothing outside the pipeline has seen yet."""
    _TIER(d, tier)
    _TIER_PROBABILITY(d, probability)


def with_tier(d: Decision, tier: str, probability: float | None) -> Decision:
    """A copy of ``d`` with its tier set, built the fast way (the tier policy runs on every route)."""
    out: Any = _NEW(_Draft)
    out.model = d.model
    out.cluster = d.cluster
    out.similarity = d.similarity
    out.margin = d.margin
    out.expected_error = d.expected_error
    out.cost = d.cost
    out.score = d.score
    out.ranking = d.ranking
    out.cost_bias = d.cost_bias
    out.embed_ms = d.embed_ms
    out.score_ms = d.score_ms
    out.in_distribution = d.in_distribution
    out.applied = d.applied
    out.tier = tier
    out.tier_probability = probability
    out.__class__ = Decision
    return out  # type: ignore[no-any-return]


class _Fields:
    """Typed reads of a decision's JSON fields, each failure a one-line ArgumentError."""

    def __init__(self, data: Any) -> None:
        if not isinstance(data, Mapping):
            raise ArgumentError(f"a decision must be a JSON object, got {type(data).__name__}")
        self.data = data

    def objects(self, key: str) -> list[Mapping[str, Any]]:
        v = self.data.get(key)
        if not isinstance(v, list) or not all(isinstance(x, Mapping) for x in v):
            raise ArgumentError(f"decision field {key!r} must be an array of objects")
        return v

    def text(self, key: str) -> str:
        return _str(self.data, key, key)

    def number(self, key: str) -> float:
        return _num(self.data, key, key)

    def integer(self, key: str) -> int:
        v = self.data.get(key)
        if isinstance(v, bool) or not isinstance(v, int):
            raise ArgumentError(f"decision field {key!r} must be an integer")
        return v

    def tier(self) -> str | None:
        """``tier``: absent or null (no tier policy ran, or JSON from before tiers) is None."""
        v = self.data.get("tier")
        if v is not None and v not in TIERS:
            raise ArgumentError(f"decision field 'tier' must be one of {', '.join(TIERS)} or null")
        return v

    def optional_number(self, key: str) -> float | None:
        return None if self.data.get(key) is None else self.number(key)

    def flag(self, key: str) -> bool:
        v = self.data.get(key)
        if not isinstance(v, bool):
            raise ArgumentError(f"decision field {key!r} must be true or false")
        return v


def _str(obj: Mapping[str, Any], key: str, name: str) -> str:
    v = obj.get(key)
    if not isinstance(v, str):
        raise ArgumentError(f"decision field {name!r} must be a string")
    return v


def _num(obj: Mapping[str, Any], key: str, name: str) -> float:
    v = obj.get(key)
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        raise ArgumentError(f"decision field {name!r} must be a finite number")
    return float(v)
