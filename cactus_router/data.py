"""Routing tables: labelled prompts with per-model scores (JSONL), and the LLMRouter importer."""

from __future__ import annotations

import json
import os
import reprlib
import sys
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from ._files import first_byte, input_lines, open_input, read_rest, write_atomic
from ._json import is_unicode
from .errors import RoutingTableError

#: Largest routing-table file read (bytes); also the limit for prompt and query files.
MAX_TABLE_BYTES = 1024 * 1024 * 1024
#: The grades a row may give a model's answer (``idk``: the model said it does not know).
GRADES = ("correct", "incorrect", "idk")
#: Longest line of a JSONL table, prompt or query file (bytes): a line is parsed whole, so this
#: bounds the memory one line can take, whatever the file holds.
MAX_LINE_BYTES = 16 * 1024 * 1024


@dataclass(frozen=True)
class RoutingRow:
    """One labelled prompt: each model's score in [0, 1] (1 = a perfect answer) and, optionally,
    its grade (``correct``, ``incorrect`` or ``idk``), which the tier oracle reads."""

    prompt: str
    scores: Mapping[str, float]
    task: str | None = None
    id: str | None = None
    costs: Mapping[str, float] | None = field(default=None, compare=False)
    grades: Mapping[str, str] | None = field(default=None, compare=False)


def _row_from_obj(obj: Any, where: str) -> RoutingRow:
    if not isinstance(obj, dict):
        raise RoutingTableError(f"{where}: a row must be a JSON object")
    prompt = obj.get("prompt", obj.get("question"))
    if not isinstance(prompt, str) or not prompt.strip():
        raise RoutingTableError(f"{where}: 'prompt' must be a non-empty string")
    if not is_unicode(prompt):
        raise RoutingTableError(f"{where}: 'prompt' is not valid Unicode (a lone surrogate)")
    scores = obj.get("scores")
    if not isinstance(scores, dict) or not scores:
        raise RoutingTableError(f"{where}: 'scores' must be a non-empty object {{model: score}}")
    # Comparisons, not math.isfinite: an integer literal beyond float range would overflow it;
    # NaN fails every comparison, and the bounds exclude the infinities.
    for model, s in scores.items():
        if not is_unicode(model):
            raise RoutingTableError(f"{where}: a model name in 'scores' is not valid Unicode (a lone surrogate)")
        if isinstance(s, bool) or not isinstance(s, (int, float)) or not 0.0 <= s <= 1.0:
            raise RoutingTableError(f"{where}: scores[{model!r}] must be a number in [0, 1], got {reprlib.repr(s)}")
    costs = obj.get("costs")
    if costs is not None:
        if not isinstance(costs, dict):
            raise RoutingTableError(f"{where}: 'costs' must be an object {{model: cost}}")
        for model, c in costs.items():
            if not is_unicode(model):
                raise RoutingTableError(f"{where}: a model name in 'costs' is not valid Unicode (a lone surrogate)")
            if isinstance(c, bool) or not isinstance(c, (int, float)) or not 0 <= c <= sys.float_info.max:
                raise RoutingTableError(f"{where}: costs[{model!r}] must be a number >= 0, got {reprlib.repr(c)}")
    for key in ("task", "id"):
        if obj.get(key) is not None and not (isinstance(obj[key], str) and is_unicode(obj[key])):
            raise RoutingTableError(f"{where}: {key!r} must be a string (valid Unicode)")
    grades = _grades(obj.get("grades"), where)
    return RoutingRow(prompt, dict(scores), obj.get("task"), obj.get("id"), None if costs is None else dict(costs),
                      grades)


def _grades(grades: Any, where: str) -> dict[str, str] | None:
    if grades is None:
        return None
    if not isinstance(grades, dict):
        raise RoutingTableError(f"{where}: 'grades' must be an object {{model: {' | '.join(GRADES)}}}")
    for model, g in grades.items():
        if not is_unicode(model):
            raise RoutingTableError(f"{where}: a model name in 'grades' is not valid Unicode (a lone surrogate)")
        if g not in GRADES:
            raise RoutingTableError(f"{where}: grades[{model!r}] must be one of {', '.join(GRADES)}, "
                                    f"got {reprlib.repr(g)}")
    return dict(grades)


def read_table(path: str | os.PathLike[str], *, queries: str | os.PathLike[str] | None = None) -> list[RoutingRow]:
    """Read a routing table: JSONL rows, or an LLMRouter JSON list (``{"question", "scores"}``).

    Args:
        path: the table. ``.jsonl``: one ``{"prompt", "scores", "task"?, "id"?, "costs"?, "grades"?}``
            per line.
            A JSON array: the LLMRouter layout.
        queries: for the LLMRouter layout, its ``default_query_*.jsonl`` file, joined on the
            prompt text to fill in each row's task.

    Raises:
        RoutingTableError: not a regular file, larger than MAX_TABLE_BYTES, a line longer than
            MAX_LINE_BYTES, or a bad row (named by its line or index).
    """
    p = Path(path)
    with open_input(p, "routing table", RoutingTableError, MAX_TABLE_BYTES) as fh:
        if first_byte(fh, MAX_TABLE_BYTES) == b"[":
            raw = read_rest(fh, str(p), "routing table", RoutingTableError, MAX_TABLE_BYTES)
            return _read_llmrouter(raw, p, queries)
        if queries is not None:
            raise RoutingTableError(f"{p}: queries= joins tasks into an LLMRouter JSON list, not into JSONL")
        rows = []
        for lineno, line in _table_lines(fh, p):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except (ValueError, RecursionError) as exc:
                raise RoutingTableError(f"{p}:{lineno}: not valid JSON ({exc})") from None
            rows.append(_row_from_obj(obj, f"{p}:{lineno}"))
    if not rows:
        raise RoutingTableError(f"{p}: no rows")
    return rows


