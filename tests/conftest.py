"""Shared fixtures: small profiles built in memory, with the hash embedder."""

from __future__ import annotations

import numpy as np
import pytest

from cactus_router import Profile
from cactus_router.embedders.hashing import HashEmbedder
from cactus_router.profile import EmbedderInfo, ModelInfo


def make_profile(k=4, d=8, m=3, seed=0, embedder=None, costs=None, sizes=None, caps=None):
    """A random valid profile; with ``embedder`` its fingerprint is recorded."""
    rng = np.random.default_rng(seed)
    cent = rng.normal(size=(k, d))
    if embedder is not None:
        info = EmbedderInfo(embedder.name, embedder.dim, embedder.fingerprint,
                            tuple(__import__("cactus_router").embedders.PROBE_TEXTS), embedder.probe_embeddings())
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


@pytest.fixture(scope="session")
def hash_embedder():
    return HashEmbedder(64)


@pytest.fixture()
def hash_profile(hash_embedder):
    return make_profile(k=4, d=64, m=3, embedder=hash_embedder)
