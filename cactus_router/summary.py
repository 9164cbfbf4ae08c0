"""What ``cactus-router info --json`` and the service's ``GET /v1/profile`` say about a profile."""

from __future__ import annotations

import json
from typing import Any

from .profile import Profile


def profile_summary(profile: Profile) -> dict[str, Any]:
    """The profile as JSON data: embedder, clusters, models with their mean error rates, routing
    defaults, training provenance (without its free-form metadata) and where libcactus is."""
    from .embedders.cactus import libcactus_info

    models = [
        {"id": m.id, "cost": m.cost, "size_mb": m.size_mb, "capabilities": sorted(m.capabilities),
         "mean_error_rate": round(m.overall_error_rate, 4), "labelled": int(m.counts.sum())}
        for m in profile.models
    ]
    training = {k: v for k, v in json.loads(profile.to_json())["training"].items() if k != "metadata"}
    return {
        "format": profile.source_format,
        "embedder": {"name": profile.embedder.name, "dim": profile.embedder.dim,
                     "fingerprint": profile.embedder.fingerprint},
        "clusters": profile.k,
        "cluster_sizes": [int(s) for s in profile.cluster_sizes],
        "models": models,
        "routing": {"lambda_min": profile.routing.lambda_min, "lambda_max": profile.routing.lambda_max,
                    "cost_bias": profile.routing.cost_bias},
        "training": training,
        "libcactus": libcactus_info(),
    }
