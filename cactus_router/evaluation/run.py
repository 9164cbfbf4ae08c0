"""``evaluate``: a profile on labelled prompts, every baseline beside it, as a few named steps.

Every figure is measured on the evaluation rows; nothing is derived from fixed multipliers. The
cluster router, always-cheapest, always-most-expensive, the best single model, random at matched
cost, the per-prompt oracle and (given training rows) a kNN and a logistic router are scored on the
same rows, with the same costs and, for the learned ones, the same embeddings.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..data import RoutingRow, drop_overlap, score_matrix
from ..embedders import Embedder
from ..errors import ArgumentError, RoutingTableError
from ..metrics import CurvePoint
from ..profile import Profile
from ..routing import Router
from ..tiers import TierLabels
from ..training import embed_rows
from . import baselines as bl
from .bootstrap import bootstrap_curves
from .curves import curve_summaries, trace_curves
from .decisions import decision_records
from .latency import measure_latency
from .names import ROUTER
from .points import SWEEP_BIASES, agreement_matrix, operating_points, task_breakdown
from .summary import method_notes, summarise
from .table import EvalTable, Reference, eval_table
from .tier_run import check_tier_input, evaluate_tiers, has_tier_counts

#: Progress callback: ``progress(stage, done, total)``.
StageProgress = Callable[[str, int, int], None]
#: Progress of one stage: ``progress(done, total)``.
_Progress = Callable[[int, int], None]


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


@dataclass(frozen=True)
class Learned:
    """The learned baselines fitted on the training split, and how (the summary's "learned_baselines")."""

    models: dict[str, bl.QualityModel]
    info: dict[str, Any] | None


def _stage(progress: StageProgress | None, name: str) -> _Progress | None:
    return None if progress is None else (lambda d, n: progress(name, d, n))


def embed_evaluation(embedder: Embedder, rows: Sequence[RoutingRow], dim: int, embeddings: np.ndarray | None,
                     progress: _Progress | None = None) -> tuple[np.ndarray, float | None]:
    """The rows' embeddings, and the embedding time per prompt (None when ``embeddings`` were given).

    Raises:
        ArgumentError: ``embeddings`` are not (len(rows), dim).
    """
    t0 = time.perf_counter()
    if embeddings is None:
        emb = embed_rows(embedder, [r.prompt for r in rows], progress)
        return emb, (time.perf_counter() - t0) * 1e3 / len(rows)
    emb = np.ascontiguousarray(embeddings, dtype=np.float32)
    if emb.shape != (len(rows), dim):
        raise ArgumentError(f"embeddings must have shape ({len(rows)}, {dim}), got {emb.shape}")
    return emb, None


def training_split(train_rows: Sequence[RoutingRow], rows: Sequence[RoutingRow],
                   model_ids: Sequence[str]) -> tuple[list[RoutingRow], np.ndarray]:
    """The training rows whose prompt is not an evaluation prompt, and their (n, M) scores (NaN: unscored).

    Raises:
        RoutingTableError: no row is left, or a model is scored by none.
    """
    kept = drop_overlap(train_rows, rows)
    if not kept:
        raise RoutingTableError("no training rows left after dropping those that also appear in the evaluation data")
    scores = score_matrix(kept, model_ids)
    unscored = [m for m, k in zip(model_ids, (~np.isnan(scores)).sum(axis=0)) if k == 0]
    if unscored:
        raise RoutingTableError(f"no training row scores profile model(s) {', '.join(unscored)}")
    return kept, scores


def learned_baselines(train_rows: Sequence[RoutingRow], rows: Sequence[RoutingRow], t: EvalTable,
                      embedder: Embedder, dim: int, *, train_embeddings: np.ndarray | None, knn_k: int | None,
                      logistic_c: float | None, seed: int, progress: _Progress | None = None) -> Learned:
    """kNN and logistic routers fitted on the training split with the evaluation's embedder.

    Raises:
        RoutingTableError: see ``training_split``.
        ArgumentError: ``train_embeddings`` do not match the training rows left.
    """
    kept, scores = training_split(train_rows, rows, t.model_ids)
    if train_embeddings is None:
        emb = embed_rows(embedder, [r.prompt for r in kept], progress)
    else:
        emb = np.ascontiguousarray(train_embeddings, dtype=np.float32)
        if emb.shape != (len(kept), dim):
            raise ArgumentError(f"train_embeddings must have shape ({len(kept)}, {dim}) (the training rows "
                                f"left after dropping overlap), got {emb.shape}")
    models, info = bl.fit_learned(emb, scores, t.model_costs, knn_k=knn_k, logistic_c=logistic_c, seed=seed)
    return Learned(models, {"training_rows": len(kept), "dropped_overlap": len(train_rows) - len(kept), **info})


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
    tier_labels: TierLabels | None = None,
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
        tier_labels: the rows' tier labels (``tiers.read_labels(path, rows)``), for a profile with
            tier counts; None labels them with the 9-cell oracle over the profile's tier pair.
        progress: ``progress(stage, done, total)`` while embedding.

    Raises:
        RoutingTableError: bad evaluation or training rows.
        EmbedderMismatchError: the embedder is not the profile's.
        ArgumentError, RoutingTableError: tier labels that do not fit the profile or the rows
            (``tier_run.check_tier_input``).
    """
    if sweep and cost_bias is not None:
        raise ArgumentError("give cost_bias or sweep, not both")
    t = eval_table(rows, profile, source=source)
    check_tier_input(profile, tier_labels, len(rows))  # bad tier input fails before anything is embedded
    ref = Reference.of(t)
    router = Router.load(profile, embedder=embedder)
    emb, batch_embed_ms = embed_evaluation(router.embedder, rows, profile.dim, embeddings,
                                           _stage(progress, "embedding evaluation prompts"))
    notes: list[str] = []
    if train_rows is None:
        learned = Learned({}, None)
        notes.append("learned baselines (knn, logistic) not run: no training rows given (--train)")
    else:
        learned = learned_baselines(train_rows, rows, t, router.embedder, profile.dim,
                                    train_embeddings=train_embeddings, knn_k=knn_k, logistic_c=logistic_c, seed=seed,
                                    progress=_stage(progress, "embedding training prompts"))
    predictions = {name: model.predict(emb) for name, model in learned.models.items()}

    primary = profile.routing.cost_bias if cost_bias is None else float(cost_bias)
    order = np.random.default_rng(seed).permutation(t.n)  # the random baseline's rows, and the latency sample
    points = operating_points(router, emb, t, ref, predictions,
                              sorted(set(SWEEP_BIASES) | {primary}) if sweep else [primary], order)
    chosen = points.choices_at[primary]
    curves = trace_curves(router, emb, t, ref, predictions, order)
    curve_summary = curve_summaries(curves, float(t.scores[:, ref.best_single].mean()))
    paired = bootstrap_curves(curves.choices, curve_summary, t, ref.best_single, bootstrap, seed) if bootstrap else None
    latency, latency_ms = measure_latency(router, [r.prompt for r in rows], emb, order[: min(latency_sample, t.n)],
                                          learned.models, t.model_costs, primary, batch_embed_ms)
    summary = summarise(profile, t, ref, embedder=router.embedder.name, primary_cost_bias=primary,
                        points=points.points, curves=curve_summary, latency=latency,
                        tasks=task_breakdown(t, ref, chosen), learned=learned.info, paired=paired,
                        resamples=bootstrap, seed=seed, notes=notes + method_notes(t, ref, seed))
    if has_tier_counts(profile):
        summary["tiers"] = evaluate_tiers(profile, router, emb, t, rows, primary, tier_labels, bootstrap, seed,
                                          None if source is None else str(source))
    decisions = decision_records(rows, t, ref, points.choices_at, points.batches[primary], primary, sweep)
    agreement = agreement_matrix(chosen[ROUTER], ref.oracle, len(t.model_ids))
    return Evaluation(t, summary, decisions, curves.points, agreement, chosen, latency_ms)
