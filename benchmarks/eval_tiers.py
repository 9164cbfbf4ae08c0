"""The README's tier figures: the tier router against the 9-cell oracle on real pairs of models.

    python benchmarks/eval_tiers.py [--resamples N] [--json FILE]

Pairs (medium, large), each on its source's train/test split (benchmarks/sources.py):
- RouteLLM (data/routellm): Mixtral 8x7B and GPT-4 on GSM8K and the 57 MMLU subjects, 0/1
  correctness (MT-Bench is left out: its scores are judge grades, not correct or incorrect); 70/30
  within each task, RouteLLM's contaminated prompts never in the test split; $0.24 and $24.7 per 1M
  tokens.
- LLMRouter (data/llmrouter): its own split; llama-3.1-8b-instruct against
  llama-3.3-nemotron-super-49b-v1 and llama-3.1-nemotron-51b-instruct, llama3-chatqa-1.5-8b against
  llama3-chatqa-1.5-70b; $0.2 and $0.9 per 1M tokens. Rows with a fractional score stay unlabelled.

Per pair: ``train`` on the training split's two models with the rows' oracle tiers (``--tiers-from
MEDIUM,LARGE``; every setting "auto"), then, on the test split, the tier evaluation that
``cactus-router eval`` runs and prints for a profile with tiers (``evaluation.tier_run``; the rest
of ``eval`` is skipped). Beside it, one decision rule the router does not have,
measured as a candidate: Complex when P(Complex) >= t, with t fitted by 3-fold cross-validation on
the training split (tier counts of two folds, probabilities of the third, through the trained
clusters) as the cheapest threshold whose out-of-fold quality reaches always-large's; never on the
test split. The embeddings are cached (benchmarks/sources.py). Markdown on stdout, progress on stderr.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import sources  # noqa: E402
from learned_maps import cached, folds  # noqa: E402

from cactus_router import Profile, Router  # noqa: E402
from cactus_router.data import RoutingRow, score_matrix  # noqa: E402
from cactus_router.embedders import DEFAULT_EMBEDDER, Embedder, get_embedder  # noqa: E402
from cactus_router.evaluation import EvalTable, eval_table  # noqa: E402
from cactus_router.evaluation.tier_run import evaluate_tiers  # noqa: E402
from cactus_router.evaluation.tiers import TIER_ROUTER, TierRows, by_tier, threshold_codes, tier_figures  # noqa: E402
from cactus_router.profile import TierCounts  # noqa: E402
from cactus_router.report import tier_markdown  # noqa: E402
from cactus_router.routing.policies.tier import tier_probabilities  # noqa: E402
from cactus_router.tiers import COMPLEX, TIERS, label_rows  # noqa: E402
from cactus_router.training import tier_counts, train  # noqa: E402

PAIRS = (
    ("routellm", "mistralai/Mixtral-8x7B-Instruct-v0.1", "gpt-4-1106-preview"),
    ("llmrouter", "llama-3.1-8b-instruct", "llama-3.3-nemotron-super-49b-v1"),
    ("llmrouter", "llama-3.1-8b-instruct", "llama-3.1-nemotron-51b-instruct"),
    ("llmrouter", "llama3-chatqa-1.5-8b", "llama3-chatqa-1.5-70b"),
)
FITTED = "tier-router, Complex at P >= t fitted on train (not a router option)"
SEED = 0


def load(name: str) -> tuple[sources.Source, list[RoutingRow], list[RoutingRow]]:
    """A source (RouteLLM without MT-Bench) and its split."""
    src = sources.load(name)
    if name == "routellm":
        src = sources.Source(name, [r for r in src.rows if r.task != "mt_bench"], src.never_test)
    train_rows, test_rows = sources.split(src, SEED)
    leaked = sum(r.prompt in src.never_test for r in test_rows)
    if leaked:
        raise SystemExit(f"{name}: {leaked} contaminated prompts in the test split")
    return src, train_rows, test_rows


def pair_rows(rows: list[RoutingRow], pair: tuple[str, str]) -> list[RoutingRow]:
    """The rows with only the pair's scores."""
    return [RoutingRow(r.prompt, {m: r.scores[m] for m in pair}, r.task, r.id) for r in rows]


