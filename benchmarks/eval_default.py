"""The README's evaluation figures: the default profile on the LLMRouter test split, baselines beside it.

    python benchmarks/eval_default.py [--out DIR] [--latency-sample N]

Embeds the 500 test prompts and the 5,489 training prompts (train minus the 119 that also appear
in test) once with the profile's embedder (about 2 minutes on 2 cores), then:
1. ``evaluate``: the profile router, every baseline (kNN and logistic trained on that training
   split), writing results.json, summary.json, the CSVs, the charts and report.html to DIR;
2. add-model: each model in turn is removed from the profile and added back from 300 labelled
   training prompts (and from all of them), without re-clustering; its rates and the test-split
   curve are compared with the profile's own (a full training run on the same rows);
3. calibrate: the cost_bias meeting a mean-cost budget on half the test prompts, checked on the
   other half;
4. hindsight bounds: the cluster rule (hard assignment) and a router told each prompt's task,
   with error rates from train and, as an upper bound no router can use, from the test rows
   themselves.
Prints markdown tables on stdout; progress goes to stderr.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np

from cactus_router import Profile, Router
from cactus_router.data import drop_overlap, read_table, score_matrix
from cactus_router.evaluation import SINGLES, curve_metrics, evaluate
from cactus_router.evaluation.baselines import picks
from cactus_router.metrics import choices_curve, cost_matrix
from cactus_router.report import markdown_table, write_outputs
from cactus_router.training import add_model, calibrate, embed_rows, error_rates, fit_kmeans, routing_figures

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "data" / "llmrouter"
ADD_MODEL_LABELS = 300
SEED = 0


def progress(stage: str):
    def report(done: int, total: int) -> None:
        print(f"\r{stage}: {done}/{total}", end="\n" if done >= total else "", file=sys.stderr, flush=True)

    return report


def embeddings(embedder, rows, stage: str, cache: str | None, name: str) -> np.ndarray:
    """Embed rows, or load them from ``cache`` when it holds this embedder's embeddings of these rows."""
    path = None if cache is None else Path(cache) / f"{name}-{embedder.fingerprint}-{len(rows)}.npy"
    if path is not None and path.exists():
        return np.load(path)
    out = embed_rows(embedder, [r.prompt for r in rows], progress(stage))
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        np.save(path, out)
    return out


def curve_of(profile: Profile, test, emb: np.ndarray, embedder) -> dict:
    """The profile router's curve figures on the test split (no baselines, no latency)."""
    ev = evaluate(profile, test, embedder=embedder, embeddings=emb, latency_sample=0)
    return ev.summary["curves"]["cactus-router"]


def report_evaluation(profile: Profile, test, train, test_emb, train_emb, embedder, args) -> dict:
    """1. The evaluation with every baseline; writes DIR and prints its table. Returns the summary."""
    ev = evaluate(profile, test, embedder=embedder, train_rows=train, embeddings=test_emb, train_embeddings=train_emb,
                  latency_sample=args.latency_sample, seed=SEED)
    ev.summary.update(profile="default", data="data/llmrouter/test.json", train="data/llmrouter/train.json")
    write_outputs(ev, args.out, report=True)
    s = ev.summary
    ref = s["reference"]
    print(f"### The default profile on the LLMRouter test split ({s['rows']} prompts, {len(s['models'])} models)\n")
    print(f"Operating point: cost_bias {s['primary_cost_bias']:g}. Best single model: {ref['best_single']} "
          f"(quality {ref['best_single_quality']:.3f}); per-prompt oracle {ref['oracle_quality']:.3f}. "
          f"kNN k = {s['learned_baselines']['knn']['k']}, logistic C = {s['learned_baselines']['logistic']['C']:g} "
          "(chosen on a validation split of train).\n")
    print(markdown_table(s))
    lat = s["latency"]
    print(f"\nLatency per prompt ({lat['sample']} prompts, Router.route one at a time): embedding p50/p95/p99 "
          f"{lat['embed_ms']['p50']:.1f}/{lat['embed_ms']['p95']:.1f}/{lat['embed_ms']['p99']:.1f} ms, scoring "
          f"{lat['score_ms']['p50'] * 1e3:.0f}/{lat['score_ms']['p95'] * 1e3:.0f}/{lat['score_ms']['p99'] * 1e3:.0f} us"
          f"; batched scoring {lat['batch']['score_ms_per_prompt'] * 1e3:.1f} us per prompt.")
    return s


def report_add_model(profile: Profile, test, train, test_emb, train_emb, embedder, base: dict) -> None:
    """2. add-model against the full training run (``base``: its curve), model by model."""
    rng = np.random.default_rng(SEED)
    print(f"\n### add-model versus a full retrain\n\nEach model removed from `default`"
          f"{'' if profile.map is None else ' without its map (the cluster rule)'} and added back with "
          f"`add_model` (centroids unchanged) from {ADD_MODEL_LABELS} random training prompts, or from all "
          f"{len(train)}. Rate gap: mean absolute difference from the full run's per-cluster error rates, weighted "
          f"by cluster size. Test-split curve of the rebuilt profile; the full run's: area {base['area']:.3f}, "
          f"QNC {base['qnc']:.3f}, best quality {base['best_quality']:.3f}.\n")
    print("| model | labels | rate gap | area | QNC | best quality |\n|---|---|---|---|---|---|")
    weights = profile.cluster_sizes / profile.cluster_sizes.sum()
    # restore the original model order, so ties break as in the profile
    order = {mid: i for i, mid in enumerate(profile.model_ids)}
    for j, m in enumerate(profile.models):
        without = replace(profile, models=tuple(x for x in profile.models if x.id != m.id))
        for n in (ADD_MODEL_LABELS, len(train)):
            pick = np.sort(rng.choice(len(train), n, replace=False)) if n < len(train) else np.arange(len(train))
            added = add_model(without, [train[i] for i in pick], m.id, m.cost, embedder=embedder,
                              embeddings=train_emb[pick])
            rebuilt = replace(added.profile, models=tuple(sorted(added.profile.models, key=lambda x: order[x.id])))
            gap = float((weights * np.abs(rebuilt.models[j].error_rates - m.error_rates)).sum())
            c = curve_of(rebuilt, test, test_emb, embedder)
            qnc = "not reached" if c["qnc"] is None else f"{c['qnc']:.3f}"
            print(f"| {m.id} | {n} | {gap:.3f} | {c['area']:.3f} | {qnc} | {c['best_quality']:.3f} |")

    _, labels = fit_kmeans(train_emb, profile.k, int(profile.training.get("seed", SEED)))
    nearest = np.asarray(Router(profile, embedder).route_embeddings(train_emb).cluster)
    print(f"\nTraining labels each prompt with its nearest centroid, as the router and add-model do: "
          f"{np.mean(nearest != labels):.1%} of the training prompts route to a cluster other than their "
          "training label (float rounding between the C core and NumPy can only split near-ties).")


