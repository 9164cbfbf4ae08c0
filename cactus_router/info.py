"""What ``cactus-router info`` shows and the HTTP service's ``/v1/profile`` returns: a profile's
summary, its provenance, and whether libcactus can be loaded here."""

from __future__ import annotations

import json
from typing import Any

from .profile import Profile


def profile_summary(prof: Profile) -> dict[str, Any]:
    """A profile's embedder, clusters, models, knobs and training provenance, as JSON data."""
    from ._libcactus import libcactus_info

    models = [
        {"id": m.id, "cost": m.cost, "size_mb": m.size_mb, "capabilities": sorted(m.capabilities),
         "mean_error_rate": round(m.overall_error_rate, 4), "labelled": int(m.counts.sum())}
        for m in prof.models
    ]
    routing: dict[str, Any] = {"lambda_min": prof.routing.lambda_min, "lambda_max": prof.routing.lambda_max,
                               "cost_bias": prof.routing.cost_bias, "temperature": prof.routing.temperature,
                               "ood_threshold": prof.routing.ood_threshold, "fallback": prof.routing.fallback}
    return {
        "format": prof.source_format,
        "embedder": {"name": prof.embedder.name, "dim": prof.embedder.dim, "fingerprint": prof.embedder.fingerprint},
        "clusters": prof.k,
        "cluster_sizes": [int(s) for s in prof.cluster_sizes],
        "models": models,
        "routing": routing,
        "ood": _ood_summary(prof),
        "training": {k: v for k, v in json.loads(prof.to_json())["training"].items() if k != "metadata"},
        "libcactus": libcactus_info(),
    }


def _ood_summary(prof: Profile) -> dict[str, Any]:
    """The profile's out-of-distribution checks, without their arrays."""
    checks = prof.ood
    out: dict[str, Any] = {"similarity_threshold": prof.routing.ood_threshold, "topic": None, "script": None}
    if checks is not None and checks.topic is not None:
        t = checks.topic
        out["topic"] = {"threshold": t.threshold, "fpr": t.fpr, "store_vectors": int(t.neighbours.vectors.shape[0]),
                        "cluster_means": int(t.mahalanobis.means.shape[0]), "bytes": t.nbytes}
    if checks is not None and checks.script is not None:
        out["script"] = {"threshold": checks.script.threshold, "vocabulary": checks.script.vocabulary}
    return out
