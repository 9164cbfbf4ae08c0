"""Evaluating a profile on labelled prompts: the router's metrics and the baselines beside it.

Every figure is measured on the evaluation rows; nothing is derived from fixed multipliers. The
cluster router, always-cheapest, always-most-expensive, the best single model, random at matched
cost, the per-prompt oracle and (given training rows) a kNN and a logistic router are scored on the
same rows, with the same costs and, for the learned ones, the same embeddings.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from . import baselines as bl
from .data import RoutingRow, drop_overlap, row_locations, score_matrix
from .embedders import Embedder
from .errors import ArgumentError, RoutingTableError
from .metrics import (
    LAMBDA_GRID,
    CurvePoint,
    area,
    best_quality,
    choices_curve,
    qnc,
    resample_counts,
    resampled_figures,
)
from .profile import Profile
from .routing import Router
from .training import embed_rows

ROUTER = "cactus-router"
CHEAPEST, PRICIEST, BEST_SINGLE, ORACLE, RANDOM = (
    "always-cheapest", "always-most-expensive", "best-single", "oracle", "random")
SINGLES = "single-models"
#: cost_bias values of ``sweep=True``.
SWEEP_BIASES = tuple(round(float(b), 2) for b in np.linspace(0.0, 1.0, 11))
#: Mixing probabilities traced for the random router's curve.
RANDOM_GRID = tuple(np.linspace(0.0, 1.0, 21))
#: Progress callback: ``progress(stage, done, total)``.
StageProgress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class EvalTable:
    """Evaluation rows as arrays in the profile's model order."""

    model_ids: tuple[str, ...]
    scores: np.ndarray  # (n, M) in [0, 1]
    costs: np.ndarray  # (n, M): per-prompt costs, or each model's profile cost on every row
    model_costs: np.ndarray  # (M,) the profile's costs: what every router decides with
    size_mb: np.ndarray | None  # (M,) when every model's size is known
    tasks: tuple[str | None, ...]
    cost_source: str  # "profile" or "rows"

    @property
    def n(self) -> int:
        """Number of rows."""
        return int(self.scores.shape[0])

    @property
    def binary(self) -> bool:
        """Whether every score is 0 or 1 (then quality is accuracy)."""
        return bool(np.isin(self.scores, (0.0, 1.0)).all())


def eval_table(rows: Sequence[RoutingRow], profile: Profile, *, source: str | os.PathLike[str] | None = None
               ) -> EvalTable:
    """Arrays for evaluating ``profile`` on ``rows``.

    Every row must score every profile model. Per-prompt costs are used when every row gives them
    for every model, else the profile's costs; a mix is an error.

    Raises:
        RoutingTableError: no rows, a missing score, or per-prompt costs on some rows only.
    """
    if not rows:
        raise RoutingTableError(f"{source or 'evaluation data'}: no rows")
    ids = profile.model_ids
    scores = score_matrix(rows, ids)
    missing = np.isnan(scores)
    if missing.any():
        i = int(np.argwhere(missing.any(axis=1))[0, 0])
        names = ", ".join(m for m, gone in zip(ids, missing[i]) if gone)
        where = row_locations(source, len(rows))[i]
        raise RoutingTableError(f"{where}: no score for profile model(s) {names}; every evaluation row must "
                                "score every model of the profile")
    model_costs = np.array([m.cost for m in profile.models], dtype=np.float64)
    with_costs = [r.costs is not None and all(m in r.costs for m in ids) for r in rows]
    if all(with_costs):
        costs = np.array([[r.costs[m] for m in ids] for r in rows], dtype=np.float64)  # type: ignore[index]
        source_kind = "rows"
    elif not any(r.costs for r in rows):
        costs = np.broadcast_to(model_costs, scores.shape).copy()
        source_kind = "profile"
    else:
        i = with_costs.index(False)
        where = row_locations(source, len(rows))[i]
        raise RoutingTableError(f"{where}: 'costs' missing or incomplete while other rows give per-prompt costs; "
                                "give costs for every model on every row, or on none")
    sizes = [m.size_mb for m in profile.models]
    size_mb = None if any(s is None for s in sizes) else np.array(sizes, dtype=np.float64)
    return EvalTable(ids, scores, costs, model_costs, size_mb, tuple(r.task for r in rows), source_kind)