def report_calibration(profile: Profile, test, test_emb, embedder) -> None:
    """3. calibrate on half the test prompts, check on the other half."""
    order = np.random.default_rng(SEED).permutation(len(test))
    half = len(test) // 2
    print("\n### calibrate on held-out prompts\n\n| target | cost_bias | on the 250 calibration prompts | "
          "on the 250 held-out prompts |\n|---|---|---|---|")
    for target in ("mean_cost<=0.3", "mean_cost<=0.2", "largest_share<=10%"):
        res = calibrate(profile, [test[i].prompt for i in order[:half]], [target], embedder=embedder,
                        embeddings=test_emb[order[:half]])
        held = Router(res.profile, embedder=embedder).route_embeddings(test_emb[order[half:]]).model_index
        got = routing_figures(profile, np.asarray(held))
        key = "mean_cost" if target.startswith("mean_cost") else "largest_share"
        print(f"| `{target}` | {res.cost_bias:g} | {key} {res.figures[key]:.3f} | {key} {got[key]:.3f} |")


def report_hindsight(profile: Profile, test, train, test_emb, train_emb) -> None:
    """4. What rates fitted on the test rows themselves would give: a bound, not a router."""
    costs = np.array([m.cost for m in profile.models])
    tr_scores, te_scores = score_matrix(train, profile.model_ids), score_matrix(test, profile.model_ids)
    target = float(te_scores.mean(axis=0).max())

    def figures(test_errors: np.ndarray) -> str:
        c = curve_metrics(choices_curve(picks(1.0 - test_errors, costs), te_scores, cost_matrix(len(test), costs)),
                          target)
        return f"{c['area']:.3f} | {c['best_quality']:.3f}"

    print("\n### Hindsight bounds on the test split\n\nHard assignment; rates from the training rows (smoothing "
          f"{profile.training['smoothing']:g}) or from the test rows themselves (no smoothing), which no router can "
          "use.\n\n| groups | rates from train: area | best quality | rates from test (bound): area | best quality |"
          "\n|---|---|---|---|---|")
    for k in (8, 16, 32, profile.k):
        cent, tr_labels = fit_kmeans(train_emb, k, SEED)
        te_labels = np.argmax(test_emb @ cent.T, axis=1)
        fitted = error_rates(tr_labels, tr_scores, k, float(profile.training["smoothing"]))[0]
        print(f"| K = {k} clusters | {figures(fitted[te_labels])} | "
              f"{figures(error_rates(te_labels, te_scores, k)[0][te_labels])} |")
    names = sorted({r.task for r in test} | {r.task for r in train}, key=str)
    tr_tasks = np.array([names.index(r.task) for r in train])
    te_tasks = np.array([names.index(r.task) for r in test])
    by_train = error_rates(tr_tasks, tr_scores, len(names), float(profile.training["smoothing"]))[0]
    print(f"| the prompt's task ({len(set(te_tasks.tolist()))} tasks) | {figures(by_train[te_tasks])} | "
          f"{figures(error_rates(te_tasks, te_scores, len(names))[0][te_tasks])} |")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="eval-default", help="output directory (default: ./eval-default)")
    parser.add_argument("--latency-sample", type=int, default=200)
    parser.add_argument("--cache", default=None, help="directory to keep the embeddings in between runs")
    args = parser.parse_args()

    profile = Profile.load("default")
    test = read_table(DATA / "test.json", queries=DATA / "default_query_test.jsonl")
    train = drop_overlap(read_table(DATA / "train.json", queries=DATA / "default_query_train.jsonl"), test)
    embedder = Router.load(profile).embedder
    test_emb = embeddings(embedder, test, "embedding test prompts", args.cache, "test")
    train_emb = embeddings(embedder, train, "embedding training prompts", args.cache, "train")

    s = report_evaluation(profile, test, train, test_emb, train_emb, embedder, args)
    if profile.map is None:
        report_add_model(profile, test, train, test_emb, train_emb, embedder, s["curves"]["cactus-router"])
    else:  # a model cannot be taken out of a learned map: compare add-model on the cluster rule alone
        rule = replace(profile, map=None)
        report_add_model(rule, test, train, test_emb, train_emb, embedder, curve_of(rule, test, test_emb, embedder))
    report_calibration(profile, test, test_emb, embedder)
    report_hindsight(profile, test, train, test_emb, train_emb)
    print(f"\nSingle-model hull area {s['curves'][SINGLES]['area']:.3f}. Files: {args.out}/ (report.html, "
          "summary.json, results.json, agreement_matrix.csv, deferral_curve.csv, *.png).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
