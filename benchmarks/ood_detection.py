"""Out-of-distribution detection, leave tasks out: which score tells unseen-task prompts from seen ones.

    python benchmarks/ood_detection.py [--sources llmrouter zeroeval routellm] [--max-train 4000]

For every source in benchmarks/sources.py, the tasks are shuffled (seed 0) and split into groups
(3 for ZeroEval's 3 tasks, else 4). Each group in turn is the unseen tasks: the detectors are
fitted on 70% of the other tasks' prompts (at most --max-train), and scored on the other 30% of
them (in distribution) and on the unseen tasks' prompts (RouteLLM's contaminated prompts never
in a test set). Per method and source, the means over the groups of:

- AUROC (unseen-task prompts against held-out prompts of the seen tasks);
- caught @1%: the share of unseen-task prompts beyond the threshold that flags exactly 1% of the
  in-distribution test prompts (the threshold chosen on the test prompts: the method's ceiling);
- calibrated FPR / caught: with the threshold the method would ship, the 1% quantile of
  held-out training prompts (3-fold cross-fitting on the training prompts only).

Methods: ``centroid`` (today's rule: best cosine to K = 32 k-means centroids), ``knn-full``
(mean cosine to the 5 nearest centred training prompts, every one kept), ``store-S``
(``cactus_router.ood.NeighbourStore``: the same with an S-vector float16 k-means coreset),
``maha-tied`` (``cactus_router.ood.TiedMahalanobis``: Mahalanobis distance to the nearest of 32
cluster means, one Ledoit-Wolf shrunk covariance, float16), ``maha-cluster`` (8 clusters, each
its own shrunk covariance), ``topic (shipped)`` (``cactus_router.ood.fit_topic``: the mean of
store-256's and maha-tied's ranks among held-out training prompts, with its own calibrated
threshold), and the tokenizer signals ``unk-share`` (share of [UNK] tokens) and ``unreadable``
(``cactus_router.ood.ScriptCheck``'s share of unrepresentable letters), thresholds at the 99th
percentile of the training prompts. Then the project's Chinese, Arabic and Russian prompts
(tests/data/foreign_prompts.txt) against each source's first group: the share each method flags,
and the script check's flags on every prompt of the source. Embeddings are cached
(benchmarks/sources.py). Prints markdown on stdout.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import sources  # noqa: E402

from cactus_router.embedders import DEFAULT_EMBEDDER, get_embedder  # noqa: E402
from cactus_router.ood import ScriptCheck, fit_mahalanobis, fit_neighbours, fit_topic  # noqa: E402
from cactus_router.training import fit_kmeans  # noqa: E402

FOREIGN = Path(__file__).resolve().parent.parent / "tests" / "data" / "foreign_prompts.txt"
FPR = 0.01
MAX_TEST = 1500
#: A fitted score: embeddings -> (n,) values, higher = more like the training prompts.
Score = Callable[[np.ndarray], np.ndarray]


def unit(x: np.ndarray) -> np.ndarray:
    return np.asarray(x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12))


def fit_centroid(x: np.ndarray) -> Score:
    cent, _ = fit_kmeans(x, 32, 0)
    return lambda q: np.asarray((q @ cent.T).max(axis=1))


def fit_knn_full(x: np.ndarray) -> Score:
    mu = x.mean(axis=0)
    store = unit(x - mu)

    def score(q: np.ndarray) -> np.ndarray:
        sims = unit(q - mu) @ store.T
        return np.asarray(-np.partition(-sims, 4, axis=1)[:, :5].mean(axis=1))

    return score


def fit_maha_cluster(x: np.ndarray) -> Score:
    from sklearn.covariance import LedoitWolf

    _, labels = fit_kmeans(x, 8, 0)
    fits = [LedoitWolf().fit(x[labels == j].astype(np.float64)) for j in np.unique(labels) if (labels == j).sum() > 4]
    chols = [(f.location_, np.linalg.cholesky(f.precision_)) for f in fits]

    def score(q: np.ndarray) -> np.ndarray:
        return np.asarray(-np.min([(((q - mu) @ c) ** 2).sum(axis=1) for mu, c in chols], axis=0))

    return score


def fit_store(size: int) -> Callable[[np.ndarray], Score]:
    def fit(x: np.ndarray) -> Score:
        return fit_neighbours(x, size).score

    return fit


def fit_maha_tied(x: np.ndarray) -> Score:
    return fit_mahalanobis(x).score


#: Scores whose threshold the benchmark calibrates by cross-fitting on the training prompts.
EMBEDDING_METHODS: dict[str, Callable[[np.ndarray], Score]] = {
    "centroid": fit_centroid,
    "knn-full": fit_knn_full,
    "store-256": fit_store(256),
    "store-512": fit_store(512),
    "maha-tied": fit_maha_tied,
    "maha-cluster": fit_maha_cluster,
}
SHIPPED = "topic (shipped)"


def auroc(inside: np.ndarray, outside: np.ndarray) -> float:
    """P(an unseen-task prompt scores lower than a seen-task one), ties counted half."""
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(np.r_[np.ones(len(inside)), np.zeros(len(outside))], np.r_[inside, outside]))


def held_out(fit: Callable[[np.ndarray], Score], x: np.ndarray, seed: int = 0) -> np.ndarray:
    """Scores of every training row by a method fitted on the other folds (3-fold cross-fitting)."""
    out = np.empty(len(x))
    parts = np.array_split(np.random.default_rng(seed).permutation(len(x)), 3)
    for i, part in enumerate(parts):
        out[part] = fit(x[np.concatenate(parts[:i] + parts[i + 1 :])])(x[part])
    return out


def groups_of(tasks: list[str]) -> list[list[str]]:
    order = np.random.default_rng(0).permutation(len(tasks))
    return [[tasks[i] for i in g] for g in np.array_split(order, 3 if len(tasks) <= 3 else 4)]


def read_foreign() -> tuple[list[str], list[str]]:
    lines = [ln.split("\t", 1) for ln in FOREIGN.read_text(encoding="utf-8").splitlines()
             if ln.strip() and not ln.startswith("#")]
    return [s for s, _ in lines], [p for _, p in lines]


def measure(name: str, embedder: object, max_train: int, foreign_texts: list[str], foreign_x: np.ndarray
            ) -> tuple[dict[str, list[tuple[float, ...]]], dict[str, float], str]:
    """Per method, one (AUROC, caught@1%, calibrated FPR, calibrated caught) per group; the foreign
    prompts' flag shares on the first group; and the group list."""
    src = sources.load(name)
    x = sources.embed(embedder, [r.prompt for r in src.rows]).astype(np.float64)  # type: ignore[arg-type]
    tasks = np.array([r.task for r in src.rows])
    testable = np.array([r.prompt not in src.never_test for r in src.rows])
    rng = np.random.default_rng(1)
    results: dict[str, list[tuple[float, ...]]] = {}
    foreign_caught: dict[str, float] = {}
    fx = foreign_x.astype(np.float64)
    groups = groups_of(src.tasks)
    check = ScriptCheck()
    prompts = [r.prompt for r in src.rows]
    text_signals = {"unk-share": unk_share(prompts), "unreadable": check.unreadable_share(prompts)}
    foreign_sig = {"unk-share": unk_share(foreign_texts), "unreadable": check.unreadable_share(foreign_texts)}
    for gi, group in enumerate(groups):
        t0 = time.perf_counter()
        unseen = np.isin(tasks, group)
        seen = rng.permutation(np.flatnonzero(~unseen))
        cut = int(0.7 * len(seen))
        fit_rows, inside = seen[:cut][:max_train], seen[cut:]
        inside = inside[testable[inside]][:MAX_TEST]
        outside = rng.permutation(np.flatnonzero(unseen & testable))[:MAX_TEST]
        values: dict[str, tuple[np.ndarray, np.ndarray, float, np.ndarray]] = {}
        for method, fit in EMBEDDING_METHODS.items():
            score = fit(x[fit_rows])
            threshold = float(np.quantile(held_out(fit, x[fit_rows]), FPR))
            values[method] = (score(x[inside]), score(x[outside]), threshold, score(fx))
        det = fit_topic(x[fit_rows])
        values[SHIPPED] = (det.familiarity(x[inside]), det.familiarity(x[outside]), det.threshold,
                           det.familiarity(fx))
        for method, sig in text_signals.items():  # higher share = stranger, so the score is minus the share
            cut_at = float(np.quantile(-sig[fit_rows], FPR))
            values[method] = (-sig[inside], -sig[outside], cut_at, -foreign_sig[method])
        for method, (ins, outs, threshold, fgn) in values.items():
            results.setdefault(method, []).append((
                auroc(ins, outs), float(np.mean(outs < np.quantile(ins, FPR))),
                float(np.mean(ins < threshold)), float(np.mean(outs < threshold))))
            if gi == 0:
                foreign_caught[method] = float(np.mean(fgn < threshold))
        print(f"{name} group {gi + 1}/{len(groups)} ({len(fit_rows)} train, {len(inside)} seen, {len(outside)} "
              f"unseen): {time.perf_counter() - t0:.0f} s", file=sys.stderr, flush=True)
    foreign_caught["script check"] = float(np.mean(check.unsupported(foreign_texts)))
    foreign_caught["script check FPR (all prompts)"] = float(np.mean(text_signals["unreadable"] > check.threshold))
    return results, foreign_caught, "; ".join(", ".join(g) for g in groups)