def oracle_choices(scores: np.ndarray, costs: np.ndarray) -> np.ndarray:
    """Per row, the cheapest model reaching that row's best score (ties: the lower index)."""
    best = scores.max(axis=1, keepdims=True)
    return np.asarray(np.where(scores >= best, costs, np.inf).argmin(axis=1))


@dataclass(frozen=True)
class Reference:
    """The fixed facts every operating point is compared with."""

    cheapest: int
    priciest: int
    largest: int  # by size_mb when every size is known, else the most expensive
    best_single: int
    oracle: np.ndarray
    top_cost: float  # the most expensive model's mean cost: the cost normaliser

    @classmethod
    def of(cls, t: EvalTable) -> Reference:
        mean_cost = t.costs.mean(axis=0)
        quality = t.scores.mean(axis=0)
        # ties: cheaper first, then model order
        cheapest = int(np.lexsort((np.arange(len(mean_cost)), mean_cost))[0])
        priciest = int(np.lexsort((np.arange(len(mean_cost)), -mean_cost))[0])
        largest = priciest if t.size_mb is None else int(np.lexsort((np.arange(len(t.size_mb)), -t.size_mb))[0])
        best_single = int(np.lexsort((np.arange(len(quality)), mean_cost, -quality))[0])
        return cls(cheapest, priciest, largest, best_single, oracle_choices(t.scores, t.costs), float(mean_cost.max()))


def point_metrics(choices: np.ndarray, t: EvalTable, ref: Reference) -> dict[str, Any]:
    """Quality, cost, savings and oracle agreement of one choice vector (a model index per row)."""
    rows = np.arange(t.n)
    quality = float(t.scores[rows, choices].mean())
    cost = float(t.costs[rows, choices].mean())

    def savings(j: int) -> float | None:
        base = float(t.costs[:, j].mean())
        return None if base == 0 else 1.0 - cost / base

    m = len(t.model_ids)
    return {
        "quality": quality,
        "accuracy": quality if t.binary else None,
        "cost": cost,
        "cost_normalised": cost / ref.top_cost if ref.top_cost > 0 else 0.0,
        "size_mb": None if t.size_mb is None else float(t.size_mb[choices].mean()),
        "savings_vs_best_single": savings(ref.best_single),
        "savings_vs_largest": savings(ref.largest),
        "oracle_agreement": float(np.mean(choices == ref.oracle)),
        "choice_counts": {t.model_ids[j]: int(c) for j, c in enumerate(np.bincount(choices, minlength=m))},
    }


def agreement_matrix(choices: np.ndarray, oracle: np.ndarray, m: int) -> np.ndarray:
    """Counts (M, M): row = the chosen model, column = the oracle's model."""
    out = np.zeros((m, m), dtype=np.int64)
    np.add.at(out, (choices, oracle), 1)
    return out


def curve_metrics(points: Sequence[CurvePoint], target: float) -> dict[str, Any]:
    """Area under the Pareto-cleaned deferral curve, QNC at ``target`` quality, best quality."""
    pts = list(points)
    return {"area": area(pts), "qnc": qnc(pts, target), "best_quality": best_quality(pts), "points": len(pts)}


def random_matched(t: EvalTable, ref: Reference, target_cost: float, order: np.ndarray) -> np.ndarray:
    """Random routing between always-cheapest and always-most-expensive at a given mean cost.

    ``order`` (a fixed permutation of the rows) decides which rows go to the expensive model, so
    the number sent there matches the cost to within one prompt.
    """
    lo, hi = float(t.costs[:, ref.cheapest].mean()), float(t.costs[:, ref.priciest].mean())
    p = 0.0 if hi <= lo else min(max((target_cost - lo) / (hi - lo), 0.0), 1.0)
    return _mix(t.n, ref, p, order)


def _mix(n: int, ref: Reference, p: float, order: np.ndarray) -> np.ndarray:
    out = np.full(n, ref.cheapest)
    out[order[: int(round(p * n))]] = ref.priciest
    return out


def _percentiles(ms: np.ndarray) -> dict[str, float]:
    return {"p50": float(np.percentile(ms, 50)), "p95": float(np.percentile(ms, 95)),
            "p99": float(np.percentile(ms, 99)), "mean": float(ms.mean())}


