"""cactus-router: on-device LLM routing with the cluster rule of UniRoute.

    >>> from cactus_router import Router
    >>> Router.load("default").route("What is the capital of France?").model  # doctest: +SKIP
"""

from .catalog import ModelSpec, cactus_catalog
from .errors import (
    CoreError,
    EmbedderError,
    EmbedderMismatchError,
    NativeLibraryError,
    NoEligibleModelError,
    OutputError,
    ProfileError,
    PromptError,
    RouterError,
    RoutingTableError,
)
from .profile import EmbedderInfo, ModelInfo, Profile, RoutingDefaults, UnverifiedEmbedderWarning
from .router import Decision, DecisionBatch, Explanation, ModelTerm, Router

__version__ = "0.1.0"

__all__ = [
    "CoreError",
    "Decision",
    "DecisionBatch",
    "EmbedderError",
    "EmbedderInfo",
    "EmbedderMismatchError",
    "Explanation",
    "ModelInfo",
    "ModelSpec",
    "ModelTerm",
    "NativeLibraryError",
    "NoEligibleModelError",
    "OutputError",
    "Profile",
    "ProfileError",
    "PromptError",
    "Router",
    "RouterError",
    "RoutingDefaults",
    "RoutingTableError",
    "UnverifiedEmbedderWarning",
    "cactus_catalog",
]
