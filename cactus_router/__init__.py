"""cactus-router: on-device LLM routing with the cluster rule of UniRoute.

    >>> from cactus_router import Router
    >>> Router.load("default").route("What is the capital of France?").model  # doctest: +SKIP

The public layers, each a subpackage with its own ``__all__``: ``routing`` (requests, the
scorer, policies, decisions, the router), ``profile`` (the data model and file formats),
``training`` (train, calibrate, add_model), ``evaluation``, ``embedders``, ``generation`` (text
generation backends), ``cascade`` (generate, verify, escalate) and ``errors``. The names below are
the everyday ones; ``train``, ``calibrate``, ``add_model``, ``evaluate``, ``read_table`` and
``write_table`` are imported on first use, so ``import cactus_router`` stays light.
"""

from importlib import import_module
from typing import Any

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

#: Names imported on first use: (module, attribute); a layer maps to itself.
_LAZY = {
    "train": ("training", "train"),
    "calibrate": ("training", "calibrate"),
    "add_model": ("training", "add_model"),
    "evaluate": ("evaluation", "evaluate"),
    "read_table": ("data", "read_table"),
    "write_table": ("data", "write_table"),
    **{layer: (layer, None) for layer in ("routing", "profile", "training", "evaluation", "embedders", "generation",
                                          "cascade", "errors")},
}


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'cactus_router' has no attribute {name!r}")
    module, attribute = _LAZY[name]
    loaded = import_module(f".{module}", __name__)
    return loaded if attribute is None else getattr(loaded, attribute)

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
    "add_model",
    "cactus_catalog",
    "calibrate",
    "cascade",
    "embedders",
    "error_to_dict",
    "errors",
    "evaluate",
    "evaluation",
    "generation",
    "profile",
    "read_table",
    "routing",
    "train",
    "training",
    "write_table",
]