@dataclass
class Evaluation:
    """Everything one evaluation measured; ``summary`` is what summary.json holds."""

    table: EvalTable
    summary: dict[str, Any]
    decisions: list[dict[str, Any]]
    curves: dict[str, list[tuple[Any, CurvePoint]]]
    agreement: np.ndarray
    primary_choices: dict[str, np.ndarray]
    latency_ms: dict[str, np.ndarray] = field(default_factory=dict)


def _sweep_router(profile: Profile, embedder: Embedder) -> tuple[Router, float]:
    """A router whose cost_bias 0..1 spans lambda 0..max(LAMBDA_GRID), for tracing the deferral curve.

    Routing through the public Router (not the bare C index) keeps the curve honest to whatever
    rule the router applies.
    """
    top = float(LAMBDA_GRID[-1])
    swept = replace(profile, routing=replace(profile.routing, lambda_min=0.0, lambda_max=top, cost_bias=0.0))
    return Router(swept, embedder, allow_embedder_mismatch=True), top


def evaluate(
    profile: Profile,
    rows: Sequence[RoutingRow],
    *,
    embedder: str | Embedder | None = None,
    train_rows: Sequence[RoutingRow] | None = None,
    cost_bias: float | None = None,
    sweep: bool = False,
    latency_sample: int = 100,
    bootstrap: int = 1000,
    seed: int = 0,
    knn_k: int | None = None,
    logistic_c: float | None = None,
    embeddings: np.ndarray | None = None,
    train_embeddings: np.ndarray | None = None,
    source: str | os.PathLike[str] | None = None,
    progress: StageProgress | None = None,
) -> Evaluation:
    """Evaluate ``profile`` on labelled ``rows`` with every baseline beside it.

    Args:
        profile: the profile to evaluate.
        rows: labelled evaluation rows; each must score every profile model.
        embedder: None for the profile's own embedder.
        train_rows: the training split for the learned baselines (kNN, logistic); rows whose
            prompt also appears in ``rows`` are dropped. None: only the other baselines run.
        cost_bias: the operating point (default: the profile's). Exclusive with ``sweep``.
        sweep: also report operating points at cost_bias 0, 0.1, ..., 1.
        latency_sample: prompts routed one at a time with ``Router.route`` for latency percentiles.
        bootstrap: resamples of the rows for 95% intervals on every curve's area, QNC and best
            quality, and for the router's paired differences from each baseline (0: none).
        seed: for the random baseline, the latency sample, the baselines' validation split and the
            resamples.
        knn_k, logistic_c: fixed hyper-parameters; None picks them on a validation split of the
            training rows (never on ``rows``).
        embeddings, train_embeddings: precomputed embeddings of ``rows`` / ``train_rows`` (same
            embedder), to skip embedding.
        source: the path ``rows`` came from, to name bad rows by file and line.
        progress: ``progress(stage, done, total)`` while embedding.

    Raises:
        RoutingTableError: bad evaluation or training rows.
        EmbedderMismatchError: the embedder is not the profile's.
    """
    if sweep and cost_bias is not None:
        raise ArgumentError("give cost_bias or sweep, not both")
    t = eval_table(rows, profile, source=source)
    ref = Reference.of(t)
    router = Router.load(profile, embedder=embedder)
    emb_model = router.embedder
    notes: list[str] = []

    def stage(name: str) -> Callable[[int, int], None] | None:
        return None if progress is None else (lambda d, n: progress(name, d, n))

    t0 = time.perf_counter()
    if embeddings is None:
        emb = embed_rows(emb_model, [r.prompt for r in rows], stage("embedding evaluation prompts"))
        batch_embed_ms = (time.perf_counter() - t0) * 1e3 / t.n
    else:
        emb = np.ascontiguousarray(embeddings, dtype=np.float32)
        batch_embed_ms = None
        if emb.shape != (t.n, profile.dim):
            raise ArgumentError(f"embeddings must have shape ({t.n}, {profile.dim}), got {emb.shape}")

    # learned baselines, trained on the training split with the same embedder
    learned: dict[str, bl.QualityModel] = {}
    learned_info: dict[str, Any] = {}
    if train_rows is not None:
        kept = drop_overlap(train_rows, rows)
        if not kept:
            raise RoutingTableError(
                "no training rows left after dropping those that also appear in the evaluation data")
        tr_scores = score_matrix(kept, t.model_ids)
        unscored = [m for m, k in zip(t.model_ids, (~np.isnan(tr_scores)).sum(axis=0)) if k == 0]
        if unscored:
            raise RoutingTableError(f"no training row scores profile model(s) {', '.join(unscored)}")
        if train_embeddings is None:
            tr_emb = embed_rows(emb_model, [r.prompt for r in kept], stage("embedding training prompts"))
        else:
            tr_emb = np.ascontiguousarray(train_embeddings, dtype=np.float32)
            if tr_emb.shape != (len(kept), profile.dim):
                raise ArgumentError(f"train_embeddings must have shape ({len(kept)}, {profile.dim}) (the training rows "
                                 f"left after dropping overlap), got {tr_emb.shape}")
        costs = t.model_costs
        if knn_k is None:
            k_best, k_areas = bl.tune(lambda v: bl.KNNRouter(int(v)), bl.KNN_K_CANDIDATES, tr_emb, tr_scores, costs,
                                      seed=seed)
            knn_k = int(k_best)
        else:
            k_areas = {}
        if logistic_c is None:
            logistic_c, c_areas = bl.tune(lambda v: bl.LogisticRouter(v, seed), bl.LOGISTIC_C_CANDIDATES, tr_emb,
                                          tr_scores, costs, seed=seed)
        else:
            c_areas = {}
        learned["knn"] = bl.KNNRouter(knn_k).fit(tr_emb, tr_scores)
        learned["logistic"] = bl.LogisticRouter(logistic_c, seed).fit(tr_emb, tr_scores)
        learned_info = {
            "training_rows": len(kept), "dropped_overlap": len(train_rows) - len(kept),
            "knn": {"k": knn_k, "validation_area_by_k": {str(k): round(a, 6) for k, a in k_areas.items()}},
            "logistic": {"C": logistic_c, "validation_area_by_C": {str(c): round(a, 6) for c, a in c_areas.items()}},
            "selection": "hyper-parameters by deferral-curve area on a seeded 25% validation split of the "
                         "training rows",
        }
    else:
        notes.append("learned baselines (knn, logistic) not run: no training rows given (--train)")

    predictions = {name: model.predict(emb) for name, model in learned.items()}

    # operating points
    default_bias = profile.routing.cost_bias if cost_bias is None else float(cost_bias)
    biases = sorted(set(SWEEP_BIASES) | {default_bias}) if sweep else [default_bias]
    order = np.random.default_rng(seed).permutation(t.n)
    fixed = {CHEAPEST: np.full(t.n, ref.cheapest), PRICIEST: np.full(t.n, ref.priciest),
             BEST_SINGLE: np.full(t.n, ref.best_single), ORACLE: ref.oracle}
    points: list[dict[str, Any]] = []
    choices_at: dict[float, dict[str, np.ndarray]] = {}
    batches = {}
    for b in biases:
        lam = profile.routing.lam(b)
        batch = router.route_embeddings(emb, cost_bias=b)
        batches[b] = batch
        ours = np.asarray(batch.model_index, dtype=np.int64)
        chosen = {ROUTER: ours}
        for name, pred in predictions.items():
            chosen[name] = bl.pick(pred, t.model_costs, lam)
        chosen[RANDOM] = random_matched(t, ref, float(t.costs[np.arange(t.n), ours].mean()), order)
        chosen.update(fixed)
        choices_at[b] = chosen
        metrics = {name: point_metrics(c, t, ref) for name, c in chosen.items()}
        in_dist = getattr(batch, "in_distribution", None)
        if in_dist is not None:  # profiles with an out-of-distribution threshold route such prompts to a fallback
            metrics[ROUTER]["out_of_distribution_share"] = float(1.0 - np.mean(in_dist))
        points.append({"cost_bias": b, "lambda": lam, "routers": metrics})
    primary = choices_at[default_bias]

    # deferral curves
    swept, top = _sweep_router(profile, emb_model)
    curves: dict[str, list[tuple[Any, CurvePoint]]] = {}

    curve_choices: dict[str, list[np.ndarray]] = {}

    def trace(params: Sequence[Any], choices: list[np.ndarray]) -> list[tuple[Any, CurvePoint]]:
        return list(zip(params, choices_curve(choices, t.scores, t.costs)))

    lams = [float(x) for x in LAMBDA_GRID]
    curve_choices[ROUTER] = [np.asarray(swept.route_embeddings(emb, cost_bias=lam / top).model_index, dtype=np.int64)
                             for lam in lams]
    for name, pred in predictions.items():
        curve_choices[name] = bl.picks(pred, t.model_costs, lams)
    curve_choices[ORACLE] = bl.picks(t.scores, t.model_costs, lams)
    curve_choices[RANDOM] = [_mix(t.n, ref, p, order) for p in RANDOM_GRID]
    curve_choices[SINGLES] = [np.full(t.n, j) for j in range(len(t.model_ids))]
    params: dict[str, Sequence[Any]] = {RANDOM: [round(float(p), 4) for p in RANDOM_GRID], SINGLES: t.model_ids}
    for name, choices in curve_choices.items():
        curves[name] = trace(params.get(name, lams), choices)
    target = float(t.scores[:, ref.best_single].mean())
    curve_summary = {name: curve_metrics([p for _, p in pts], target) for name, pts in curves.items()}
    paired = _bootstrap(curve_choices, curve_summary, t, ref.best_single, bootstrap, seed) if bootstrap else None

    # latency: one prompt at a time through the public API, on a seeded sample
    sample = order[: min(latency_sample, t.n)]
    latency: dict[str, Any] = {}
    latency_ms: dict[str, np.ndarray] = {}
    if len(sample):
        for i in sample[:3]:  # warm-up: first calls pay one-off costs (allocations, caches)
            router.route(rows[int(i)].prompt)
        timed = [router.route(rows[int(i)].prompt) for i in sample]
        latency_ms["embed"] = np.array([d.embed_ms for d in timed])
        latency_ms["score"] = np.array([d.score_ms for d in timed])
        latency_ms["total"] = latency_ms["embed"] + latency_ms["score"]
        latency = {
            "sample": len(sample),
            "method": "Router.route, one prompt at a time, after 3 warm-up calls",
            "embed_ms": _percentiles(latency_ms["embed"]),
            "score_ms": _percentiles(latency_ms["score"]),
            "total_ms": _percentiles(latency_ms["total"]),
        }
        lam = profile.routing.lam(default_bias)
        for name, model in learned.items():
            ms = []
            for i in sample:
                s0 = time.perf_counter()
                bl.pick(model.predict(emb[int(i) : int(i) + 1]), t.model_costs, lam)
                ms.append((time.perf_counter() - s0) * 1e3)
            latency_ms[f"score:{name}"] = np.array(ms)
            latency.setdefault("baseline_score_ms", {})[name] = _percentiles(np.array(ms))
        s0 = time.perf_counter()
        router.route_embeddings(emb, cost_bias=default_bias)
        latency["batch"] = {"rows": t.n, "score_ms_per_prompt": (time.perf_counter() - s0) * 1e3 / t.n,
                            "embed_ms_per_prompt": batch_embed_ms}

    # per task, at the primary operating point
    tasks: dict[str, Any] = {}
    if any(task is not None for task in t.tasks):
        labels = np.array([task if task is not None else "(none)" for task in t.tasks])
        for task in sorted(set(labels.tolist())):
            sel = labels == task
            sub = replace(t, scores=t.scores[sel], costs=t.costs[sel])
            subref = replace(ref, oracle=ref.oracle[sel])
            tasks[task] = {"rows": int(sel.sum()), "routers": {
                name: {k: v for k, v in point_metrics(c[sel], sub, subref).items() if k != "choice_counts"}
                for name, c in primary.items()}}

    agreement = agreement_matrix(primary[ROUTER], ref.oracle, len(t.model_ids))
    notes += [
        "best-single is the model with the highest mean score on these rows (chosen with hindsight, "
        "as in the literature)",
        f"random sends a seeded random subset of rows (seed {seed}) to {t.model_ids[ref.priciest]} and the rest "
        f"to {t.model_ids[ref.cheapest]}, sized to match {ROUTER}'s mean cost",
        "oracle: per row, the cheapest model reaching the row's best score",
        "costs normalised by the most expensive model's mean cost; deferral curves swept over "
        f"{len(LAMBDA_GRID)} lambdas in [0, {LAMBDA_GRID[-1]:g}], Pareto-cleaned, flat beyond their ends; "
        "QNC target: best-single's quality",
    ]
    summary: dict[str, Any] = {
        "rows": t.n,
        "models": [{"id": m.id, "cost": m.cost, "size_mb": m.size_mb,
                    "mean_score": float(t.scores[:, j].mean()), "mean_cost": float(t.costs[:, j].mean())}
                   for j, m in enumerate(profile.models)],
        "cost_source": t.cost_source,
        "scores_binary": t.binary,
        "embedder": emb_model.name,
        "reference": {
            "cheapest": t.model_ids[ref.cheapest], "most_expensive": t.model_ids[ref.priciest],
            "largest": t.model_ids[ref.largest], "best_single": t.model_ids[ref.best_single],
            "best_single_quality": target, "oracle_quality": float(t.scores.max(axis=1).mean()),
            "cost_normaliser": ref.top_cost,
        },
        "primary_cost_bias": default_bias,
        "operating_points": points,
        "curves": curve_summary,
        "latency": latency,
        "tasks": tasks,
        "learned_baselines": learned_info or None,
        "bootstrap": None if paired is None else {
            "resamples": bootstrap, "seed": seed, "paired": paired,
            "method": "the evaluation rows resampled with replacement, the same resamples for every router; "
                      "ci95: 2.5th and 97.5th percentiles; paired: this router's figure minus each other's"},
        "notes": notes,
    }
    decisions = _decisions(rows, t, ref, choices_at, batches[default_bias], default_bias, sweep)
    return Evaluation(t, summary, decisions, curves, agreement, primary, latency_ms)


