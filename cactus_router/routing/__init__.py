"""Routing: a request, the scorer over the C index, the policies after it, and the decision.

``Router`` embeds a prompt and hands the vector to its ``Pipeline``, which scores it with the
cluster rule (``Scorer``) and applies the policies in order (``policies``).
"""

from .batch import DecisionBatch
from .decision import Applied, Decision
from .explain import Explanation, ModelTerm
from .pipeline import Pipeline, default_policies
from .policies import REGISTRY, OutOfDistribution, Policy, PolicyContext
from .ranking import Ranking
from .request import RouteRequest
from .router import Router
from .scorer import Eligibility, Scorer

__all__ = [
    "REGISTRY",
    "Applied",
    "Decision",
    "DecisionBatch",
    "Eligibility",
    "Explanation",
    "ModelTerm",
    "OutOfDistribution",
    "Pipeline",
    "Policy",
    "PolicyContext",
    "Ranking",
    "RouteRequest",
    "Router",
    "Scorer",
    "default_policies",
]
