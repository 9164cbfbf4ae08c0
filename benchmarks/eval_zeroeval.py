"""Routing data from another source: train and evaluate on ZeroEval (GSM8K, MATH-L5, CRUXEval-O).

    python benchmarks/eval_zeroeval.py [--seeds 0 1 2]

Everything the default profile and the "auto" settings were developed on is LLMRouter data; this
checks that the same training rule carries over. Rows: the questions of the three tasks that every
model answered, over the models with outputs on all three (o1-* excluded: their billed reasoning
tokens are not in their output, so output length is no proxy for their cost). Scores are 0/1
correctness. A model's cost is its mean output characters on the training split. Per seed: a 70/30
split within each task, ``train`` with every setting "auto" (cross-validated on the training split
only), then ``evaluate`` with kNN and logistic trained on the same split, and a router told each
test prompt's task (the task's rates on the training split). Prints markdown on stdout.
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

import numpy as np

from cactus_router.data import RoutingRow, score_matrix
from cactus_router.embedders import DEFAULT_EMBEDDER, get_embedder
from cactus_router.evaluation import curve_metrics, evaluate
from cactus_router.evaluation.baselines import picks
from cactus_router.metrics import choices_curve, cost_matrix
from cactus_router.training import TABLE_MODELS, error_rates, train

DATA = Path(__file__).resolve().parent.parent / "data" / "zeroeval"
TASKS = ("gsm", "math-l5", "crux")
EXCLUDED_PREFIX = "o1-"
TRAIN_SHARE = 0.7
ROUTERS = ("cactus-router", "knn", "logistic")


def read_wide(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    """The model columns and the rows of one ``*_wide.csv`` file."""
    with open(path, newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        return list(reader.fieldnames or [])[3:], list(reader)


def load() -> tuple[list[str], list[RoutingRow]]:
    """The models answering all three tasks (o1-* excluded) and the rows every one of them answered.

    Each row carries its per-model output characters as ``costs``.
    """
    tables = {t: (read_wide(DATA / f"{t}_correctness_wide.csv"), read_wide(DATA / f"{t}_output_chars_wide.csv"))
              for t in TASKS}
    common = set.intersection(*(set(cols) for (cols, _), _ in tables.values()))
    models = sorted(m for m in common if not m.startswith(EXCLUDED_PREFIX))
    rows = []
    for task, ((_, correct), (_, chars)) in tables.items():
        for c, n in zip(correct, chars, strict=True):
            if c["id"] != n["id"]:
                raise SystemExit(f"{task}: the correctness and output-length files disagree at id {c['id']}")
            if all(c[m] != "" and n[m] != "" for m in models):
                rows.append(RoutingRow(c["question"], {m: float(c[m]) for m in models}, task, f"{task}:{c['id']}",
                                       {m: float(n[m]) for m in models}))
    return models, rows


def split(rows: list[RoutingRow], seed: int) -> tuple[list[RoutingRow], list[RoutingRow]]:
    """A seeded TRAIN_SHARE / rest split within each task."""
    rng = np.random.default_rng(seed)
    train_rows: list[RoutingRow] = []
    test_rows: list[RoutingRow] = []
    for task in TASKS:
        mine = [r for r in rows if r.task == task]
        order = rng.permutation(len(mine))
        cut = int(round(TRAIN_SHARE * len(mine)))
        train_rows += [mine[i] for i in sorted(order[:cut])]
        test_rows += [mine[i] for i in sorted(order[cut:])]
    return train_rows, test_rows


def without_costs(rows: list[RoutingRow]) -> list[RoutingRow]:
    """Rows evaluated with the profile's costs (each model's mean output length on train)."""
    return [RoutingRow(r.prompt, r.scores, r.task, r.id) for r in rows]


def task_router(train_rows: list[RoutingRow], test_rows: list[RoutingRow], models: list[str], costs: np.ndarray,
                smoothing: float) -> dict[str, float]:
    """Curve figures of a router told each test prompt's task, with the task's error rates on train."""
    names = sorted({r.task or "" for r in train_rows})
    rates = error_rates(np.array([names.index(r.task or "") for r in train_rows]), score_matrix(train_rows, models),
                        len(names), smoothing)[0]
    expected = rates[[names.index(r.task or "") for r in test_rows]]
    scores = score_matrix(test_rows, models)
    curve = choices_curve(picks(1.0 - expected, costs), scores, cost_matrix(len(scores), costs))
    return curve_metrics(curve, float(scores.mean(axis=0).max()))


def fmt_qnc(q: float | None) -> str:
    return "not reached" if q is None else f"{q:.3f}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    args = parser.parse_args()

    models, rows = load()
    embedder = get_embedder(DEFAULT_EMBEDDER)
    per_task = ", ".join(f"{t} {sum(r.task == t for r in rows)}" for t in TASKS)
    print(f"### ZeroEval: {len(rows)} questions ({per_task}), {len(models)} models, embedder {embedder.name}\n")
    print("| seed | K, smoothing, T (auto) | router | area [95% CI] | QNC | best quality | "
          "router minus it: area [95% CI] |\n|---|---|---|---|---|---|---|")
    areas: dict[str, list[float]] = {}
    for seed in args.seeds:
        train_rows, test_rows = split(rows, seed)
        print(f"seed {seed}: training on {len(train_rows)} rows", file=sys.stderr, flush=True)
        profile = train(train_rows, TABLE_MODELS, embedder=embedder, seed=0)  # cost: mean output length on train
        costs = np.array([m.cost for m in profile.models])
        ev = evaluate(profile, without_costs(test_rows), embedder=embedder, train_rows=without_costs(train_rows),
                      latency_sample=0, seed=seed)
        curves, paired = ev.summary["curves"], ev.summary["bootstrap"]["paired"]
        setting = f"{profile.k}, {profile.training['smoothing']:g}, {profile.routing.temperature:g}"
        told = task_router(train_rows, test_rows, list(profile.model_ids), costs, float(profile.training["smoothing"]))
        for name in (*ROUTERS, "task-told", "single-models", "oracle"):
            c = told if name == "task-told" else curves[name]
            ci = c.get("ci95", {}).get("area")
            cell = f"{c['area']:.3f}" + ("" if ci is None else f" [{ci[0]:.3f}, {ci[1]:.3f}]")
            diff = ""
            if name in paired:
                d = paired[name]["area"]
                diff = f"{d['difference']:+.3f} [{d['ci95'][0]:+.3f}, {d['ci95'][1]:+.3f}]"
            elif name == "task-told":
                diff = f"{curves['cactus-router']['area'] - c['area']:+.3f}"
            print(f"| {seed} | {setting} | {name} | {cell} | {fmt_qnc(c['qnc'])} | {c['best_quality']:.3f} | {diff} |")
            areas.setdefault(name, []).append(c["area"])
    print("\nMean area over the seeds: " + ", ".join(f"{n} {np.mean(a):.4f}" for n, a in areas.items()) + ".")
    print(f"Test rows per seed: {len(rows) - len(split(rows, args.seeds[0])[0])}. task-told: the task's best "
          "model on the training split, traded against cost like the router (a router that is told the task).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
