"""Learned maps beyond clusters, as candidates for ``train --method``: measured against the cluster rule.

    python benchmarks/learned_maps.py [--sources llmrouter zeroeval routellm] [--seed 0] [--bootstrap 1000]

Per source (benchmarks/sources.py: its train/test split, its costs, the default embedder), every
method predicts each model's score on a prompt from its embedding and routes by
``argmax(predicted quality - lambda * normalised cost)`` (``cactus_router.evaluation.baselines.pick``):

- ``cluster``: the shipped rule, ``train`` with every setting "auto", routed by ``Router``
  (its out-of-distribution policy included);
- ``knn``, ``logistic``: the baselines ``eval`` runs (``cactus_router.evaluation.baselines``);
- ``mlp``: one small multi-output MLP (scikit-learn) fitted to the scores with the squared error
  (the Brier score, a proper scoring rule, so its outputs are calibrated in expectation);
- ``knn-prior``, ``logistic-map``, ``ensemble``: the maps ``train --method`` ships
  (``cactus_router.maps``) at the settings it tries (``cactus_router.training.maps``): kNN shrunk
  toward the cluster rule as if ``beta`` more neighbours had its rates; per-model logistic
  regression on the embedding; the mean predicted quality of the cluster rule, the best
  logistic-map and the best knn-prior;
- ``task-told``: a router told each test prompt's task (the task's rates on train): a reference.

Two measurements: the mean deferral area over the same 3 cross-validation folds of the training
rows that ``train`` selects by (each method's hyper-parameters chosen there, as ``train`` chooses
K, smoothing and temperature), and the area on the test split with the paired bootstrap of
``eval`` (``cactus_router.metrics.resampled_figures`` on the same resamples for every method):
each method minus the cluster rule, with its 95% interval. Then the per-prompt scoring cost of
each method in NumPy (one embedding, predict and pick), against the cluster rule in the C core.
Prints markdown on stdout.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import sources  # noqa: E402

from cactus_router import Router  # noqa: E402
from cactus_router.data import RoutingRow, score_matrix  # noqa: E402
from cactus_router.embedders import DEFAULT_EMBEDDER, CallableEmbedder, Embedder, get_embedder  # noqa: E402
from cactus_router.evaluation.baselines import KNNRouter, LogisticRouter, pick, picks  # noqa: E402
from cactus_router.metrics import LAMBDA_GRID, area, choices_curve, cost_matrix, resample_counts, resampled_figures  # noqa: E402
from cactus_router.training import SELECTION_LAMBDAS, error_rates, fit_kmeans, train  # noqa: E402
from cactus_router.training.maps import (  # noqa: E402
    KNN_PRIOR_GRID,
    LOGISTIC_GRID,
    Setting,
    ensemble_setting,
    knn_prior_setting,
    logistic_setting,
)

FOLDS = 3


class ClusterQuality:
    """The cluster rule as a quality predictor: 1 - the (soft-assigned) per-cluster error rate."""

    name = "cluster"

    def __init__(self, k: int, smoothing: float, temperature: float, seed: int = 0) -> None:
        self.k, self.smoothing, self.temperature, self.seed = k, smoothing, temperature, seed

    def fit(self, x: np.ndarray, scores: np.ndarray) -> ClusterQuality:
        self.centroids_, labels = fit_kmeans(x, self.k, self.seed)
        self.rates_ = error_rates(labels, scores, self.k, self.smoothing)[0]
        return self

    def predict(self, x: np.ndarray) -> np.ndarray:
        sims = np.atleast_2d(x) @ self.centroids_.T
        if self.temperature == 0:
            w = np.zeros_like(sims)
            w[np.arange(len(sims)), sims.argmax(axis=1)] = 1.0
        else:
            z = (sims - sims.max(axis=1, keepdims=True)) / self.temperature
            w = np.exp(z)
            w /= w.sum(axis=1, keepdims=True)
        return np.asarray(1.0 - w @ self.rates_)


class MLPQuality:
    """A multi-output MLP regressor of the scores (squared error), clipped to [0, 1]."""

    name = "mlp"

    def __init__(self, alpha: float, hidden: int = 64, seed: int = 0) -> None:
        self.alpha, self.hidden, self.seed = alpha, hidden, seed

    def fit(self, x: np.ndarray, scores: np.ndarray) -> MLPQuality:
        from sklearn.neural_network import MLPRegressor

        y = np.where(np.isnan(scores), np.nanmean(scores, axis=0), scores)
        self.net_ = MLPRegressor(hidden_layer_sizes=(self.hidden,), alpha=self.alpha, early_stopping=True, max_iter=300,
                                 random_state=self.seed).fit(x, y)
        # the weights as arrays, so prediction (and its timing) is plain NumPy
        (self.w1_, self.w2_), (self.b1_, self.b2_) = self.net_.coefs_, self.net_.intercepts_
        return self

    def predict(self, x: np.ndarray) -> np.ndarray:
        h = np.maximum(np.atleast_2d(x) @ self.w1_ + self.b1_, 0.0)
        return np.asarray(np.clip(h @ self.w2_ + self.b2_, 0.0, 1.0))


class MapQuality:
    """A shipped map (``cactus_router.maps``) at one ``train --method`` setting as a quality
    predictor, over its own cluster rule (the prior knn-prior and the ensemble read)."""

    def __init__(self, setting: Setting, cluster: ClusterQuality) -> None:
        self.setting, self.cluster = setting, cluster
        self.name = setting.method

    def fit(self, x: np.ndarray, scores: np.ndarray) -> MapQuality:
        self.map_ = self.setting.fit(x, scores, 0)
        self.prior_ = replace_fit(self.cluster, x, scores)
        return self

    def predict(self, x: np.ndarray) -> np.ndarray:
        return np.asarray(1.0 - self.map_.errors(x, 1.0 - self.prior_.predict(x)))


def replace_fit(model: Any, x: np.ndarray, scores: np.ndarray) -> Any:
    """A fresh copy of ``model`` fitted on (x, scores): the same hyper-parameters, no shared state."""
    fresh = object.__new__(type(model))
    fresh.__dict__.update({k: v for k, v in model.__dict__.items() if not k.endswith("_")})
    return fresh.fit(x, scores)


def folds(n: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """The folds ``train`` cross-validates on (the same seeded permutation, split in FOLDS parts)."""
    parts = np.array_split(np.random.default_rng(seed).permutation(n), FOLDS)
    return [(np.concatenate(parts[:i] + parts[i + 1 :]), parts[i]) for i in range(FOLDS)]


def cv_area(model: Any, x: np.ndarray, scores: np.ndarray, costs: np.ndarray, seed: int) -> float:
    """Mean deferral area over the training folds, on the lambdas ``train`` selects with."""
    total = 0.0
    for fit, val in folds(len(x), seed):
        pred = replace_fit(model, x[fit], scores[fit]).predict(x[val])
        curve = choices_curve(picks(pred, costs, SELECTION_LAMBDAS), scores[val], cost_matrix(len(val), costs))
        total += area(curve) / FOLDS
    return total


def choose(candidates: Sequence[Any], x: np.ndarray, scores: np.ndarray, costs: np.ndarray, seed: int
           ) -> tuple[Any, float, dict[str, float]]:
    """The candidate with the largest cross-validated area (ties: the earlier one)."""
    areas = {repr_of(c): cv_area(c, x, scores, costs, seed) for c in candidates}
    best = max(candidates, key=lambda c: (round(areas[repr_of(c)], 4), -candidates.index(c)))
    return best, areas[repr_of(best)], areas


def repr_of(model: Any) -> str:
    if isinstance(model, MapQuality):
        return model.setting.key
    hidden = ("seed", "cluster", "members")
    params = {k: v for k, v in model.__dict__.items() if not k.endswith("_") and k not in hidden}
    return f"{model.name}({', '.join(f'{k}={v:g}' for k, v in params.items())})"


def cached(real: Embedder, prompts: Sequence[str], vectors: np.ndarray) -> Embedder:
    """The real embedder, answering from precomputed vectors where it has them (same space, same probes)."""
    table = dict(zip(prompts, vectors))

    def fn(texts: list[str]) -> np.ndarray:
        return np.stack([table[t] if t in table else real.embed(t) for t in texts])

    emb = CallableEmbedder(fn, name=real.name, dim=real.dim)
    return emb


def router_choices(profile: Any, embedder: Embedder, x: np.ndarray) -> list[np.ndarray]:
    """The trained router's choices on LAMBDA_GRID, routed through the public Router."""
    top = float(LAMBDA_GRID[-1])
    swept = replace(profile, routing=replace(profile.routing, lambda_min=0.0, lambda_max=top, cost_bias=0.0))
    router = Router(swept, embedder, allow_embedder_mismatch=True)
    vecs = np.ascontiguousarray(x, dtype=np.float32)
    return [np.asarray(router.route_embeddings(vecs, cost_bias=float(lam) / top).model_index, dtype=np.int64)
            for lam in LAMBDA_GRID]


