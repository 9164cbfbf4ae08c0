"""Deferral curves: every router's quality against cost over its whole range of trade-offs, and their figures."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from ..embedders import Embedder
from ..metrics import LAMBDA_GRID, CurvePoint, area, best_quality, choices_curve, qnc
from ..profile import Profile
from ..routing import Router
from . import baselines as bl
from .names import ORACLE, RANDOM, ROUTER, SINGLES
from .points import random_mix
from .table import EvalTable, Reference

#: Mixing probabilities traced for the random router's curve.
RANDOM_GRID = tuple(np.linspace(0.0, 1.0, 21))


def curve_metrics(points: Sequence[CurvePoint], target: float) -> dict[str, Any]:
    """Area under the Pareto-cleaned deferral curve, QNC at ``target`` quality, best quality."""
    pts = list(points)
    return {"area": area(pts), "qnc": qnc(pts, target), "best_quality": best_quality(pts), "points": len(pts)}


def sweep_router(profile: Profile, embedder: Embedder) -> tuple[Router, float]:
    """A router whose cost_bias 0..1 spans lambda 0..max(LAMBDA_GRID), for tracing the deferral curve.

    Routing through the public Router (not the bare C index) keeps the curve honest to whatever
    rule the router applies.
    """
    top = float(LAMBDA_GRID[-1])
    swept = replace(profile, routing=replace(profile.routing, lambda_min=0.0, lambda_max=top, cost_bias=0.0))
    return Router(swept, embedder, allow_embedder_mismatch=True), top


@dataclass(frozen=True)
class Curves:
    """Each router's curve as (parameter, point) pairs, and the choice vectors the points come from."""

    points: dict[str, list[tuple[Any, CurvePoint]]]
    choices: dict[str, list[np.ndarray]]


def trace_curves(router: Router, emb: np.ndarray, t: EvalTable, ref: Reference,
                 predictions: Mapping[str, np.ndarray], order: np.ndarray) -> Curves:
    """Every router's deferral curve on the evaluation rows.

    The router, the learned baselines (``predictions``) and the oracle are traced over
    LAMBDA_GRID, random over RANDOM_GRID (with the row ``order`` of its operating points), and the
    single models give one point each.
    """
    swept, top = sweep_router(router.profile, router.embedder)
    lams = [float(x) for x in LAMBDA_GRID]
    choices: dict[str, list[np.ndarray]] = {}
    choices[ROUTER] = [np.asarray(swept.route_embeddings(emb, cost_bias=lam / top).model_index, dtype=np.int64)
                       for lam in lams]
    for name, pred in predictions.items():
        choices[name] = bl.picks(pred, t.model_costs, lams)
    choices[ORACLE] = bl.picks(t.scores, t.model_costs, lams)
    choices[RANDOM] = [random_mix(t.n, ref, p, order) for p in RANDOM_GRID]
    choices[SINGLES] = [np.full(t.n, j) for j in range(len(t.model_ids))]
    params: dict[str, Sequence[Any]] = {RANDOM: [round(float(p), 4) for p in RANDOM_GRID], SINGLES: t.model_ids}
    points = {name: list(zip(params.get(name, lams), choices_curve(ch, t.scores, t.costs)))
              for name, ch in choices.items()}
    return Curves(points, choices)


def curve_summaries(curves: Curves, target: float) -> dict[str, dict[str, Any]]:
    """``curve_metrics`` of every curve, the QNC at ``target`` quality."""
    return {name: curve_metrics([p for _, p in pts], target) for name, pts in curves.points.items()}
