"""One Router shared by many threads decides exactly as a sequential run; collecting routers meanwhile is safe."""

from __future__ import annotations

import gc
import random
import threading

import pytest
from cr_factories import make_profile

from cactus_router import Router
from cactus_router.embedders.hashing import HashEmbedder

THREADS = 8
PROMPTS = 10_000
WORDS = ("route", "model", "cheap", "quality", "SQL", "poem", "math", "France", "capital", "proof", "sum", "python",
         "translate", "summarise", "emoji 😀", "مرحبا", "שלום", "法国")


def _prompts(n: int) -> list[str]:
    rng = random.Random(7)
    return [f"{i} " + " ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 12))) for i in range(n)]


def _call(i: int) -> dict:
    """Per-prompt constraints, so threads also race on the router's mask cache (more than its 256 entries)."""
    kind = i % 4
    if kind == 0:
        return {}
    if kind == 1:
        return {"cost_bias": (i % 11) / 10}
    if kind == 2:
        return {"max_size_mb": float(100 + i % 400)}  # 400 distinct keys: the cache is cleared while in use
    return {"allow": ["m0", "m2", "m3"] if i % 3 else ["m1"], "require": ["text"]}


def _key(d) -> tuple:
    """What a Decision decided (not its timings)."""
    return (d.model, d.cluster, d.similarity, d.margin, d.expected_error, d.cost, d.score, d.ranking, d.cost_bias)


@pytest.fixture(scope="module")
def shared():
    emb = HashEmbedder(128)
    profile = make_profile(k=16, d=128, m=5, embedder=emb, seed=11, sizes=[50.0, 120.0, 300.0, 450.0, 800.0])
    router = Router(profile, emb)
    prompts = _prompts(PROMPTS)
    expected = [_key(router.route(p, **_call(i))) for i, p in enumerate(prompts)]
    return router, prompts, expected


def _run_threads(target, n: int) -> None:
    errors: list[BaseException] = []
    start = threading.Barrier(n)

    def wrapped(t: int) -> None:
        try:
            start.wait()
            target(t)
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread
            errors.append(exc)

    threads = [threading.Thread(target=wrapped, args=(t,)) for t in range(n)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    if errors:
        raise errors[0]


def test_eight_threads_route_ten_thousand_prompts_each_like_a_sequential_run(shared):
    """8 threads x 10,000 prompts (each thread in its own order) give exactly the sequential decisions."""
    router, prompts, expected = shared
    mismatches = [0] * THREADS
    routed = [0] * THREADS

    def work(t: int) -> None:
        order = list(range(PROMPTS))
        random.Random(t).shuffle(order)
        for i in order:
            if _key(router.route(prompts[i], **_call(i))) != expected[i]:
                mismatches[t] += 1
            routed[t] += 1

    _run_threads(work, THREADS)
    assert routed == [PROMPTS] * THREADS
    assert mismatches == [0] * THREADS


def test_route_many_from_many_threads_matches_route(shared):
    """Batches routed concurrently (one C call each) equal the sequential single-prompt decisions."""
    router, prompts, expected = shared
    batch = list(range(0, PROMPTS, 4))[:1000]  # the unconstrained calls (i % 4 == 0)

    def work(t: int) -> None:
        for _ in range(3):
            got = router.route_many([prompts[i] for i in batch])
            assert [_key(d) for d in got] == [expected[i] for i in batch]

    _run_threads(work, 4)


def test_routers_collected_while_others_route_are_safe(shared):
    """Routers built and garbage-collected (freeing their C index) in 4 threads never disturb 4 routing threads."""
    router, prompts, expected = shared
    stop = threading.Event()
    built = [0]

    def churn() -> None:
        emb = router.embedder
        while not stop.is_set():
            r = Router(router.profile, emb)
            r.route(prompts[built[0] % PROMPTS])
            del r
            built[0] += 1
            if built[0] % 20 == 0:
                gc.collect()

    def work(t: int) -> None:
        if t >= 4:
            churn()
            return
        try:
            for i in range(t, 3000, 4):
                assert _key(router.route(prompts[i], **_call(i))) == expected[i]
        finally:
            if t == 0:
                stop.set()

    _run_threads(work, 8)
    assert built[0] > 0
