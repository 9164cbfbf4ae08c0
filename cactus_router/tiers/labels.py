"""Tier label files (TIERS.jsonl): one line per routing-table row, in the table's order.

A line is ``{"prompt", "id"?, "tier": "Standard" | "Complex" | "Ambiguous" | null, "medium",
"large", "grades": {model: grade}}``; ``tier`` is null for a row the oracle could not label.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .._files import input_lines, open_input, write_atomic
from ..data import MAX_LINE_BYTES, MAX_TABLE_BYTES, RoutingRow
from ..errors import RoutingTableError
from .names import check_tier
from .oracle import Label


@dataclass(frozen=True)
class TierLabels:
    """The tiers of a table's rows (None: not labelled) and the two models they compare."""

    tiers: tuple[str | None, ...]
    medium: str
    large: str


def write_labels(rows: Sequence[RoutingRow], labels: Sequence[Label | None], medium: str, large: str,
                 path: str | os.PathLike[str], *, follow_symlinks: bool = False) -> None:
    """Write one label line per row, atomically (``follow_symlinks`` as in ``_files.write_atomic``)."""
    lines = []
    for row, label in zip(rows, labels, strict=True):
        obj: dict[str, Any] = {"prompt": row.prompt}
        if row.id is not None:
            obj["id"] = row.id
        obj["tier"] = None if label is None else label.tier
        obj["medium"], obj["large"] = medium, large
        if label is not None:
            obj["grades"] = {medium: label.medium, large: label.large}
        lines.append(json.dumps(obj, ensure_ascii=False))
    write_atomic(path, "\n".join(lines) + "\n", follow_symlinks=follow_symlinks)


def read_labels(path: str | os.PathLike[str], rows: Sequence[RoutingRow] | None = None) -> TierLabels:
    """Read a label file; with ``rows``, check that its lines are those rows, in order.

    Raises:
        RoutingTableError: not a regular file, a line that is not a label, a tier that is not
            one of the three, lines comparing different models, or (with ``rows``) a different
            number of lines or a prompt that is not its row's, named by file and line.
    """
    p = Path(path)
    tiers: list[str | None] = []
    pair: tuple[str, str] | None = None
    with open_input(p, "tier label file", RoutingTableError, MAX_TABLE_BYTES) as fh:
        for lineno, line in input_lines(fh, str(p), RoutingTableError, limit=MAX_TABLE_BYTES,
                                        line_limit=MAX_LINE_BYTES):
            if not line.strip():
                continue
            where = f"{p}:{lineno}"
            obj = _object(line, where)
            models = (obj.get("medium"), obj.get("large"))
            if not all(isinstance(m, str) and m for m in models):
                raise RoutingTableError(f"{where}: 'medium' and 'large' must name the two models compared")
            if pair is None:
                pair = (str(models[0]), str(models[1]))
            elif models != pair:
                raise RoutingTableError(f"{where}: compares {models[0]!r} and {models[1]!r}, but earlier lines "
                                        f"compare {pair[0]!r} and {pair[1]!r}; one file labels one pair")
            tier = obj.get("tier")
            tiers.append(None if tier is None else check_tier(tier, f"{where}: 'tier'", RoutingTableError))
            if rows is not None and len(tiers) <= len(rows) and obj.get("prompt") != rows[len(tiers) - 1].prompt:
                raise RoutingTableError(f"{where}: its prompt is not row {len(tiers)}'s of the table; "
                                        "label the same table (label-tiers TABLE ...)")
    if pair is None:
        raise RoutingTableError(f"{p}: no labels")
    if rows is not None and len(tiers) != len(rows):
        raise RoutingTableError(f"{p}: {len(tiers)} labels for a table of {len(rows)} rows; label the same table")
    return TierLabels(tuple(tiers), *pair)


def _object(line: str, where: str) -> dict[str, Any]:
    try:
        obj = json.loads(line)
    except (ValueError, RecursionError) as exc:
        raise RoutingTableError(f"{where}: not valid JSON ({exc})") from None
    if not isinstance(obj, dict) or not isinstance(obj.get("prompt"), str):
        raise RoutingTableError(f"{where}: a label must be an object with a 'prompt' string and a 'tier'")
    return obj