def _bootstrap(curve_choices: dict[str, list[np.ndarray]], curve_summary: dict[str, dict[str, Any]], t: EvalTable,
               target: int, resamples: int, seed: int) -> dict[str, Any]:
    """Adds each curve's 95% intervals to ``curve_summary``; returns the router's paired differences."""
    chunks: dict[str, list[dict[str, np.ndarray]]] = {name: [] for name in curve_choices}
    for counts in resample_counts(t.n, resamples, seed):  # the same resamples for every router
        for name, ch in curve_choices.items():
            chunks[name].append(resampled_figures(ch, t.scores, t.costs, target, counts))
    figures = {name: {k: np.concatenate([c[k] for c in cs]) for k in cs[0]} for name, cs in chunks.items()}

    def interval(x: np.ndarray) -> list[float | None]:
        q = np.quantile(np.where(np.isnan(x), np.inf, x), [0.025, 0.975], method="inverted_cdf")
        return [float(v) if np.isfinite(v) else None for v in q]  # None: QNC not reached

    for name, f in figures.items():
        curve_summary[name]["ci95"] = {k: interval(v) for k, v in f.items()}
    ours = figures[ROUTER]
    return {
        name: {k: {"difference": curve_summary[ROUTER][k] - curve_summary[name][k],
                   "ci95": interval(ours[k] - f[k]), "share_router_better": float(np.mean(ours[k] > f[k]))}
               for k in ("area", "best_quality")}
        for name, f in figures.items() if name not in (ROUTER, ORACLE)
    }