def task_told(train_rows: list[RoutingRow], test_rows: list[RoutingRow], models: list[str], smoothing: float
              ) -> np.ndarray:
    """A router told each test prompt's task: the task's quality on the training split."""
    names = sorted({r.task or "" for r in train_rows})
    rates = error_rates(np.array([names.index(r.task or "") for r in train_rows]), score_matrix(train_rows, models),
                        len(names), smoothing)[0]
    return np.asarray(1.0 - rates[[names.index(r.task or "") for r in test_rows]])


def paired(curves: dict[str, list[np.ndarray]], scores: np.ndarray, costs: np.ndarray, resamples: int, seed: int
           ) -> dict[str, tuple[float, float, float]]:
    """Each curve's area minus the cluster rule's: (difference, 2.5th, 97.5th percentile) over the
    same bootstrap resamples of the test rows for every curve."""
    target = int(np.argmax(scores.mean(axis=0)))
    parts: dict[str, list[np.ndarray]] = {name: [] for name in curves}
    for counts in resample_counts(len(scores), resamples, seed):
        for name, ch in curves.items():
            parts[name].append(resampled_figures(ch, scores, costs, target, counts)["area"])
    figures = {name: np.concatenate(p) for name, p in parts.items()}
    base = area(choices_curve(curves["cluster"], scores, costs))
    out = {}
    for name, ch in curves.items():
        d = figures[name] - figures["cluster"]
        lo, hi = np.quantile(d, [0.025, 0.975])
        out[name] = (area(choices_curve(ch, scores, costs)) - base, float(lo), float(hi))
    return out