def unk_share(texts: list[str]) -> np.ndarray:
    """The share of [UNK] tokens among each prompt's WordPiece tokens."""
    import tokenizers

    tok = tokenizers.Tokenizer.from_file(str(Path(sources.__file__).resolve().parent.parent / "cactus_router" /
                                             "_data" / "minilm_tokenizer.json"))
    tok.no_truncation()
    return np.array([np.mean([t == "[UNK]" for t in e.tokens]) if e.tokens else 0.0
                     for e in tok.encode_batch(texts, add_special_tokens=False)])


def scoring_cost(embedder: object, texts: list[str]) -> str:
    """Per-prompt cost of the shipped checks (one prompt at a time), beside Router.route on the same prompts."""
    from cactus_router import Router

    src = sources.load("llmrouter")
    train, test = sources.split(src, 0)
    det = fit_topic(sources.embed(embedder, [r.prompt for r in train]))  # type: ignore[arg-type]
    prompts = [r.prompt for r in test if len(r.prompt.split()) <= 30][:300] + texts
    vecs = embedder.embed_many(prompts)  # type: ignore[attr-defined]
    router, check = Router.load("default"), ScriptCheck()

    def timed(fn: Callable[[int], object]) -> str:
        for i in range(10):
            fn(i)
        us = []
        for i in range(len(prompts)):
            t0 = time.perf_counter()
            fn(i)
            us.append((time.perf_counter() - t0) * 1e6)
        return f"{np.median(us):.1f} / {np.percentile(us, 99):.1f}"

    return (f"\nPer prompt, one at a time ({len(prompts)} prompts: LLMRouter test prompts of at most 30 words and the "
            f"foreign ones), median / p99 us: the topic check {timed(lambda i: det.unseen(vecs[i]))}; "
            f"script check {timed(lambda i: check.unsupported([prompts[i]]))}; Router.route (embedding included) "
            f"{timed(lambda i: router.route(prompts[i]))}. The topic check holds {det.nbytes / 1024:.0f} KB of arrays, "
            f"{len(json.dumps(det.to_dict())) / 1024:.0f} KB as JSON.")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sources", nargs="+", default=list(sources.NAMES), choices=sources.NAMES)
    parser.add_argument("--max-train", type=int, default=4000)
    args = parser.parse_args()
    embedder = get_embedder(DEFAULT_EMBEDDER)
    scripts, texts = read_foreign()
    fx = embedder.embed_many(texts)
    print(f"### Leave tasks out, embedder {embedder.name}; means over the task groups\n")
    table: dict[str, dict[str, tuple[float, ...]]] = {}
    caught: dict[str, dict[str, float]] = {}
    for name in args.sources:
        res, fc, groups = measure(name, embedder, args.max_train, texts, fx)
        print(f"- {name} groups: {groups}", file=sys.stderr)
        table[name] = {m: tuple(np.mean(np.array(v), axis=0)) for m, v in res.items()}
        caught[name] = fc
    names = list(table)
    print("| method | " + " | ".join(f"{n}: AUROC / caught @1% / calibrated FPR, caught" for n in names) + " |")
    print("|---|" + "---|" * len(names))
    for method in table[names[0]]:
        cells = []
        for n in names:
            au, at1, fpr, got = table[n][method]
            cells.append(f"{au:.3f} / {at1:.1%} / {fpr:.1%}, {got:.1%}")
        print(f"| {method} | " + " | ".join(cells) + " |")
    print(f"\n### The {len(texts)} foreign prompts ({', '.join(sorted(set(scripts)))}) flagged, calibrated "
          "thresholds of each source's first group\n")
    print("| method | " + " | ".join(names) + " |\n|---|" + "---|" * len(names))
    for method in caught[names[0]]:
        print(f"| {method} | " + " | ".join(f"{caught[n][method]:.2%}" for n in names) + " |")
    print(scoring_cost(embedder, texts))
    return 0


if __name__ == "__main__":
    sys.exit(main())
