"""What the out-of-distribution checks cost per route, as ratios against routing without them.

    python benchmarks/ood_cost.py [--rounds 15] [--calls 2000]

The bundled default profile routes the embeddings of the LLMRouter test prompts twice, interleaved
round by round in this one process: as shipped (its "ood" checks) and with the checks removed (the
similarity threshold it would otherwise hold, ``training.ood`` in the profile, put back). Per round,
the median microseconds per ``route_embedding`` call of each; the script prints the median over
rounds and their ratio, and the same for ``route_embeddings`` of the whole test split (per row),
for the topic score alone in C (``TopicDetector.familiarity_one``: with the threshold as its
cutoff, as a route calls it, and with every value exact) and in NumPy (``familiarity_reference``
on one row), so that the C score's worth is measured too; then how many test prompts a bound
decides (csrc/cr_ood.c). Last, how many test prompts each flags and how many decisions the topic
check changes at cost_bias 0, 0.5 and 1 (with the quality of each choice, from the test split's
scores).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np

from cactus_router import Router
from cactus_router.data import read_table, score_matrix
from cactus_router.training import embed_rows

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "data" / "llmrouter"


def per_call(fn: Callable[[int], object], calls: int, n: int) -> float:
    """Microseconds per call of ``fn(i)`` over ``calls`` calls cycling through ``n`` inputs."""
    t0 = time.perf_counter()
    for i in range(calls):
        fn(i % n)
    return (time.perf_counter() - t0) / calls * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--calls", type=int, default=2000)
    args = parser.parse_args()
    shipped = Router.load("default")
    prof = shipped.profile
    if prof.ood is None or prof.ood.topic is None:
        raise SystemExit("the default profile has no topic check: nothing to measure")
    centroid = prof.training["ood"]["similarity_threshold"]
    bare = Router(replace(prof, ood=None, routing=replace(prof.routing, ood_threshold=centroid)), shipped.embedder)
    test = read_table(DATA / "test.json")
    prompts = [r.prompt for r in test]
    vecs = embed_rows(shipped.embedder, prompts)
    rows = [np.ascontiguousarray(v) for v in vecs]
    topic = prof.ood.topic
    cases: dict[str, Callable[[int], object]] = {
        "route_embedding, shipped": lambda i: shipped.route_embedding(rows[i]),
        "route_embedding, without the checks": lambda i: bare.route_embedding(rows[i]),
        "topic score in C": lambda i: topic.familiarity_one(rows[i], topic.threshold),
        "topic score in C, every value exact": lambda i: topic.familiarity_one(rows[i], 1.0),
        "topic score in NumPy (one row)": lambda i: topic.familiarity_reference(vecs[i : i + 1]),
    }
    batch = {"route_embeddings per row, shipped": shipped, "route_embeddings per row, without the checks": bare}
    times: dict[str, list[float]] = {name: [] for name in [*cases, *batch]}
    for fn in cases.values():
        per_call(fn, 200, len(rows))  # warm up
    for _ in range(args.rounds):
        for name, fn in cases.items():
            calls = args.calls if "NumPy" not in name else args.calls // 10
            times[name].append(per_call(fn, calls, len(rows)))
        for name, router in batch.items():
            t0 = time.perf_counter()
            router.route_embeddings(vecs)
            times[name].append((time.perf_counter() - t0) / len(vecs) * 1e6)
    med = {name: float(np.median(t)) for name, t in times.items()}
    flagged = int((~shipped.route_embeddings(vecs).in_distribution).sum())
    print(f"default profile, {len(rows)} LLMRouter test embeddings ({flagged} flagged as an unseen topic), "
          f"{args.rounds} interleaved rounds; median us per call")
    print("| call | us | ratio |\n|---|---|---|")
    base = {"route_embedding": med["route_embedding, without the checks"],
            "route_embeddings": med["route_embeddings per row, without the checks"]}
    for name, us in med.items():
        ref = base["route_embeddings" if name.startswith("route_embeddings") else "route_embedding"]
        print(f"| {name} | {us:.1f} | {us / ref:.2f}x |")
    early = sum(topic.familiarity_one(v, topic.threshold) != topic.familiarity_one(v, 1.0) for v in rows)
    print(f"the topic score's familiarity decided by a bound (not computed exactly): {early} of {len(rows)}")
    scores = score_matrix(test, list(prof.model_ids))
    for bias in (0.0, 0.5, 1.0):
        a, b = bare.route_embeddings(vecs, cost_bias=bias), shipped.route_embeddings(vecs, cost_bias=bias)
        qa, qb = (float(np.nanmean(scores[np.arange(len(vecs)), np.asarray(x.model_index)])) for x in (a, b))
        print(f"cost_bias {bias:g}: flagged {int((~a.in_distribution).sum())} with the similarity threshold, "
              f"{int((~b.in_distribution).sum())} with the topic check; "
              f"{int((np.asarray(a.model_index) != np.asarray(b.model_index)).sum())} decisions differ; "
              f"mean quality {qa:.4f} -> {qb:.4f}")


if __name__ == "__main__":
    main()
