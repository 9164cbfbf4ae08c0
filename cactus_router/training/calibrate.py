"""Fitting a profile to a user: the cost_bias that meets a budget, and adding a model without re-clustering."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from .._files import input_lines, open_input
from ..data import MAX_LINE_BYTES, MAX_TABLE_BYTES, RoutingRow, score_matrix
from ..embedders import Embedder
from ..errors import ProfileError, RouterError, RoutingTableError
from ..maps import cluster_errors
from ..profile import CAPABILITIES, ModelInfo, Profile
from ..routing import Router
from .rates import embed_rows, error_rates

#: cost_bias values tried by calibrate (steps of 0.001).
BIAS_GRID = np.round(np.linspace(0.0, 1.0, 1001), 3)

_METRICS = {
    "mean_cost": "mean_cost", "cost": "mean_cost",
    "mean_size_mb": "mean_size_mb", "size_mb": "mean_size_mb",
    "largest_share": "largest_share", "share_largest": "largest_share",
}


@dataclass(frozen=True)
class Target:
    """A budget: ``metric <= limit``, with metric one of mean_cost, mean_size_mb, largest_share."""

    metric: str
    limit: float

    @classmethod
    def parse(cls, text: str) -> Target:
        """Parse ``"mean_cost<=0.4"``, ``"mean size_mb <= 500"`` or ``"largest_share<=30%"``.

        Raises:
            ValueError: not of the form ``METRIC <= NUMBER``, or an unknown metric.
        """
        m = re.fullmatch(r"\s*([A-Za-z_ ]+?)\s*<=\s*([0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*(%?)\s*", text)
        if not m:
            raise ValueError(f"target {text!r} must read METRIC<=NUMBER, e.g. 'mean_size_mb<=500', "
                             "'largest_share<=30%' or 'mean_cost<=0.4'")
        name = re.sub(r"\s+", "_", m.group(1).strip().lower())
        if name not in _METRICS:
            raise ValueError(f"target {text!r}: unknown metric {name!r}; use mean_cost, mean_size_mb or largest_share")
        limit = float(m.group(2)) / (100.0 if m.group(3) else 1.0)
        metric = _METRICS[name]
        if m.group(3) and metric != "largest_share":
            raise ValueError(f"target {text!r}: a percentage applies to largest_share only")
        return cls(metric, limit)

    def __str__(self) -> str:
        return f"{self.metric}<={self.limit:g}"


def largest_model(profile: Profile) -> int:
    """The index of the largest model: by size_mb when every model has one, else the most expensive."""
    sizes = [m.size_mb for m in profile.models]
    key = [m.cost for m in profile.models] if any(s is None for s in sizes) else sizes
    return int(np.lexsort((np.arange(len(key)), -np.asarray(key, dtype=np.float64)))[0])


def routing_figures(profile: Profile, choices: np.ndarray) -> dict[str, Any]:
    """Mean cost, mean size_mb (when every size is known), the largest model's share, every model's share."""
    costs = np.array([m.cost for m in profile.models])
    sizes = [m.size_mb for m in profile.models]
    m = len(profile.models)
    shares = np.bincount(choices, minlength=m) / max(len(choices), 1)
    return {
        "mean_cost": float(costs[choices].mean()),
        "mean_size_mb": None if any(s is None for s in sizes)
        else float(np.asarray(sizes, dtype=float)[choices].mean()),
        "largest_model": profile.model_ids[largest_model(profile)],
        "largest_share": float(shares[largest_model(profile)]),
        "shares": {mid: round(float(s), 6) for mid, s in zip(profile.model_ids, shares)},
    }


def meets(figures: dict[str, Any], targets: Sequence[Target]) -> bool:
    """Whether the figures satisfy every target."""
    return all(figures[t.metric] is not None and figures[t.metric] <= t.limit + 1e-12 for t in targets)


def read_prompts(path: str | os.PathLike[str]) -> list[str]:
    """Prompts from a text file (one per line) or JSONL whose objects carry a ``prompt``.

    Raises:
        RoutingTableError: not a regular file, larger than MAX_TABLE_BYTES, a line longer than
            MAX_LINE_BYTES, empty, or a JSONL line without a ``prompt`` string.
    """
    p = Path(path)
    with open_input(p, "prompts file", RoutingTableError, MAX_TABLE_BYTES) as fh:
        lines = [(no, line) for no, line in input_lines(fh, str(p), RoutingTableError, limit=MAX_TABLE_BYTES,
                                                        line_limit=MAX_LINE_BYTES) if line.strip()]
    if not lines:
        raise RoutingTableError(f"{p}: no prompts")
    if not all(line.lstrip().startswith("{") for _, line in lines):
        return [line for _, line in lines]
    prompts = []
    for no, line in lines:
        try:
            obj = json.loads(line)
        except ValueError as exc:
            raise RoutingTableError(f"{p}:{no}: not valid JSON ({exc})") from None
        prompt = obj.get("prompt", obj.get("question")) if isinstance(obj, dict) else None
        if not isinstance(prompt, str) or not prompt.strip():
            raise RoutingTableError(f"{p}:{no}: expected an object with a non-empty 'prompt' string")
        prompts.append(prompt)
    return prompts


@dataclass(frozen=True)
class Calibration:
    """The chosen cost_bias, the figures it achieves on the calibration prompts, and the updated profile."""

    cost_bias: float
    targets: tuple[Target, ...]
    figures: dict[str, Any]
    prompts: int
    profile: Profile


def calibrate(profile: Profile, prompts: Sequence[str], targets: Sequence[Target | str], *,
              embedder: str | Embedder | None = None, embeddings: np.ndarray | None = None,
              source: str | None = None) -> Calibration:
    """The lowest cost_bias (the best expected quality) whose routing of ``prompts`` meets every target.

    cost_bias is tried on a grid of steps of 0.001; the result is written into a copy of the
    profile as its default cost_bias, with the achieved figures under ``training.calibration``.

    Raises:
        ValueError: no target, or a malformed one.
        ProfileError: a mean_size_mb target on a profile whose models lack size_mb.
        RouterError: no cost_bias in [0, 1] meets the targets (the figures at 1 are named).
    """
    goals = tuple(Target.parse(t) if isinstance(t, str) else t for t in targets)
    if not goals:
        raise ValueError("give at least one target, e.g. 'mean_size_mb<=500'")
    if any(g.metric == "mean_size_mb" for g in goals):
        unsized = [m.id for m in profile.models if m.size_mb is None]
        if unsized:
            raise ProfileError(f"a mean_size_mb target needs size_mb on every model; missing on {', '.join(unsized)}")
    if not prompts:
        raise RoutingTableError(f"{source or 'prompts'}: no prompts")
    router = Router.load(profile, embedder=embedder)
    emb = embed_rows(router.embedder, list(prompts)) if embeddings is None else np.asarray(embeddings, np.float32)
    figures: dict[str, Any] = {}
    for b in BIAS_GRID:
        choices = np.asarray(router.route_embeddings(emb, cost_bias=float(b)).model_index, dtype=np.int64)
        figures = routing_figures(profile, choices)
        if meets(figures, goals):
            bias = float(b)
            break
    else:
        got = ", ".join(f"{g.metric} {figures[g.metric]:.4g}" for g in goals)
        raise RouterError(f"no cost_bias in [0, 1] meets {', '.join(map(str, goals))}: at cost_bias 1 the "
                          f"{len(prompts)} prompts give {got}; loosen the target or add a cheaper model")
    facts = dict(profile.training)
    facts["calibration"] = {
        "cost_bias": bias, "targets": [str(g) for g in goals], "prompts": len(prompts),
        "source": source, "achieved": {k: (round(v, 6) if isinstance(v, float) else v) for k, v in figures.items()},
    }
    updated = replace(profile, routing=replace(profile.routing, cost_bias=bias), training=facts)
    return Calibration(bias, goals, figures, len(prompts), updated)


@dataclass(frozen=True)
class AddedModel:
    """The profile with the new model, and what its rates rest on."""

    profile: Profile
    rows: int  # labelled rows that score the model
    skipped: int  # rows without a score for it
    empty_clusters: int  # clusters none of the rows fell in (they take the model's global rate)


def add_model(
    profile: Profile,
    rows: Sequence[RoutingRow],
    model_id: str,
    cost: float,
    *,
    size_mb: float | None = None,
    capabilities: Collection[str] = ("text",),
    tokens_per_sec: float | None = None,
    context_length: int | None = None,
    embedder: str | Embedder | None = None,
    embeddings: np.ndarray | None = None,
    smoothing: float | None = None,
    source: str | None = None,
) -> AddedModel:
    """Add a model to a profile from labelled prompts, keeping the centroids (no re-clustering).

    Each labelled prompt goes to its nearest centroid (the router's assignment); the model's
    per-cluster error rates and counts are computed there exactly as training computes them. A
    learned map grows by the model too (each map's ``with_model``: logistic fits its row on these
    prompts, knn-prior's stored prompts get its cluster-rule quality).

    Args:
        rows: labelled prompts; those without a score for ``model_id`` are skipped.
        smoothing: None for the smoothing the profile was trained with (``training.smoothing``).
        embeddings: precomputed embeddings of ``rows`` (the profile's embedder).

    Raises:
        ProfileError: the model id is already in the profile.
        RoutingTableError: no row scores the model.
        ValueError: a bad cost, size or capability.
    """
    if model_id in profile.model_ids:
        raise ProfileError(f"the profile already has model {model_id!r}; pick another id or retrain")
    if isinstance(cost, bool) or not isinstance(cost, (int, float)) or not (np.isfinite(cost) and cost >= 0):
        raise ValueError(f"cost must be a finite number >= 0, got {cost!r}")
    if size_mb is not None and not (np.isfinite(size_mb) and size_mb >= 0):
        raise ValueError(f"size_mb must be a finite number >= 0, got {size_mb!r}")
    caps = frozenset(capabilities)
    if caps - CAPABILITIES:
        raise ValueError(f"unknown capability {sorted(caps - CAPABILITIES)[0]!r}; "
                         f"known: {', '.join(sorted(CAPABILITIES))}")
    keep = [i for i, r in enumerate(rows) if model_id in r.scores]
    if not keep:
        raise RoutingTableError(f"{source or 'labels'}: no row scores model {model_id!r}")
    router = Router.load(profile, embedder=embedder)
    if embeddings is None:
        emb = embed_rows(router.embedder, [rows[i].prompt for i in keep])
    else:
        emb = np.asarray(embeddings, dtype=np.float32)
        if emb.shape != (len(rows), profile.dim):
            raise ValueError(f"embeddings must have shape ({len(rows)}, {profile.dim}), got {emb.shape}")
        emb = emb[keep]
    clusters = np.asarray(router.route_embeddings(emb).cluster, dtype=np.int64)
    s = float(profile.training.get("smoothing", 0.0)) if smoothing is None else float(smoothing)
    scores = score_matrix([rows[i] for i in keep], [model_id])
    rates, counts = error_rates(clusters, scores, profile.k, s)
    new = ModelInfo(id=model_id, cost=float(cost), error_rates=rates[:, 0], counts=counts[:, 0], size_mb=size_mb,
                    tokens_per_sec=tokens_per_sec, context_length=context_length, capabilities=caps)
    facts = dict(profile.training)
    facts["added_models"] = [*facts.get("added_models", ()), {
        "id": model_id, "labels": source, "rows": len(keep), "smoothing": s,
        "assignment": "nearest centroid of the unchanged profile",
    }]
    temperature = profile.routing.temperature
    grown = None if profile.map is None else profile.map.with_model(
        emb, scores[:, 0], lambda v: 1.0 - cluster_errors(v, profile.centroids, rates, temperature)[:, 0])
    updated = replace(profile, models=(*profile.models, new), training=facts, map=grown)
    return AddedModel(updated, len(keep), len(rows) - len(keep), int((counts[:, 0] == 0).sum()))
