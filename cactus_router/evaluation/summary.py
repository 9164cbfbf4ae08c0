"""The evaluation summary (summary.json): the reference facts, every figure measured, and notes on the method."""

from __future__ import annotations

from typing import Any

from ..metrics import LAMBDA_GRID
from ..profile import Profile
from . import bootstrap as bs
from .names import ROUTER
from .table import EvalTable, Reference


def method_notes(t: EvalTable, ref: Reference, seed: int) -> list[str]:
    """How the baselines and the curves are defined, in words, for the summary's notes."""
    return [
        "best-single is the model with the highest mean score on these rows (chosen with hindsight, "
        "as in the literature)",
        f"random sends a seeded random subset of rows (seed {seed}) to {t.model_ids[ref.priciest]} and the rest "
        f"to {t.model_ids[ref.cheapest]}, sized to match {ROUTER}'s mean cost",
        "oracle: per row, the cheapest model reaching the row's best score",
        "costs normalised by the most expensive model's mean cost; deferral curves swept over "
        f"{len(LAMBDA_GRID)} lambdas in [0, {LAMBDA_GRID[-1]:g}], Pareto-cleaned, flat beyond their ends; "
        "QNC target: best-single's quality",
    ]


def reference_summary(t: EvalTable, ref: Reference) -> dict[str, Any]:
    """The reference models by id, best-single's and the oracle's quality, and the cost normaliser."""
    return {
        "cheapest": t.model_ids[ref.cheapest], "most_expensive": t.model_ids[ref.priciest],
        "largest": t.model_ids[ref.largest], "best_single": t.model_ids[ref.best_single],
        "best_single_quality": float(t.scores[:, ref.best_single].mean()),
        "oracle_quality": float(t.scores.max(axis=1).mean()),
        "cost_normaliser": ref.top_cost,
    }


def summarise(profile: Profile, t: EvalTable, ref: Reference, *, embedder: str, primary_cost_bias: float,
              points: list[dict[str, Any]], curves: dict[str, dict[str, Any]], latency: dict[str, Any],
              tasks: dict[str, Any], learned: dict[str, Any] | None, paired: dict[str, Any] | None,
              resamples: int, seed: int, notes: list[str]) -> dict[str, Any]:
    """The summary of one evaluation, in the key order summary.json has always had.

    ``paired`` is None when no bootstrap ran (``resamples`` 0).
    """
    return {
        "rows": t.n,
        "models": [{"id": m.id, "cost": m.cost, "size_mb": m.size_mb,
                    "mean_score": float(t.scores[:, j].mean()), "mean_cost": float(t.costs[:, j].mean())}
                   for j, m in enumerate(profile.models)],
        "cost_source": t.cost_source,
        "scores_binary": t.binary,
        "embedder": embedder,
        "reference": reference_summary(t, ref),
        "primary_cost_bias": primary_cost_bias,
        "operating_points": points,
        "curves": curves,
        "latency": latency,
        "tasks": tasks,
        "learned_baselines": learned,
        "bootstrap": None if paired is None else {
            "resamples": resamples, "seed": seed, "paired": paired, "method": bs.METHOD},
        "notes": notes,
    }