def scoring_us(predict: Callable[[np.ndarray], np.ndarray], x: np.ndarray, costs: np.ndarray, lam: float
               ) -> tuple[float, float]:
    """Median and p99 microseconds to predict and pick for one embedding at a time."""
    for i in range(20):
        pick(predict(x[i : i + 1]), costs, lam)
    ms = []
    for i in range(len(x)):
        t0 = time.perf_counter()
        pick(predict(x[i : i + 1]), costs, lam)
        ms.append((time.perf_counter() - t0) * 1e6)
    return float(np.median(ms)), float(np.percentile(ms, 99))


def route_us(router: Router, x32: np.ndarray) -> tuple[float, float]:
    """Median and p99 microseconds of ``Router.route_embedding`` (policies included), one embedding at a time."""
    for v in x32[:20]:
        router.route_embedding(v)
    us = []
    for v in x32:
        t0 = time.perf_counter()
        router.route_embedding(v)
        us.append((time.perf_counter() - t0) * 1e6)
    return float(np.median(us)), float(np.percentile(us, 99))


def run(name: str, embedder: Embedder, seed: int, resamples: int) -> list[str]:
    """The markdown rows of one source."""
    src = sources.load(name)
    train_rows, test_rows = sources.split(src, seed)
    costs_by_model = sources.model_costs(src, train_rows)
    models = list(costs_by_model)
    costs = np.array([costs_by_model[m] for m in models])
    x_tr = sources.embed(embedder, [r.prompt for r in train_rows]).astype(np.float64)
    x_te = sources.embed(embedder, [r.prompt for r in test_rows]).astype(np.float64)
    s_tr, s_te = score_matrix(train_rows, models), score_matrix(test_rows, models)
    emb = cached(embedder, [r.prompt for r in train_rows + test_rows], np.vstack([x_tr, x_te]).astype(np.float32))
    print(f"{name}: training the cluster rule on {len(train_rows)} rows", file=sys.stderr, flush=True)
    plain = [RoutingRow(r.prompt, r.scores, r.task, r.id) for r in train_rows]
    auto = train(plain, [{"id": m, "cost": c} for m, c in costs_by_model.items()], embedder=emb, seed=0)
    profile = replace(auto, map=None)  # the cluster rule: the same K, smoothing and temperature
    sm, t = float(profile.training["smoothing"]), float(profile.routing.temperature)
    cluster = ClusterQuality(profile.k, sm, t)
    print(f"{name}: cross-validating the learned maps", file=sys.stderr, flush=True)
    chosen: dict[str, tuple[Any, float]] = {}
    chosen["cluster"] = (cluster, cv_area(cluster, x_tr, s_tr, costs, 0))
    grids: dict[str, list[Any]] = {
        "knn": [KNNRouter(k) for k in (20, 80, 320)],
        "logistic": [LogisticRouter(c, seed) for c in (0.1, 1.0, 10.0)],
        "mlp": [MLPQuality(a, seed=seed) for a in (1e-3, 1e-1, 1.0)],
        "knn-prior": [MapQuality(knn_prior_setting(k, b), cluster) for k, b in KNN_PRIOR_GRID],
        "logistic-map": [MapQuality(logistic_setting(c), cluster) for c in LOGISTIC_GRID],
    }
    for method, grid in grids.items():
        best, a, _ = choose(grid, x_tr, s_tr, costs, 0)
        chosen[method] = (best, a)
    ens = MapQuality(ensemble_setting(chosen["logistic-map"][0].setting, chosen["knn-prior"][0].setting), cluster)
    chosen["ensemble"] = (ens, cv_area(ens, x_tr, s_tr, costs, 0))
    print(f"{name}: test split and bootstrap", file=sys.stderr, flush=True)
    fitted = {m: replace_fit(model, x_tr, s_tr) for m, (model, _) in chosen.items()}
    c_te = cost_matrix(len(test_rows), costs)
    curves = {"cluster": router_choices(profile, emb, x_te)}
    preds = {m: f.predict(x_te) for m, f in fitted.items() if m != "cluster"}
    preds["task-told"] = task_told(train_rows, test_rows, models, sm)
    curves.update({m: picks(p, costs) for m, p in preds.items()})
    curves["oracle"] = picks(s_te, costs)
    diffs = paired(curves, s_te, c_te, resamples, seed)
    lam = profile.routing.lam()
    x32 = np.ascontiguousarray(x_te[:500], dtype=np.float32)
    timing = {"cluster": route_us(Router(profile, emb, allow_embedder_mismatch=True), x32)}
    timing.update({m: route_us(Router(replace(profile, map=fitted[m].map_), emb, allow_embedder_mismatch=True), x32)
                   for m in ("knn-prior", "logistic-map", "ensemble")})
    timing.update({m: scoring_us(f.predict, x_te[:500], costs, lam) for m, f in fitted.items() if m not in timing})
    picked = auto.training["map"]["method"]
    curves["auto"] = router_choices(auto, emb, x_te)
    diffs["auto"] = paired({"cluster": curves["cluster"], "auto": curves["auto"]}, s_te, c_te, resamples, seed)["auto"]
    chosen["auto"] = (auto, max(a for key, a in auto.training["map"]["cv_area"].items() if key.split("(")[0] == picked))
    lines = []
    for m in ("cluster", "knn", "logistic", "mlp", "knn-prior", "logistic-map", "ensemble", "auto", "task-told",
              "oracle"):
        d, lo, hi = diffs[m]
        test_area = area(choices_curve(curves[m], s_te, c_te))
        cv = f"{chosen[m][1]:.4f}" if m in chosen else ""
        setting = repr_of(chosen[m][0]) if m in chosen and m != "auto" else ""
        if m == "auto":
            setting = f"train --method auto: {picked}"
        if m == "cluster":
            setting = f"K={profile.k}, smoothing={sm:g}, T={t:g}"
        brier = f"{np.mean((preds[m] - s_te) ** 2):.4f}" if m in preds else (
            f"{np.mean((fitted['cluster'].predict(x_te) - s_te) ** 2):.4f}" if m == "cluster" else "")
        cost = f"{timing[m][0]:.1f} / {timing[m][1]:.1f}" if m in timing else ""
        diff = "" if m == "cluster" else f"{d:+.4f} [{lo:+.4f}, {hi:+.4f}]"
        lines.append(f"| {name} | {m} | {setting} | {cv} | {test_area:.4f} | {diff} | {brier} | {cost} |")
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sources", nargs="+", default=list(sources.NAMES), choices=sources.NAMES)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--bootstrap", type=int, default=1000)
    args = parser.parse_args()
    embedder = get_embedder(DEFAULT_EMBEDDER)
    print(f"### Learned maps, embedder {embedder.name}, seed {args.seed}, {args.bootstrap} paired resamples\n")
    print("| source | method | setting (by CV) | CV area (train, 3 folds) | test area | minus cluster [95% CI] | "
          "test Brier | scoring us p50 / p99 |\n|---|---|---|---|---|---|---|---|")
    for name in args.sources:
        for line in run(name, embedder, args.seed, args.bootstrap):
            print(line, flush=True)
    print("\nscoring: one embedding at a time, predict + pick in NumPy; cluster, knn-prior, logistic-map and "
          "ensemble: Router.route_embedding (the shipped scorers, policies included); auto: the profile `train` "
          "builds with --method auto (its pick named), routed by Router, its CV area its pick's. "
          "Brier: mean squared error of the predicted scores on the test split.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
