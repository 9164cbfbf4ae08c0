"""What a learned map costs per route, against the same profile without it, interleaved in one process.

    python benchmarks/map_cost.py [--rounds 15] [--calls 500]

The bundled default profile, and the same profile with a knn-prior map (``cactus_router.maps``,
k 80, beta 10, the largest setting ``train --method`` tries) fitted on the LLMRouter training rows
it was built from (``tools/build_default_profile.py``'s rows, at most 4096 stored, embedded by the
default embedder). Round by round, per call: ``route_embedding`` on the test embeddings (median
microseconds), ``route_embeddings`` of the whole test split (per row), and ``route`` end to end
with the default embedder on the test prompts of at most 30 words (median and p99 milliseconds
over every call of every round). Prints markdown.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import sources  # noqa: E402

from cactus_router import Router  # noqa: E402
from cactus_router.data import score_matrix  # noqa: E402
from cactus_router.maps import fit_knn_prior  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--calls", type=int, default=500)
    args = parser.parse_args()
    shipped = Router.load("default")
    prof = shipped.profile
    rows, test = sources.split(sources.load("llmrouter"), 0)
    print(f"embedding {len(rows)} training and {len(test)} test prompts", file=sys.stderr, flush=True)
    x = sources.embed(shipped.embedder, [r.prompt for r in rows])
    mapped = Router(replace(prof, map=fit_knn_prior(x, score_matrix(rows, list(prof.model_ids)), 80, 10.0)),
                    shipped.embedder)
    vecs = np.ascontiguousarray(sources.embed(shipped.embedder, [r.prompt for r in test]), dtype=np.float32)
    one = [np.ascontiguousarray(v) for v in vecs]
    short = [r.prompt for r in test if len(r.prompt.split()) <= 30]
    routers = {"without a map (as shipped)": shipped, "with a knn-prior map": mapped}
    emb_us: dict[str, list[float]] = {n: [] for n in routers}
    batch_us: dict[str, list[float]] = {n: [] for n in routers}
    e2e_ms: dict[str, list[float]] = {n: [] for n in routers}
    for r in routers.values():
        for v in one[:50]:
            r.route_embedding(v)
    for _ in range(args.rounds):
        for name, r in routers.items():
            t = []
            for i in range(args.calls):
                t0 = time.perf_counter()
                r.route_embedding(one[i % len(one)])
                t.append(time.perf_counter() - t0)
            emb_us[name].append(float(np.median(t)) * 1e6)
            t0 = time.perf_counter()
            r.route_embeddings(vecs)
            batch_us[name].append((time.perf_counter() - t0) / len(vecs) * 1e6)
            for p in short[:40]:
                t0 = time.perf_counter()
                r.route(p)
                e2e_ms[name].append((time.perf_counter() - t0) * 1e3)
    base = "without a map (as shipped)"
    print(f"default profile, {len(one)} LLMRouter test embeddings, map of {len(mapped.profile.map.vectors)} rows, "
          f"{args.rounds} interleaved rounds\n")
    print("| profile | route_embedding us (median of rounds) | route_embeddings us per row | route() ms p50 / p99 |")
    print("|---|---|---|---|")
    for name in routers:
        e = np.median(emb_us[name])
        b = np.median(batch_us[name])
        print(f"| {name} | {e:.1f} ({e / np.median(emb_us[base]):.2f}x) | "
              f"{b:.1f} ({b / np.median(batch_us[base]):.2f}x) | "
              f"{np.median(e2e_ms[name]):.2f} / {np.percentile(e2e_ms[name], 99):.2f} |")
    same = np.mean(np.asarray(shipped.route_embeddings(vecs).model_index)
                   == np.asarray(mapped.route_embeddings(vecs).model_index))
    print(f"\nsame choice on {same:.1%} of the test prompts at the default cost_bias")


if __name__ == "__main__":
    main()
