"""Reading a file of prompts (JSONL or Parquet) into an Arrow table of row ids and prompts, checked row by row.

Row ids are 0-based record positions: the n-th non-blank line of a JSONL file, the n-th row of a
Parquet file. Every prompt is checked before any routing starts; a file with bad rows is refused
with one line naming them.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from .._files import open_input
from ..data import MAX_TABLE_BYTES
from ..embedders import check_prompt
from ..errors import ArgumentError, PromptError

#: Bad rows named in the error message (the count says how many there are in all).
SHOWN_BAD_ROWS = 5
_HASH_CHUNK = 1 << 20


@dataclass(frozen=True)
class PromptFile:
    """A prompt file's rows (``row_id``, ``prompt``) and the SHA-256 of its bytes."""

    table: pa.Table
    sha256: str


class _Missing:
    """Stands for a JSONL record without the prompt field."""


_MISSING = _Missing()


def _jsonl(path: Path, column: str) -> tuple[list[Any], list[int], str]:
    """Each record's prompt value (or _MISSING), its line number, and the file's digest."""
    digest = hashlib.sha256()
    values: list[Any] = []
    lines: list[int] = []
    with open_input(path, "prompt file", ArgumentError, MAX_TABLE_BYTES) as fh:
        for number, raw in enumerate(fh, start=1):
            digest.update(raw)
            if not raw.strip():
                continue
            try:
                obj = json.loads(raw)
            except (ValueError, UnicodeDecodeError) as exc:
                raise ArgumentError(f"{path}:{number}: not a JSON line ({exc}); one JSON object per line") from None
            if not isinstance(obj, dict):
                raise ArgumentError(f"{path}:{number}: a line must be a JSON object like {{{column!r}: \"...\"}}")
            values.append(obj.get(column, _MISSING))
            lines.append(number)
    if values and all(v is _MISSING for v in values):
        raise ArgumentError(f"{path}: no record has the field {column!r} (first record's fields: "
                            f"{', '.join(json.loads(_first_line(path))) or 'none'}); name it with --prompt-column")
    return values, lines, digest.hexdigest()


def _first_line(path: Path) -> bytes:
    with open_input(path, "prompt file", ArgumentError, MAX_TABLE_BYTES) as fh:
        for raw in fh:
            if raw.strip():
                return raw
    return b"{}"


def _parquet(path: Path, column: str) -> tuple[list[Any], str]:
    """The prompt column's values and the file's digest (hashed first, through the bounded reader,
    so pyarrow only ever opens a regular file of bounded size)."""
    digest = hashlib.sha256()
    with open_input(path, "prompt file", ArgumentError, MAX_TABLE_BYTES) as fh:
        while chunk := fh.read(_HASH_CHUNK):
            digest.update(chunk)
    try:
        schema = pq.read_schema(path)
    except (OSError, pa.ArrowException) as exc:
        raise ArgumentError(f"{path}: not a readable Parquet file ({' '.join(str(exc).split())})") from None
    if column not in schema.names:
        raise ArgumentError(f"{path}: no column {column!r} (columns: {', '.join(schema.names) or 'none'}); "
                            "name it with --prompt-column")
    kind = schema.field(column).type
    if not (pa.types.is_string(kind) or pa.types.is_large_string(kind)):
        raise PromptError(f"{path}: column {column!r} holds {kind}, not strings; prompts must be text")
    return pq.read_table(path, columns=[column]).column(column).to_pylist(), digest.hexdigest()


def read_prompt_file(path: str | os.PathLike[str], column: str = "prompt") -> PromptFile:
    """Read ``path`` (``.jsonl`` or ``.parquet``) and check every prompt.

    Raises:
        ArgumentError: an unknown extension, a file that is not a regular file of at most
            MAX_TABLE_BYTES (the project's one bounded reader), an unreadable line, or no ``column``.
        PromptError: the column is not text, or some rows are not routable prompts (the message
            names the first few by row id and line, and counts them all).
    """
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix == ".jsonl":
        values, lines, sha = _jsonl(p, column)
        where = [f"row {i} (line {n})" for i, n in enumerate(lines)]
    elif suffix == ".parquet":
        values, sha = _parquet(p, column)
        where = [f"row {i}" for i in range(len(values))]
    else:
        raise ArgumentError(f"{p}: the input must be .jsonl or .parquet, not {suffix or 'no extension'!r}")
    if not values:
        raise ArgumentError(f"{p}: no prompts")
    bad: list[str] = []
    count = 0
    for i, v in enumerate(values):
        try:
            if v is _MISSING:
                raise PromptError(f"no field {column!r}")
            check_prompt(v)
        except PromptError as exc:
            count += 1
            if len(bad) < SHOWN_BAD_ROWS:
                bad.append(f"{where[i]}: {exc}")
    if count:
        more = f"; and {count - len(bad)} more" if count > len(bad) else ""
        raise PromptError(f"{p}: {count} row(s) cannot be routed: {'; '.join(bad)}{more}; fix or drop them "
                          "(row ids count records from 0)")
    table = pa.table({"row_id": pa.array(range(len(values)), type=pa.int64()),
                      "prompt": pa.array(values, type=pa.string())})
    return PromptFile(table, sha)
