"""cactus-router: on-device LLM routing with the cluster rule of UniRoute.

    >>> from cactus_router import Router
    >>> Router.load("default").route("What is the capital of France?").model  # doctest: +SKIP
"""

from .errors import (
    ArgumentError,
    BudgetExceededError,
    CoreError,
    EmbedderError,
    EmbedderMismatchError,
    LedgerError,
    NativeLibraryError,
    NoEligibleModelError,
    OutputError,
    PolicyError,
    ProfileError,
    PromptError,
    RouterError,
    RoutingTableError,
    error_to_dict,
)
from .profile import EmbedderInfo, ModelInfo, ModelSpec, Profile, RoutingDefaults, UnverifiedEmbedderWarning
from .profile.catalog import cactus_catalog
from .routing import Applied, Decision, DecisionBatch, Explanation, ModelTerm, Policy, Router, RouteRequest

__version__ = "0.1.0"

__all__ = [
    "Applied",
    "ArgumentError",
    "BudgetExceededError",
    "CoreError",
    "Decision",
    "DecisionBatch",
    "EmbedderError",
    "EmbedderInfo",
    "EmbedderMismatchError",
    "Explanation",
    "LedgerError",
    "ModelInfo",
    "ModelSpec",
    "ModelTerm",
    "NativeLibraryError",
    "NoEligibleModelError",
    "OutputError",
    "Policy",
    "PolicyError",
    "Profile",
    "ProfileError",
    "PromptError",
    "RouteRequest",
    "Router",
    "RouterError",
    "RoutingDefaults",
    "RoutingTableError",
    "UnverifiedEmbedderWarning",
    "cactus_catalog",
    "error_to_dict",
]
