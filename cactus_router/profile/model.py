"""The profile's data model: the embedder it was built with, its models, how it routes."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import numpy as np

from .._frozen import freeze_arrays
from ..errors import ArgumentError

CAPABILITIES = frozenset({"text", "tools", "vision", "embed"})
#: The one set of bounds on a model's facts, for profiles and model lists alike.
MAX_COST = 1e12
MAX_SIZE_MB = 1e9
MAX_TOKENS_PER_SEC = 1e9
MAX_CONTEXT_LENGTH = 2**31


def thaw(obj: Any) -> Any:
    """Plain dicts and lists of a frozen free-form tree (for JSON)."""
    if isinstance(obj, Mapping):
        return {str(k): thaw(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [thaw(v) for v in obj]
    return obj


def freeze(obj: Any) -> Any:
    """A read-only copy of a free-form tree of dicts and lists."""
    if isinstance(obj, dict):
        return MappingProxyType({k: freeze(v) for k, v in obj.items()})
    if isinstance(obj, list):
        return tuple(freeze(v) for v in obj)
    return obj


@dataclass(frozen=True)
class EmbedderInfo:
    """Which embedder a profile was built with, and its probe embeddings (the fingerprint)."""

    name: str
    dim: int
    fingerprint: str | None = None
    probe_texts: tuple[str, ...] = ()
    probe_vectors: np.ndarray | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        freeze_arrays(self, probe_vectors=np.float64)


@dataclass(frozen=True)
class ModelInfo:
    """One routable model: its cost and optional facts and, once trained, its per-cluster error
    rates with the labelled-prompt counts behind them.

    Without rates (empty arrays) it is a model to train for (what the Cactus catalog and model lists hold);
    a Profile's models all have them. ``profile.catalog.model_from_dict`` builds one from a model
    list's JSON, checking every fact against the one set of bounds (``MAX_COST`` and the rest).
    """

    id: str
    cost: float
    error_rates: np.ndarray = field(default_factory=lambda: np.zeros(0), compare=False, repr=False)
    counts: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64), compare=False, repr=False)
    size_mb: float | None = None
    tokens_per_sec: float | None = None
    context_length: int | None = None
    capabilities: frozenset[str] = frozenset({"text"})

    def __post_init__(self) -> None:
        freeze_arrays(self, error_rates=np.float64, counts=np.int64)

    @property
    def trained(self) -> bool:
        """Whether the model has error rates (and counts): empty arrays until trained."""
        return self.error_rates.size > 0

    @property
    def overall_error_rate(self) -> float:
        """The error rate over all clusters, weighted by the labelled prompts behind each.

        Raises:
            ArgumentError: the model has no error rates yet.
        """
        if not self.trained:
            raise ArgumentError(f"model {self.id!r} has no error rates yet; train a profile for it")
        total = int(self.counts.sum())
        return float((self.error_rates * self.counts).sum() / total) if total else float(self.error_rates.mean())

    def to_dict(self) -> dict[str, Any]:
        """The model's facts (and rates, when trained) as a profile stores them."""
        entry: dict[str, Any] = {"id": self.id, "cost": self.cost}
        if self.size_mb is not None:
            entry["size_mb"] = self.size_mb
        if self.tokens_per_sec is not None:
            entry["tokens_per_sec"] = self.tokens_per_sec
        if self.context_length is not None:
            entry["context_length"] = self.context_length
        entry["capabilities"] = sorted(self.capabilities)
        if self.trained:
            entry["error_rates"] = rounded(self.error_rates)
            entry["counts"] = [int(c) for c in self.counts]
        return entry


#: Kept for code written against the earlier name: a model before training is a ModelInfo.
ModelSpec = ModelInfo


def rounded(a: np.ndarray) -> Any:
    """An array as nested lists of floats rounded to 6 decimals (how profiles are saved)."""
    return np.round(np.asarray(a, dtype=np.float64), 6).tolist()


@dataclass(frozen=True)
class RoutingDefaults:
    """How a profile routes.

    Attributes:
        lambda_min, lambda_max, cost_bias: the cost knob,
            ``lambda = lambda_min + cost_bias * (lambda_max - lambda_min)``.
        temperature: 0 = a model's expected error is its rate in the nearest cluster; > 0 = a
            mix of its rates over all clusters, weighted by softmax(similarity / temperature).
        ood_threshold: a prompt whose best cluster similarity is below this is out of
            distribution (None: never); the router then applies the fallback policy.
        fallback: the model id used for out-of-distribution prompts; None = the eligible model
            with the lowest overall error rate (the most reliable).
    """

    lambda_min: float = 0.0
    lambda_max: float = 2.0
    cost_bias: float = 0.5
    temperature: float = 0.0
    ood_threshold: float | None = None
    fallback: str | None = None

    def lam(self, cost_bias: float | None = None) -> float:
        """The lambda that ``cost_bias`` (default: the profile's) stands for."""
        b = self.cost_bias if cost_bias is None else cost_bias
        return self.lambda_min + b * (self.lambda_max - self.lambda_min)


@dataclass(frozen=True)
class TierRule:
    """How a profile without tier labels derives a prompt's tier from the expected errors of the
    eligible models: Ambiguous when every one exceeds ``ambiguous_error``; else Standard when the
    cheapest one's is within ``margin`` of the best; else Complex."""

    margin: float = 0.05
    ambiguous_error: float = 0.5


@dataclass(frozen=True)
class TierCounts:
    """A profile's tiers: per cluster, how many labelled prompts of each tier it holds (columns in
    ``tiers.TIERS`` order: Standard, Complex, Ambiguous), and the rule used without them.

    Attributes:
        counts: (K, 3) integers, or None when the profile has no tier labels (the rule decides).
        smoothing: pseudo-prompts shrinking each cluster's tier shares toward the overall ones.
        rule: the thresholds of the derived rule; None = ``TierRule()``'s defaults.
    """

    counts: np.ndarray | None = field(default=None, compare=False, repr=False)
    smoothing: float = 0.0
    rule: TierRule | None = None

    def __post_init__(self) -> None:
        freeze_arrays(self, counts=np.int64)

    def probabilities(self) -> tuple[np.ndarray, np.ndarray]:
        """Per-cluster tier probabilities (K, 3), smoothed toward the overall shares, and the
        overall shares (3,) (what an out-of-distribution prompt gets).

        Raises:
            ArgumentError: the profile has no tier counts.
        """
        if self.counts is None:
            raise ArgumentError("this profile has no tier counts; train it with --tiers")
        c = self.counts.astype(np.float64)
        total = c.sum()
        overall = c.sum(axis=0) / total if total else np.full(c.shape[1], 1.0 / c.shape[1])
        n = c.sum(axis=1, keepdims=True)
        p = (c + self.smoothing * overall) / np.maximum(n + self.smoothing, 1e-12)
        return np.where(n + self.smoothing > 0, p, overall), overall