def routed(profile: Profile, embedder: Embedder, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each row's cluster and in-distribution flag, as the router gives them to the tier policy."""
    batch = Router(profile, embedder, allow_embedder_mismatch=True).route_embeddings(x)
    return np.asarray(batch.cluster, dtype=np.int64), np.asarray(batch.in_distribution, dtype=bool)


def fitted_threshold(profile: Profile, embedder: Embedder, x_train: np.ndarray, train_rows: list[RoutingRow],
                     tiers: list[str | None], medium: str, large: str) -> float:
    """t by 3-fold cross-validation on the training rows: the cheapest out-of-fold threshold rule
    whose quality reaches always-large's (the lowest threshold when none does)."""
    clusters, inside = routed(profile, embedder, x_train)
    pc = np.full(len(train_rows), np.nan)
    smoothing = profile.tiers.smoothing if profile.tiers is not None else 0.0
    for fit, held in folds(len(train_rows), SEED):
        counts = tier_counts(clusters[fit], [tiers[i] for i in fit], profile.k)
        fold = replace(profile, tiers=TierCounts(counts, smoothing))
        pc[held] = tier_probabilities(fold, clusters[held], inside[held], x_train[held])[:, TIERS.index(COMPLEX)]
    scores = score_matrix(train_rows, [medium, large])
    target = float(scores[:, 1].mean())
    best: tuple[float, float] | None = None
    for t in sorted(set(np.quantile(pc, np.linspace(0, 1, 201), method="lower").tolist())):
        big = pc >= t
        quality = float(np.where(big, scores[:, 1], scores[:, 0]).mean())
        cost = float(big.mean())
        if quality >= target and (best is None or cost < best[1]):
            best = (t, cost)
    return best[0] if best is not None else float(np.nanmin(pc))


def run(name: str, medium: str, large: str, resamples: int) -> dict[str, Any]:
    """Train the pair's tier profile, evaluate it, and add the fitted-threshold candidate."""
    src, train_all, test_all = load(name)
    train_rows, test_rows = pair_rows(train_all, (medium, large)), pair_rows(test_all, (medium, large))
    costs = sources.model_costs(src, train_all)
    real = get_embedder(DEFAULT_EMBEDDER)
    x_tr = sources.embed(real, [r.prompt for r in train_all])
    x_te = sources.embed(real, [r.prompt for r in test_all])
    emb = cached(real, [r.prompt for r in train_all + test_all], np.vstack([x_tr, x_te]))
    found = label_rows(train_rows, medium, large, skip=True)
    tiers = [None if x is None else x.tier for x in found]
    print(f"{name}: {medium} / {large}: training on {len(train_rows)} rows", file=sys.stderr, flush=True)
    profile = train(train_rows, [{"id": medium, "cost": costs[medium]}, {"id": large, "cost": costs[large]}],
                    embedder=emb, seed=SEED, tiers=tiers,
                    provenance={"tiers": {"medium": medium, "large": large, "labels": "the 9-cell oracle",
                                          "labelled": sum(t is not None for t in tiers)}})
    print(f"{name}: evaluating on {len(test_rows)} rows", file=sys.stderr, flush=True)
    table = eval_table(test_rows, profile)
    router = Router(profile, emb, allow_embedder_mismatch=True)
    out = evaluate_tiers(profile, router, x_te, table, test_rows, profile.routing.cost_bias, None, resamples, SEED)
    t = fitted_threshold(profile, emb, x_tr, train_rows, tiers, medium, large)
    out["fitted_threshold"] = t
    out["routers"][FITTED] = fitted_figures(profile, emb, table, x_te, out, t, resamples)
    out.update(source=name, train_rows=len(train_rows), k=profile.k, smoothing=profile.training["smoothing"],
               temperature=profile.routing.temperature)
    return out


def fitted_figures(profile: Profile, embedder: Embedder, table: EvalTable, x_te: np.ndarray, tiers: dict[str, Any],
                   t: float, resamples: int) -> dict[str, Any]:
    """The threshold rule at the fitted t on the test rows, with the same figures and resamples."""
    ids = list(table.model_ids)
    m, lg = ids.index(tiers["medium"]), ids.index(tiers["large"])
    p = tier_probabilities(profile, *routed(profile, embedder, x_te), x_te)
    index = {tier: ids.index(models[0]) for tier, models in tiers["policy_map"].items()}
    codes = threshold_codes(p, t)
    truth = np.full(len(codes), -1)
    rows = TierRows(table.scores, table.costs, m, lg, truth, codes, points={TIER_ROUTER: by_tier(codes, index)},
                    curves={})
    return tier_figures(rows, resamples, SEED)["routers"][TIER_ROUTER]


def summary_table(results: list[dict[str, Any]]) -> str:
    """One line per pair: tier accuracy, each router's quality and cost, the savings and the Ambiguous share."""
    lines = ["| pair (test rows) | tier accuracy | always-large quality | tier router: quality / cost | "
             "cluster rule: cost saved at always-large's quality | threshold fitted on train: quality / cost | "
             "Ambiguous: share / its answers' score |", "|---|---|---|---|---|---|---|"]
    for r in results:
        rs = r["routers"]

        def qc(x: dict[str, Any]) -> str:
            return f"{x['quality']:.3f} / {x['cost_normalised']:.3f}"

        saved = rs["cluster-rule (curve)"]["savings_at_large_quality"]
        ci = rs["cluster-rule (curve)"].get("savings_at_large_quality_ci95") or [None, None]
        cell = "not reached" if saved is None else (
            f"{saved:.1%} [{'not reached' if ci[0] is None else f'{ci[0]:.1%}'}, "
            f"{'not reached' if ci[1] is None else f'{ci[1]:.1%}'}]")
        lines.append(f"| {r['medium'].split('/')[-1]} / {r['large']} ({r['rows']}) | {r['accuracy']:.3f} | "
                     f"{rs['always-large']['quality']:.3f} | {qc(rs[TIER_ROUTER])} | {cell} | {qc(rs[FITTED])} | "
                     f"{r['ambiguous_share']:.1%} / {r['ambiguous_score']:.3f} |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--resamples", type=int, default=1000, help="bootstrap resamples (default 1000)")
    parser.add_argument("--json", default=None, help="also write every pair's figures to this JSON file")
    parser.add_argument("--pairs", default=None, help="comma-separated indices into PAIRS (default: all)")
    args = parser.parse_args()
    results = []
    chosen = PAIRS if args.pairs is None else [PAIRS[int(i)] for i in args.pairs.split(",")]
    for name, medium, large in chosen:
        r = run(name, medium, large, args.resamples)
        results.append(r)
        print(f"### {name}: {medium} (medium) / {large} (large), {r['rows']} test rows, {r['train_rows']} training "
              f"rows (K = {r['k']}, temperature {r['temperature']:g}); fitted t = {r['fitted_threshold']:.3f}\n")
        print(tier_markdown(r) + "\n", flush=True)
    print("### Summary\n\n" + summary_table(results))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
