"""What a learned map costs per route, against the same profile without one, interleaved in one process.

    python benchmarks/map_cost.py [--rounds 15] [--calls 500]

The bundled default profile without its map (the cluster rule), and with each map ``train
--method`` can store (``cactus_router.maps``), fitted on the LLMRouter training rows it was built
from (``tools/build_default_profile.py``'s rows, embedded by the default embedder): knn-prior at
k 80, beta 10 (the largest k it tries; at most 4096 rows stored), logistic at C 10 (C does not
change the arithmetic), and the ensemble of those two with the cluster rule. Round by round, per call:
``route_embedding`` on the test embeddings (median microseconds), ``route_embeddings`` of the
whole test split (per row), and ``route`` end to end with the default embedder on the test
prompts of at most 30 words (median and p99 milliseconds over every call of every round).
Prints markdown.
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
from cactus_router.maps import Ensemble, fit_knn_prior, fit_logistic  # noqa: E402


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
    scores = score_matrix(rows, list(prof.model_ids))
    knn, logistic = fit_knn_prior(x, scores, 80, 10.0), fit_logistic(x, scores, 10.0)
    maps = {"knn-prior": knn, "logistic": logistic, "ensemble": Ensemble(logistic, knn)}
    mapped = {f"{n} map": Router(replace(prof, map=m), shipped.embedder) for n, m in maps.items()}
    vecs = np.ascontiguousarray(sources.embed(shipped.embedder, [r.prompt for r in test]), dtype=np.float32)
    one = [np.ascontiguousarray(v) for v in vecs]
    short = [r.prompt for r in test if len(r.prompt.split()) <= 30]
    plain = Router(replace(prof, map=None), shipped.embedder)
    routers = {"cluster rule (no map)": plain, **mapped}
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
    base = "cluster rule (no map)"
    print(f"default profile, {len(one)} LLMRouter test embeddings, knn-prior map of {len(knn.vectors)} rows, "
          f"{args.rounds} interleaved rounds\n")
    print("| profile | route_embedding us (median of rounds) | route_embeddings us per row | route() ms p50 / p99 |")
    print("|---|---|---|---|")
    for name in routers:
        e = np.median(emb_us[name])
        b = np.median(batch_us[name])
        print(f"| {name} | {e:.1f} ({e / np.median(emb_us[base]):.2f}x) | "
              f"{b:.1f} ({b / np.median(batch_us[base]):.2f}x) | "
              f"{np.median(e2e_ms[name]):.2f} / {np.percentile(e2e_ms[name], 99):.2f} |")
    rule = np.asarray(plain.route_embeddings(vecs).model_index)
    for name, r in mapped.items():
        same = np.mean(rule == np.asarray(r.route_embeddings(vecs).model_index))
        print(f"\n{name}: same choice as the cluster rule on {same:.1%} of the test prompts at the default cost_bias")


if __name__ == "__main__":
    main()
