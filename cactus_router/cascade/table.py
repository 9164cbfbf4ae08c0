"""Verification tables: JSONL rows for training and evaluating a cascade (format: docs/cascade-table.md)."""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .._files import read_input
from ..data import MAX_TABLE_BYTES
from ..errors import CascadeTableError

_FIELDS = {"prompt", "id", "task", "answers", "verification", "samples", "scores", "costs", "verify_costs"}


@dataclass(frozen=True)
class VerificationRow:
    """One prompt: each model's answer, verification score, score and costs (see docs/cascade-table.md)."""

    prompt: str
    scores: Mapping[str, float]
    costs: Mapping[str, float]
    verification: Mapping[str, float]
    verify_costs: Mapping[str, float]
    answers: Mapping[str, str] = field(default_factory=dict)
    samples: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    task: str | None = None
    id: str | None = None


def _numbers(obj: Any, name: str, where: str, *, unit: bool) -> dict[str, float]:
    if not isinstance(obj, dict):
        raise CascadeTableError(f"{where}: field {name!r} must be an object of model -> number")
    out = {}
    for model, value in obj.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise CascadeTableError(f"{where}: field {name!r}, model {model!r}: {value!r} is not a finite number")
        if unit and not 0.0 <= value <= 1.0:
            raise CascadeTableError(f"{where}: field {name!r}, model {model!r}: {value} is outside [0, 1]")
        if not unit and value < 0:
            raise CascadeTableError(f"{where}: field {name!r}, model {model!r}: {value} is negative")
        out[str(model)] = float(value)
    return out


def row_from_obj(obj: Any, where: str) -> VerificationRow:
    """A validated row from a parsed JSON object; ``where`` names it in errors ("file:line")."""
    if not isinstance(obj, dict):
        raise CascadeTableError(f"{where}: a row must be a JSON object")
    unknown = sorted(set(obj) - _FIELDS)
    if unknown:
        raise CascadeTableError(f"{where}: unknown field(s) {', '.join(unknown)}")
    for name in ("prompt", "scores", "costs", "verification"):
        if name not in obj:
            raise CascadeTableError(f"{where}: missing field {name!r}")
    if not isinstance(obj["prompt"], str) or not obj["prompt"].strip():
        raise CascadeTableError(f"{where}: field 'prompt' must be non-empty text")
    samples = obj.get("samples", {})
    if not isinstance(samples, dict) or not all(
            isinstance(v, list) and v and all(isinstance(s, str) for s in v) for v in samples.values()):
        raise CascadeTableError(f"{where}: field 'samples' must map a model to a non-empty list of answers")
    answers = obj.get("answers", {})
    if not isinstance(answers, dict) or not all(isinstance(v, str) for v in answers.values()):
        raise CascadeTableError(f"{where}: field 'answers' must map a model to its answer text")
    for name in ("task", "id"):
        if obj.get(name) is not None and not isinstance(obj[name], str):
            raise CascadeTableError(f"{where}: field {name!r} must be text")
    return VerificationRow(
        prompt=obj["prompt"],
        scores=_numbers(obj["scores"], "scores", where, unit=True),
        costs=_numbers(obj["costs"], "costs", where, unit=False),
        verification=_numbers(obj["verification"], "verification", where, unit=True),
        verify_costs=_numbers(obj.get("verify_costs", {}), "verify_costs", where, unit=False),
        answers=dict(answers),
        samples={m: tuple(v) for m, v in samples.items()},
        task=obj.get("task"),
        id=obj.get("id"),
    )


def check_chain(rows: Sequence[VerificationRow], chain: Sequence[str], where: str) -> None:
    """Every row scores and costs each chain model, and verifies each but the last (one error names the first gap)."""
    if len(chain) < 2 or len(set(chain)) != len(chain):
        raise CascadeTableError(f"{where}: a chain needs at least two distinct models, got {list(chain)}")
    for i, row in enumerate(rows):
        for m in chain:
            for name, table in (("scores", row.scores), ("costs", row.costs)):
                if m not in table:
                    raise CascadeTableError(f"{where}: row {i + 1}: field {name!r} has no model {m!r}")
        for m in chain[:-1]:
            if m not in row.verification:
                raise CascadeTableError(f"{where}: row {i + 1}: field 'verification' has no model {m!r}")


def read_verification_table(path: str | os.PathLike[str]) -> list[VerificationRow]:
    """Every row of a verification table (JSONL); a bad row is one CascadeTableError naming line and field."""
    p = Path(path)
    try:
        text = read_input(p, "verification table", CascadeTableError, MAX_TABLE_BYTES).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise CascadeTableError(f"{p}: not UTF-8 text (byte {exc.start})") from None
    rows = []
    # JSONL lines end at "\n" only (str.splitlines would also split inside a string at U+2028).
    for n, line in enumerate(text.split("\n"), 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise CascadeTableError(f"{p}:{n}: not valid JSON ({exc.msg})") from None
        rows.append(row_from_obj(obj, f"{p}:{n}"))
    if not rows:
        raise CascadeTableError(f"{p}: no rows")
    return rows


def row_to_obj(row: VerificationRow) -> dict[str, Any]:
    """The JSON object of a row (fields left empty are left out)."""
    obj: dict[str, Any] = {"prompt": row.prompt}
    for name in ("id", "task"):
        if getattr(row, name) is not None:
            obj[name] = getattr(row, name)
    obj.update(answers=dict(row.answers), samples={m: list(v) for m, v in row.samples.items()},
               verification=dict(row.verification), scores=dict(row.scores), costs=dict(row.costs),
               verify_costs=dict(row.verify_costs))
    return {k: v for k, v in obj.items() if v != {}}


__all__ = ["VerificationRow", "check_chain", "read_verification_table", "row_from_obj", "row_to_obj"]
