"""The router's deferral curve, its area and per-model shares, from a labelled table routed on Ray.

The actors embed each prompt once and route the embedding at the operating point and at every
lambda of the curve; the driver gathers the choices by row id and computes the figures with the
same functions as ``cactus_router.evaluation.evaluate``, so on the same rows and embeddings the
figures are the same.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any, cast

import numpy as np
import pyarrow as pa
import ray.data

from ..data import RoutingRow
from ..errors import ClusterError
from ..evaluation import Reference, curve_metrics, eval_table, point_metrics
from ..metrics import LAMBDA_GRID, CurvePoint, choices_curve
from ..profile import Profile
from ..routing import Router, RouteRequest
from .ray import DEFAULT_BATCH_SIZE, ROW_ID, EmbedderSpec, blocks


class SweepBatches:
    """What each actor runs: embed a batch once, then route it at the operating point and at every lambda."""

    def __init__(self, profile: Profile, embedder: EmbedderSpec, cost_bias: float) -> None:
        self.router = Router.load(profile, embedder=embedder() if callable(embedder) else embedder)
        self.cost_bias = cost_bias
        # As evaluate traces the curve: cost_bias 0..1 spanning lambda 0..max(LAMBDA_GRID), through
        # the public Router, so the curve follows every rule the router applies.
        top = float(LAMBDA_GRID[-1])
        swept = replace(profile, routing=replace(profile.routing, lambda_min=0.0, lambda_max=top, cost_bias=0.0))
        self.swept = Router(swept, self.router.embedder, allow_embedder_mismatch=True)
        self.biases = [float(lam) / top for lam in LAMBDA_GRID]

    def __call__(self, batch: pa.Table) -> pa.Table:
        emb = self.router.embedder.embed_many(batch.column("prompt").to_pylist())
        choice = self.router.route_embeddings(emb, cost_bias=self.cost_bias).model_index
        curve = np.stack([self.swept.route_embeddings(emb, cost_bias=b).model_index for b in self.biases], axis=1)
        flat = pa.array(curve.astype(np.int16).ravel(), type=pa.int16())
        return pa.table({ROW_ID: batch.column(ROW_ID), "choice": pa.array(choice.astype(np.int16)),
                         "curve": pa.FixedSizeListArray.from_arrays(flat, len(self.biases))})


@dataclass(frozen=True)
class ScaleEvaluation:
    """The router's figures on a labelled table, as ``evaluate`` reports them.

    Attributes:
        rows: rows evaluated.
        cost_bias: the operating point.
        area, qnc, best_quality, points: the deferral curve's (``summary["curves"]["cactus-router"]``).
        curve: the curve's points, one per lambda of LAMBDA_GRID.
        operating_point: ``point_metrics`` at ``cost_bias`` (quality, cost, choice_counts, ...).
        shares: each model's share of the rows at the operating point.
    """

    rows: int
    cost_bias: float
    area: float
    qnc: float | None
    best_quality: float
    points: int
    curve: tuple[CurvePoint, ...]
    operating_point: dict[str, Any]
    shares: dict[str, float]


def evaluate_dataset(profile: str | os.PathLike[str] | Profile, rows: Sequence[RoutingRow], *,
                     embedder: EmbedderSpec = None, cost_bias: float | None = None,
                     batch_size: int = DEFAULT_BATCH_SIZE, num_actors: int = 1) -> ScaleEvaluation:
    """Route labelled ``rows`` on Ray (a pool of ``num_actors``) and compute the router's figures.

    Call ``cactus_router.integrations.ray.connect`` (or ``ray.init``) first.

    Raises:
        RoutingTableError: a row does not score every profile model.
        ClusterError: a row did not come back from the cluster.
    """
    prof = profile if isinstance(profile, Profile) else Profile.load(profile)
    t = eval_table(rows, prof)
    ref = Reference.of(t)
    bias = prof.routing.cost_bias if cost_bias is None else float(cost_bias)
    RouteRequest.of(cost_bias=bias)
    Router.load(prof, embedder=embedder() if callable(embedder) else embedder)  # fail here, not in every actor
    table = pa.table({ROW_ID: pa.array(range(t.n), type=pa.int64()), "prompt": [r.prompt for r in rows]})
    routed = ray.data.from_arrow(blocks(table, 0, t.n, batch_size, num_actors)).map_batches(
        SweepBatches, fn_constructor_kwargs={"profile": prof, "embedder": embedder, "cost_bias": bias},
        batch_size=batch_size, batch_format="pyarrow", compute=ray.data.ActorPoolStrategy(size=num_actors),
        num_cpus=1.0)
    choice = np.full(t.n, -1, dtype=np.int16)
    curve = np.full((t.n, len(LAMBDA_GRID)), -1, dtype=np.int16)
    arrived = np.zeros(t.n, dtype=bool)
    for got in routed.iter_batches(batch_format="pyarrow", batch_size=None):
        batch = cast(pa.Table, got)
        ids = batch.column(ROW_ID).to_numpy()
        if arrived[ids].any():
            raise ClusterError(f"row {int(ids[arrived[ids]][0])} came back twice")
        arrived[ids] = True
        choice[ids] = batch.column("choice").to_numpy()
        curve[ids] = batch.column("curve").combine_chunks().flatten().to_numpy().reshape(len(ids), -1)
    if not arrived.all():
        raise ClusterError(f"{int((~arrived).sum())} row(s) did not come back, e.g. row {int(np.argmin(arrived))}")
    points = choices_curve([curve[:, j] for j in range(curve.shape[1])], t.scores, t.costs)
    figures = curve_metrics(points, float(t.scores[:, ref.best_single].mean()))
    at = point_metrics(choice.astype(np.int64), t, ref)
    return ScaleEvaluation(t.n, bias, figures["area"], figures["qnc"], figures["best_quality"], figures["points"],
                           tuple(points), at, {m: c / t.n for m, c in at["choice_counts"].items()})
