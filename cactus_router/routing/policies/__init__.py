"""Policies: rules applied after scoring, each a small object in a module of its own.

A policy is given the scored decision, the request and a context, and returns the decision,
possibly changed; a change is recorded in ``Decision.applied`` with a one-line reason. Policies
run in a fixed order (``Pipeline`` applies them as listed). A policy may never pick a model the
request made ineligible: the pipeline refuses such a decision with PolicyError.

To add a policy: write its module here, and register its name in ``REGISTRY`` below.
"""

from __future__ import annotations

from ._base import Policy, PolicyContext, changed
from .ood import OutOfDistribution
from .tier import Tier

#: Policy names (as a profile's ``policies`` list may name them) to their classes.
REGISTRY: dict[str, type[Policy]] = {
    OutOfDistribution.name: OutOfDistribution,
    Tier.name: Tier,
}

__all__ = ["REGISTRY", "OutOfDistribution", "Policy", "PolicyContext", "Tier", "changed"]
