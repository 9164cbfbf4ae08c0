"""The two legacy formats, converted on the way in: adaptive_router / Nordlys v0.1 and the
AuroraAI on-device variant (neither has an embedder fingerprint)."""

from __future__ import annotations

import os
import sys
import types
import warnings
from typing import Any

import numpy as np

from .._native import MAX_DIM, MAX_MODELS
from .model import (
    MAX_CONTEXT_LENGTH,
    MAX_COST,
    MAX_SIZE_MB,
    MAX_TOKENS_PER_SEC,
    EmbedderInfo,
    ModelInfo,
    freeze,
)
from .validate import Validator, check_ids, kind, parse_caps, parse_centroids, parse_routing


class UnverifiedEmbedderWarning(UserWarning):
    """A profile has no embedder fingerprint, so the embedding space cannot be checked."""


def _caller_stacklevel() -> int:
    """The warnings stacklevel of the first frame outside cactus_router: the user's call."""
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    frame: types.FrameType | None = sys._getframe(1)
    level = 1
    while frame is not None and os.path.abspath(frame.f_code.co_filename).startswith(here + os.sep):
        frame, level = frame.f_back, level + 1
    return level


def parse_legacy(obj: dict[str, Any], what: str) -> dict[str, Any]:
    """The Profile fields of an adaptive_router / Nordlys v0.1 or AuroraAI profile (no fingerprint)."""
    v = Validator(what)
    cc = v.obj(obj, "cluster_centers", "$")
    centroids = parse_centroids(v, cc, "$.cluster_centers", "cluster_centers")
    k, d = centroids.shape
    for key, expect in (("n_clusters", k), ("feature_dim", d)):
        if key in cc and v.integer(cc[key], f"$.cluster_centers.{key}", 1, MAX_DIM) != expect:
            raise v.fail(f"$.cluster_centers.{key}", f"is {cc[key]} but the centroids say {expect}")
    meta = v.obj(obj, "metadata", "$") if "metadata" in obj else {}
    v.free_form(meta, "$.metadata")
    raw_models = v.get(obj, "models", "$")
    if not isinstance(raw_models, list) or not 1 <= len(raw_models) <= MAX_MODELS:
        raise v.fail("$.models", f"must be an array of 1 to {MAX_MODELS} models")
    models = []
    aurora = False
    for i, m in enumerate(raw_models):
        p = f"$.models[{i}]"
        if not isinstance(m, dict):
            raise v.fail(p, f"must be an object, got {kind(m)}")
        rates = v.array(v.get(m, "error_rates", p), f"{p}.error_rates", (k,), 0.0, 1.0)
        if "model_id" in m:  # AuroraAI: on-device models, size is the cost
            aurora = True
            size = v.number(v.get(m, "size_mb", p), f"{p}.size_mb", 0.0, MAX_SIZE_MB)
            models.append(
                ModelInfo(
                    id=v.string(m["model_id"], f"{p}.model_id"),
                    cost=size,
                    error_rates=rates,
                    counts=np.zeros(k, dtype=np.int64),
                    size_mb=size,
                    tokens_per_sec=v.number(m["avg_tokens_per_sec"], f"{p}.avg_tokens_per_sec", 0.0, MAX_TOKENS_PER_SEC)
                    if "avg_tokens_per_sec" in m else None,
                    context_length=v.integer(m["context_size"], f"{p}.context_size", 1, MAX_CONTEXT_LENGTH)
                    if "context_size" in m else None,
                    capabilities=parse_caps(v, m.get("capabilities", ["text"]), f"{p}.capabilities"),
                )
            )
        else:  # Nordlys: provider/model_name, cost = mean of input and output prices
            provider = v.string(v.get(m, "provider", p), f"{p}.provider")
            name = v.string(v.get(m, "model_name", p), f"{p}.model_name")
            pin = v.number(v.get(m, "cost_per_1m_input_tokens", p), f"{p}.cost_per_1m_input_tokens", 0.0, MAX_COST)
            pout = v.number(v.get(m, "cost_per_1m_output_tokens", p), f"{p}.cost_per_1m_output_tokens", 0.0, MAX_COST)
            models.append(
                ModelInfo(id=f"{provider}/{name}", cost=(pin + pout) / 2, error_rates=rates,
                          counts=np.zeros(k, dtype=np.int64))
            )
    check_ids(v, models, "$.models")
    rmeta = meta.get("routing", {})
    if not isinstance(rmeta, dict):
        raise v.fail("$.metadata.routing", f"must be an object, got {kind(rmeta)}")
    emb_name = meta.get("embedding_model", "unknown")
    if not isinstance(emb_name, str) or not emb_name:
        raise v.fail("$.metadata.embedding_model", "must be a non-empty string")
    source = "auroraai" if aurora else "nordlys-v0.1"
    warnings.warn(
        f"{what}: a {source} profile has no embedder fingerprint; cactus-router can check only the "
        f"dimension ({d}), not that the embedder is {emb_name!r}. Convert it with "
        "'cactus-router convert' after checking, or retrain to get a fingerprint.",
        UnverifiedEmbedderWarning,
        stacklevel=_caller_stacklevel(),
    )
    return {
        "embedder": EmbedderInfo(emb_name, d),
        "centroids": centroids,
        "cluster_sizes": np.zeros(k, dtype=np.int64),
        "models": tuple(models),
        "routing": parse_routing(v, rmeta, "$.metadata.routing", "default_cost_preference", [m.id for m in models]),
        "training": freeze({"converted_from": source, "metadata": meta}),
        "source_format": source,
    }
