"""Should error rates come from prompts held out from the clustering? Measured on dev data only.

    python benchmarks/rates_holdout.py [--embedder NAME] [--seeds N]

Earlier routers estimated each cluster's error rates on the same prompts K-means was fitted on.
K-means never sees the labels, so this is not label leakage, but the clusters do adapt to those
prompts. This script compares, inside the cross-validation that ``k="auto"`` uses (3 folds of the
LLMRouter training rows, minus the test prompts; the test split is not read for scores):

- ``in-sample``: centroids and rates from all the fold's fitting rows (what ``train`` does);
- ``held-out``: centroids from a random half of them, rates from the other half only;
- ``half centroids``: centroids from one half, rates from all the fitting rows.

For each K, smoothing and temperature it prints the mean deferral area on the held-out fold,
over ``--seeds`` different fold and half splits. About a minute on 2 cores.
Progress goes to stderr.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from cactus_router.data import drop_overlap, read_table, score_matrix
from cactus_router.embedders import DEFAULT_EMBEDDER, get_embedder
from cactus_router.training import SELECTION_LAMBDAS, cv_folds, deferral_area, embed_rows, error_rates, fit_kmeans

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "data" / "llmrouter"

KS = (16, 48)
SETTINGS = [(k, s, t) for k in KS for s, t in ((0.0, 0.0), (2.0, 0.05), (5.0, 0.05))]
VARIANTS = ("in-sample", "held-out", "half centroids")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--embedder", default=DEFAULT_EMBEDDER)
    parser.add_argument("--seeds", type=int, default=2)
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT / "tools"))
    from build_default_profile import llmrouter_models  # the default profile's models and costs

    test = read_table(DATA / "test.json")
    rows = drop_overlap(read_table(DATA / "train.json"), test)
    models = llmrouter_models(rows)
    costs = np.array([m["cost"] for m in models])
    scores = score_matrix(rows, [m["id"] for m in models])
    x = embed_rows(get_embedder(args.embedder), [r.prompt for r in rows])
    areas: dict[tuple[int, float, float, str], list[float]] = {}
    for seed in range(args.seeds):
        for fold, (fit, val) in enumerate(cv_folds(len(x), 3, seed)):
            print(f"seed {seed}, fold {fold}", file=sys.stderr, flush=True)
            val = val[~np.isnan(scores[val]).any(axis=1)]
            perm = np.random.default_rng(seed).permutation(fit)
            h1, h2 = perm[: len(perm) // 2], perm[len(perm) // 2 :]
            # one K-means per K (all rows of the fit folds, and their first half), shared by its settings
            fits = {k: (fit_kmeans(x[fit], k, seed), fit_kmeans(x[h1], k, seed)[0]) for k in KS}
            for k, s, t in SETTINGS:
                (cent_all, labels_all), cent_half = fits[k]
                variants = {
                    "in-sample": (cent_all, error_rates(labels_all, scores[fit], k, s)[0]),
                    "held-out": (cent_half, error_rates(np.argmax(x[h2] @ cent_half.T, axis=1), scores[h2], k, s)[0]),
                    "half centroids": (
                        cent_half, error_rates(np.argmax(x[fit] @ cent_half.T, axis=1), scores[fit], k, s)[0]),
                }
                for name, (cent, rates) in variants.items():
                    a = deferral_area(cent, rates, costs, x[val], scores[val], t, SELECTION_LAMBDAS)
                    areas.setdefault((k, s, t, name), []).append(a)

    print(f"Mean cross-validated deferral area on the LLMRouter training rows ({args.embedder}, "
          f"{args.seeds} seed(s) x 3 folds).\n")
    print("| K | smoothing | temperature | " + " | ".join(VARIANTS) + " |")
    print("|---|---|---|" + "---|" * len(VARIANTS))
    for k, s, t in SETTINGS:
        cells = " | ".join(f"{np.mean(areas[(k, s, t, v)]):.4f}" for v in VARIANTS)
        print(f"| {k} | {s:g} | {t:g} | {cells} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
