"""A 1 MB prompt costs about as much as the truncated prompt the embedder actually reads.

    pytest benchmarks/test_bench_long_prompts.py --benchmark-only

Each ``test_route_1mb[embedder]`` is paired with ``test_route_1mb_reference[embedder]``, which
routes only what truncation keeps (the head and tail); benchmarks/conftest.py prints the ratio
(a "speed-up" just below 1 means the 1 MB prompt costs a little more, for reading and
encoding it once). ``test_cost_ratio_1mb_over_truncated`` also checks, in the same run, that the
ratio stays bounded: without truncation it would grow with the prompt (hundreds of times for
the default MiniLM embedder, which would tokenise and attend over the whole megabyte).
Embedders: ``hash`` (on a random profile) and ``default`` (the default profile and embedder).
"""

from __future__ import annotations

import statistics
import time

import pytest

from cactus_router import Router
from cactus_router._native import HASH_MAX_BYTES
from cactus_router.embedders import PROBE_TEXTS
from cactus_router.embedders.hashing import HashEmbedder
from cactus_router.embedders.minilm import MAX_CHARS_EACH_END

MB = 1 << 20
#: A 1 MB prompt may cost at most this many times its truncated form (measured: about 1.1-2x).
MAX_RATIO = 10.0

TEXT = ("The quarterly report shows revenue growth in every region except the north, where a "
        "supplier dispute delayed shipments. ")
LONG = (TEXT * (MB // len(TEXT) + 1))[:MB]


def _truncated(embedder: str) -> str:
    """What the embedder reads of LONG: its head and tail."""
    if embedder == "hash":
        half = HASH_MAX_BYTES // 2  # ASCII: bytes are characters
        return LONG[:half] + LONG[-half:]
    return LONG[:MAX_CHARS_EACH_END] + " " + LONG[-MAX_CHARS_EACH_END:]


def _router(embedder: str) -> Router:
    if embedder == "default":
        return Router.load("default")
    import numpy as np

    from cactus_router import Profile
    from cactus_router.profile import EmbedderInfo, ModelInfo

    emb = HashEmbedder(512)
    rng = np.random.default_rng(0)
    k = 16
    info = EmbedderInfo(emb.name, emb.dim, emb.fingerprint, tuple(PROBE_TEXTS), emb.probe_embeddings())
    models = tuple(ModelInfo(id=f"m{j}", cost=float(j + 1), error_rates=rng.random(k), counts=np.full(k, 10))
                   for j in range(8))
    return Router(Profile(info, rng.normal(size=(k, emb.dim)), np.full(k, 10), models), emb)


_ROUTERS: dict[str, Router] = {}


def router_for(embedder: str) -> Router:
    if embedder not in _ROUTERS:
        _ROUTERS[embedder] = _router(embedder)
    return _ROUTERS[embedder]


@pytest.mark.parametrize("embedder", ["hash", "default"])
def test_route_1mb(benchmark, embedder):
    """Route a 1 MB prompt."""
    router = router_for(embedder)
    d = benchmark(router.route, LONG)
    assert d.model in router.profile.model_ids


@pytest.mark.parametrize("embedder", ["hash", "default"])
def test_route_1mb_reference(benchmark, embedder):
    """Route only the part of the 1 MB prompt that truncation keeps."""
    router = router_for(embedder)
    d = benchmark(router.route, _truncated(embedder))
    assert d.model in router.profile.model_ids


def _median_seconds(fn, arg, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn(arg)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


@pytest.mark.parametrize("embedder", ["hash", "default"])
def test_cost_ratio_1mb_over_truncated(benchmark, embedder):
    """Routing 1 MB costs at most MAX_RATIO times routing its truncated form, both measured in this run."""
    router = router_for(embedder)
    short = _truncated(embedder)
    router.route(LONG)  # warm up
    repeat = 30 if embedder == "default" else 200
    ratio = benchmark.pedantic(
        lambda: _median_seconds(router.route, LONG, repeat) / _median_seconds(router.route, short, repeat),
        rounds=3, iterations=1,
    )
    benchmark.extra_info["ratio_1mb_over_truncated"] = round(ratio, 2)
    print(f"\n{embedder}: routing 1 MB costs {ratio:.2f}x its truncated form")
    assert ratio < MAX_RATIO