def _table_lines(fh: BinaryIO, p: Path) -> Iterator[tuple[int, str]]:
    return input_lines(fh, str(p), RoutingTableError, limit=MAX_TABLE_BYTES, line_limit=MAX_LINE_BYTES)


def row_locations(path: str | os.PathLike[str] | None, n: int) -> list[str]:
    """Where each of the ``n`` rows ``read_table(path)`` returned came from: ``file:line`` or ``file[i]``."""
    if path is None:
        return [f"row {i + 1}" for i in range(n)]
    p = Path(path)
    with open_input(p, "routing table", RoutingTableError, MAX_TABLE_BYTES) as fh:
        if first_byte(fh, MAX_TABLE_BYTES) == b"[":
            return [f"{p}[{i}]" for i in range(n)]
        lines = [f"{p}:{no}" for no, line in _table_lines(fh, p) if line.strip()]
    return lines[:n] if len(lines) >= n else [f"row {i + 1}" for i in range(n)]


def _read_tasks(queries: str | os.PathLike[str]) -> dict[str, str]:
    """{query: task_name} from an LLMRouter ``default_query_*.jsonl`` file."""
    q = Path(queries)
    tasks: dict[str, str] = {}
    with open_input(q, "queries file", RoutingTableError, MAX_TABLE_BYTES) as fh:
        for lineno, line in _table_lines(fh, q):
            if line.strip():
                try:
                    obj = json.loads(line)
                    query, task = obj["query"], obj["task_name"]
                    if not isinstance(query, str) or not isinstance(task, str):
                        raise TypeError
                except (ValueError, KeyError, TypeError, RecursionError):
                    raise RoutingTableError(f"{q}:{lineno}: expected {{'query', 'task_name'}}") from None
                tasks[query] = task
    return tasks


def _read_llmrouter(raw: bytes, p: Path, queries: str | os.PathLike[str] | None) -> list[RoutingRow]:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        bad_line = raw.count(b"\n", 0, exc.start) + 1
        raise RoutingTableError(f"{p}:{bad_line}: not UTF-8 text (byte {exc.start})") from None
    try:
        items = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise RoutingTableError(f"{p}: not valid JSON ({exc})") from None
    if not isinstance(items, list):
        raise RoutingTableError(f"{p}: an LLMRouter table must be a JSON array of rows")
    tasks = {} if queries is None else _read_tasks(queries)
    rows = []
    for i, obj in enumerate(items):
        row = _row_from_obj(obj, f"{p}[{i}]")
        if queries is not None:
            if row.prompt not in tasks:
                raise RoutingTableError(f"{p}[{i}]: prompt not found in {queries}")
            row = RoutingRow(row.prompt, row.scores, tasks[row.prompt], row.id, row.costs, row.grades)
        rows.append(row)
    if not rows:
        raise RoutingTableError(f"{p}: no rows")
    return rows


def write_table(rows: Iterable[RoutingRow], path: str | os.PathLike[str], *, follow_symlinks: bool = False) -> None:
    """Write rows as JSONL (atomically; ``follow_symlinks`` as in ``_files.write_atomic``)."""
    lines = []
    for r in rows:
        obj: dict[str, Any] = {"prompt": r.prompt, "scores": dict(r.scores)}
        for key in ("task", "id"):
            if getattr(r, key) is not None:
                obj[key] = getattr(r, key)
        if r.costs is not None:
            obj["costs"] = dict(r.costs)
        if r.grades is not None:
            obj["grades"] = dict(r.grades)
        lines.append(json.dumps(obj, ensure_ascii=False))
    write_atomic(path, "\n".join(lines) + "\n", follow_symlinks=follow_symlinks)


def score_matrix(rows: Sequence[RoutingRow], model_ids: Sequence[str]) -> np.ndarray:
    """An (n, M) float64 array of scores, NaN where a row has no score for a model."""
    out = np.full((len(rows), len(model_ids)), np.nan)
    col = {m: j for j, m in enumerate(model_ids)}
    for i, r in enumerate(rows):
        for m, s in r.scores.items():
            j = col.get(m)
            if j is not None:
                out[i, j] = s
    return out


def drop_overlap(train: Sequence[RoutingRow], test: Sequence[RoutingRow]) -> list[RoutingRow]:
    """Train rows whose prompt does not also appear in test (for a clean held-out evaluation)."""
    held = {r.prompt for r in test}
    return [r for r in train if r.prompt not in held]
