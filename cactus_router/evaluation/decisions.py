"""Per-prompt records (results.json): every router's choice on each row, with the router's own signals."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..data import RoutingRow
from ..routing import DecisionBatch
from .names import FIXED
from .table import EvalTable, Reference


def decision_records(rows: Sequence[RoutingRow], t: EvalTable, ref: Reference,
                     choices_at: dict[float, dict[str, np.ndarray]], batch: DecisionBatch, primary: float,
                     sweep: bool) -> list[dict[str, Any]]:
    """One record per row: its prompt, best score and oracle model, and each router's model, score and cost.

    ``batch`` is the router's own batch at the ``primary`` cost_bias, whose signals (cluster,
    similarity, margin, expected error) each record carries. With ``sweep`` the routers whose
    choice depends on the cost_bias appear once per swept point, as ``name@cost_bias``.
    """
    ids = t.model_ids
    out = []
    for i, r in enumerate(rows):
        choices: dict[str, Any] = {}
        for b, chosen in choices_at.items():
            for name, c in chosen.items():
                if name in FIXED and b != primary:
                    continue
                label = name if (name in FIXED or not sweep) else f"{name}@{b:g}"
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
