"""Bootstrap intervals on every curve's figures, and the router's paired differences from each baseline."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..metrics import resample_counts, resampled_figures
from .names import ORACLE, ROUTER
from .table import EvalTable

METHOD = ("the evaluation rows resampled with replacement, the same resamples for every router; "
          "ci95: 2.5th and 97.5th percentiles; paired: this router's figure minus each other's")


def interval(x: np.ndarray) -> list[float | None]:
    """The 2.5th and 97.5th percentiles of ``x``; NaN (a QNC not reached) counts as beyond every value."""
    q = np.quantile(np.where(np.isnan(x), np.inf, x), [0.025, 0.975], method="inverted_cdf")
    return [float(v) if np.isfinite(v) else None for v in q]  # None: QNC not reached


def bootstrap_curves(curve_choices: dict[str, list[np.ndarray]], curve_summary: dict[str, dict[str, Any]], t: EvalTable,
              target: int, resamples: int, seed: int) -> dict[str, Any]:
    """Adds each curve's 95% intervals to ``curve_summary``; returns the router's paired differences.

    ``curve_choices`` are each curve's choice vectors, ``target`` the model whose quality is the
    QNC target (recomputed on each resample).
    """
    chunks: dict[str, list[dict[str, np.ndarray]]] = {name: [] for name in curve_choices}
    for counts in resample_counts(t.n, resamples, seed):  # the same resamples for every router
        for name, ch in curve_choices.items():
            chunks[name].append(resampled_figures(ch, t.scores, t.costs, target, counts))
    figures = {name: {k: np.concatenate([c[k] for c in cs]) for k in cs[0]} for name, cs in chunks.items()}
    for name, f in figures.items():
        curve_summary[name]["ci95"] = {k: interval(v) for k, v in f.items()}
    ours = figures[ROUTER]
    return {
        name: {k: {"difference": curve_summary[ROUTER][k] - curve_summary[name][k],
                   "ci95": interval(ours[k] - f[k]), "share_router_better": float(np.mean(ours[k] > f[k]))}
               for k in ("area", "best_quality")}
        for name, f in figures.items() if name not in (ROUTER, ORACLE)
    }
