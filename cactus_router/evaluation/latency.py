"""Routing latency: prompts routed one at a time through the public API, the learned baselines' scoring beside it."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ..routing import Router
from . import baselines as bl

#: Calls before the timed ones: first calls pay one-off costs (allocations, caches).
WARM_UP = 3


def percentiles(ms: np.ndarray) -> dict[str, float]:
    """p50, p95, p99 and the mean of ``ms``."""
    return {"p50": float(np.percentile(ms, 50)), "p95": float(np.percentile(ms, 95)),
            "p99": float(np.percentile(ms, 99)), "mean": float(ms.mean())}


def route_times(router: Router, prompts: Sequence[str]) -> dict[str, np.ndarray]:
    """Embedding, scoring and total milliseconds of ``Router.route`` on each prompt, after WARM_UP calls."""
    for prompt in prompts[:WARM_UP]:
        router.route(prompt)
    timed = [router.route(prompt) for prompt in prompts]
    out = {"embed": np.array([d.embed_ms for d in timed]), "score": np.array([d.score_ms for d in timed])}
    out["total"] = out["embed"] + out["score"]
    return out


def baseline_times(model: bl.QualityModel, emb: np.ndarray, costs: np.ndarray, lam: float) -> np.ndarray:
    """Milliseconds for a learned baseline to predict and pick a model, one embedding at a time."""
    ms = []
    for i in range(len(emb)):
        s0 = time.perf_counter()
        bl.pick(model.predict(emb[i : i + 1]), costs, lam)
        ms.append((time.perf_counter() - s0) * 1e3)
    return np.array(ms)


def measure_latency(router: Router, prompts: Sequence[str], emb: np.ndarray, sample: np.ndarray,
                    learned: Mapping[str, bl.QualityModel], model_costs: np.ndarray, cost_bias: float,
                    batch_embed_ms: float | None) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Latency percentiles on the rows ``sample`` (the summary's "latency"), and every timing by name.

    ``prompts`` and ``emb`` are every row's prompt and embedding; ``batch_embed_ms`` is the
    embedding time per prompt of the whole batch (None: the embeddings were given). An empty
    sample measures nothing.
    """
    if not len(sample):
        return {}, {}
    latency_ms = route_times(router, [prompts[int(i)] for i in sample])
    latency: dict[str, Any] = {
        "sample": len(sample),
        "method": f"Router.route, one prompt at a time, after {WARM_UP} warm-up calls",
        "embed_ms": percentiles(latency_ms["embed"]),
        "score_ms": percentiles(latency_ms["score"]),
        "total_ms": percentiles(latency_ms["total"]),
    }
    lam = router.profile.routing.lam(cost_bias)
    for name, model in learned.items():
        ms = baseline_times(model, emb[sample], model_costs, lam)
        latency_ms[f"score:{name}"] = ms
        latency.setdefault("baseline_score_ms", {})[name] = percentiles(ms)
    s0 = time.perf_counter()
    router.route_embeddings(emb, cost_bias=cost_bias)
    n = len(emb)
    latency["batch"] = {"rows": n, "score_ms_per_prompt": (time.perf_counter() - s0) * 1e3 / n,
                        "embed_ms_per_prompt": batch_embed_ms}
    return latency, latency_ms

