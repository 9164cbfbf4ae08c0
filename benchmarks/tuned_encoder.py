"""The routing-tuned encoder against the untuned one: the same router trained on each, per source.

    python benchmarks/tuned_encoder.py [--sources llmrouter zeroeval routellm] [--max-rows 3000]
        [--epochs 1] [--seed 0] [--bootstrap 1000] [--threads 1]

Per source (benchmarks/sources.py: its train/test split, its costs), ``cactus_router.tuning.
tune_encoder`` fine-tunes paraphrase-MiniLM-L3-v2 on a seeded sample of at most ``--max-rows``
training rows (only the training split), written to a temporary folder; then ``train`` builds
the cluster-rule profile (``--method cluster``, every other setting "auto") once with the
untuned encoder (``minilm-l3:fp32``, the default) and once with the tuned one, on all the
training rows, and both route the test split through ``Router`` on the lambda grid of ``eval``.
Prints markdown: each encoder's test area, the tuned minus the untuned with the 95% interval of
the paired bootstrap (the same resamples for both), and the tuning's rows, loss and seconds.
Needs ``pip install 'cactus-router[tune]'``.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import sources  # noqa: E402
from learned_maps import cached, paired, router_choices  # noqa: E402

from cactus_router.data import RoutingRow, score_matrix  # noqa: E402
from cactus_router.embedders import DEFAULT_EMBEDDER, get_embedder  # noqa: E402
from cactus_router.metrics import area, choices_curve, cost_matrix  # noqa: E402
from cactus_router.training import train  # noqa: E402
from cactus_router.tuning import tune_encoder  # noqa: E402


def run(name: str, folder: Path, args: argparse.Namespace) -> list[str]:
    """The markdown rows of one source."""
    src = sources.load(name)
    train_rows, test_rows = sources.split(src, args.seed)
    costs_by_model = sources.model_costs(src, train_rows)
    models = list(costs_by_model)
    costs = np.array([costs_by_model[m] for m in models])
    s_tr, s_te = score_matrix(train_rows, models), score_matrix(test_rows, models)
    sample = np.arange(len(train_rows))
    if len(sample) > args.max_rows:
        sample = np.sort(np.random.default_rng(args.seed).choice(len(sample), args.max_rows, replace=False))
    out = folder / f"{name}-tuned.onnx"
    print(f"{name}: tuning on {len(sample)} of {len(train_rows)} training rows", file=sys.stderr, flush=True)
    report = tune_encoder([train_rows[i].prompt for i in sample], s_tr[sample], out, epochs=args.epochs,
                          seed=args.seed, threads=args.threads)
    plain = [RoutingRow(r.prompt, r.scores, r.task, r.id) for r in train_rows]
    curves, profiles = {}, {}
    for label, spec in (("cluster", DEFAULT_EMBEDDER), ("tuned", f"minilm-l3-tuned:{out}")):
        t0 = time.perf_counter()
        real = get_embedder(spec)
        x_tr = sources.embed(real, [r.prompt for r in train_rows])
        x_te = sources.embed(real, [r.prompt for r in test_rows])
        emb = cached(real, [r.prompt for r in train_rows + test_rows], np.vstack([x_tr, x_te]).astype(np.float32))
        print(f"{name}: training with {real.name}", file=sys.stderr, flush=True)
        profiles[label] = train(plain, [{"id": m, "cost": c} for m, c in costs_by_model.items()], embedder=emb,
                                seed=0, method="cluster")
        curves[label] = router_choices(profiles[label], emb, x_te)
        print(f"{name}: {real.name} took {time.perf_counter() - t0:.0f} s", file=sys.stderr, flush=True)
    c_te = cost_matrix(len(test_rows), costs)
    diffs = paired(curves, s_te, c_te, args.bootstrap, args.seed)
    base = area(choices_curve(curves["cluster"], s_te, c_te))
    d, lo, hi = diffs["tuned"]
    losses = " -> ".join(f"{v:.3f}" for v in report.losses)
    return [f"| {name} | untuned | K={profiles['cluster'].k} | {base:.4f} | | |",
            f"| {name} | tuned | K={profiles['tuned'].k} | {base + d:.4f} | {d:+.4f} [{lo:+.4f}, {hi:+.4f}] | "
            f"{report.rows} rows, {report.labels} label sets, loss {losses}, {report.seconds:.0f} s |"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sources", nargs="+", default=list(sources.NAMES), choices=sources.NAMES)
    parser.add_argument("--max-rows", type=int, default=3000)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--bootstrap", type=int, default=1000)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    print(f"### Routing-tuned encoder, {args.epochs} epoch(s) on at most {args.max_rows} training rows, "
          f"seed {args.seed}, {args.bootstrap} paired resamples\n")
    print("| source | encoder | K | test area | tuned minus untuned [95% CI] | tuning |\n|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory(prefix="cactus-router-tuned-") as tmp:
        for name in args.sources:
            for line in run(name, Path(tmp), args):
                print(line, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
