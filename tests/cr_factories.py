"""Builders of small valid profiles for the tests (imported by conftest.py and test modules)."""

from __future__ import annotations

import numpy as np

from cactus_router import Profile
from cactus_router.data import RoutingRow
from cactus_router.embedders import PROBE_TEXTS
from cactus_router.profile import EmbedderInfo, ModelInfo


def make_profile(k=4, d=8, m=3, seed=0, embedder=None, costs=None, sizes=None, caps=None):
    """A random valid profile; with ``embedder`` its fingerprint is recorded."""
    rng = np.random.default_rng(seed)
    cent = rng.normal(size=(k, d))
    if embedder is not None:
        info = EmbedderInfo(embedder.name, embedder.dim, embedder.fingerprint,
                            PROBE_TEXTS, embedder.probe_embeddings())
    else:
        info = EmbedderInfo("test-space", d)
    models = tuple(
        ModelInfo(
            id=f"m{j}",
            cost=float(j + 1) if costs is None else costs[j],
            error_rates=rng.random(k),
            counts=rng.integers(1, 50, size=k),
            size_mb=None if sizes is None else sizes[j],
            capabilities=frozenset({"text"}) if caps is None else caps[j],
        )
        for j in range(m)
    )
    return Profile(info, cent, rng.integers(1, 100, size=k), models)


def chat_and_math_rows(n=60, offset=0):
    """Two kinds of prompt, alternating: the small model is right on greetings, only the big one on maths."""
    rows = []
    for i in range(offset, offset + n):
        if i % 2:
            rows.append(RoutingRow(f"hello friend number {i}, how are you today?", {"small": 1.0, "big": 1.0}, "chat"))
        else:
            rows.append(RoutingRow(f"integrate x^{i} dx and differentiate sin({i}x)", {"small": 0.0, "big": 1.0},
                                   "math"))
    return rows