def _decisions(rows: Sequence[RoutingRow], t: EvalTable, ref: Reference, choices_at: dict[float, dict[str, np.ndarray]],
               batch: Any, primary: float, sweep: bool) -> list[dict[str, Any]]:
    ids = t.model_ids
    out = []
    fixed = (CHEAPEST, PRICIEST, BEST_SINGLE, ORACLE)
    for i, r in enumerate(rows):
        choices: dict[str, Any] = {}
        for b, chosen in choices_at.items():
            for name, c in chosen.items():
                if name in fixed and b != primary:
                    continue
                label = name if (name in fixed or not sweep) else f"{name}@{b:g}"
                j = int(c[i])
                choices[label] = {"model": ids[j], "score": float(t.scores[i, j]), "cost": float(t.costs[i, j])}
        entry: dict[str, Any] = {"row": i}
        if r.id is not None:
            entry["id"] = r.id
        if r.task is not None:
            entry["task"] = r.task
        entry.update(
            prompt=r.prompt, best_score=float(t.scores[i].max()), oracle=ids[int(ref.oracle[i])],
            cluster=int(batch.cluster[i]), similarity=round(float(batch.similarity[i]), 6),
            margin=round(float(batch.margin[i]), 6), expected_error=round(float(batch.expected_error[i]), 6),
            choices=choices,
        )
        out.append(entry)
    return out
