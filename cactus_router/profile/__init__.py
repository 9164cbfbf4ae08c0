"""Routing profiles: the data model, the v1 JSON format and the two legacy formats it reads."""

from .legacy import UnverifiedEmbedderWarning
from .model import (
    CAPABILITIES,
    MAX_CONTEXT_LENGTH,
    MAX_COST,
    MAX_SIZE_MB,
    MAX_TOKENS_PER_SEC,
    EmbedderInfo,
    ModelInfo,
    ModelSpec,
    RoutingDefaults,
    TierCounts,
    TierRule,
)
from .v1 import (
    FORMAT,
    MAX_PROBE_CHARS,
    MAX_PROBE_TEXTS,
    MAX_TASKS_PER_CLUSTER,
    VERSION,
    Profile,
    bundled_profiles,
)

__all__ = [
    "CAPABILITIES",
    "FORMAT",
    "MAX_CONTEXT_LENGTH",
    "MAX_COST",
    "MAX_PROBE_CHARS",
    "MAX_PROBE_TEXTS",
    "MAX_SIZE_MB",
    "MAX_TASKS_PER_CLUSTER",
    "MAX_TOKENS_PER_SEC",
    "VERSION",
    "EmbedderInfo",
    "ModelInfo",
    "ModelSpec",
    "Profile",
    "RoutingDefaults",
    "TierCounts",
    "TierRule",
    "UnverifiedEmbedderWarning",
    "bundled_profiles",
]
