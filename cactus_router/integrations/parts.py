"""A resumable Parquet output: a folder of part files over fixed row ranges, and a manifest.

Part ``i`` holds rows ``[i * part_rows, (i + 1) * part_rows)``, sorted by row id, and is named by
its index, so writing it twice replaces it rather than adding rows. Each part, and after it the
manifest, is written atomically (``write_atomic``: a temporary file in the folder, flushed to disk,
renamed into place), so a crash leaves whole parts only. The manifest records the job's fingerprint: a rerun of the
same job skips the parts listed there; another job's output is refused. Readers
(``pyarrow.parquet.read_table(folder)``, ``ray.data.read_parquet``) skip the manifest and any
temporary file, whose names start with ``_`` or ``.``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from .._files import write_atomic
from ..errors import ArgumentError, OutputConflictError

MANIFEST = "_manifest.json"
#: The manifest's ``format`` value, which marks a folder as one of these outputs.
FORMAT = "cactus-router-parts"
VERSION = 1


class PartsOutput:
    """The parts of one job's output folder: which are written, and writing the others.

    Open one with ``PartsOutput.open``.
    """

    def __init__(self, folder: Path, manifest: dict[str, Any]) -> None:
        self.folder = folder
        self.manifest = manifest

    @classmethod
    def open(cls, folder: str | os.PathLike[str], fingerprint: str, job: Mapping[str, Any], rows: int,
             part_rows: int) -> PartsOutput:
        """Resume the output of the job ``fingerprint`` in ``folder``, or start it there.

        Raises:
            ArgumentError: ``part_rows`` is not a positive integer.
            OutputConflictError: ``folder`` is a file, a folder that is not such an output, or
                the output of another job.
        """
        if isinstance(part_rows, bool) or not isinstance(part_rows, int) or part_rows < 1:
            raise ArgumentError(f"part_rows must be a positive integer, got {part_rows!r}")
        path = Path(folder)
        fresh = {"format": FORMAT, "version": VERSION, "fingerprint": fingerprint, "job": dict(job), "rows": rows,
                 "part_rows": part_rows, "parts": {}, "complete": False}
        if not path.exists():
            path.mkdir(parents=True)
        elif not path.is_dir():
            raise OutputConflictError(f"{path} exists and is a file; the output is a folder of parts: choose "
                                      "another --output or remove it")
        manifest_path = path / MANIFEST
        if not manifest_path.exists():
            if any(path.iterdir()):
                raise OutputConflictError(f"{path} exists and is not a cactus-router output (no {MANIFEST}); "
                                          "choose another --output or empty it")
            out = cls(path, fresh)
            out._save()
            return out
        try:
            manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise OutputConflictError(f"{manifest_path} is unreadable ({exc}); choose another --output") from None
        if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
            raise OutputConflictError(f"{manifest_path} is not a cactus-router parts manifest; choose another --output")
        if manifest.get("fingerprint") != fingerprint:
            theirs = manifest.get("job", {})
            diff = sorted(k for k in set(theirs) | set(job) if theirs.get(k) != job.get(k))
            raise OutputConflictError(f"{path} holds the output of another job (it differs in {', '.join(diff)}); "
                                      "choose another --output, or remove it to start over")
        return cls(path, manifest)

    @property
    def part_rows(self) -> int:
        """Rows per part (the last part may hold fewer)."""
        return int(self.manifest["part_rows"])

    @property
    def parts(self) -> int:
        """How many parts the whole output has."""
        return -(-int(self.manifest["rows"]) // self.part_rows)

    def span(self, i: int) -> tuple[int, int]:
        """The row ids ``[start, stop)`` of part ``i``."""
        start = i * self.part_rows
        return start, min(start + self.part_rows, int(self.manifest["rows"]))

    def name(self, i: int) -> str:
        """The file name of part ``i``."""
        return f"part-{i:06d}.parquet"

    def written(self) -> set[int]:
        """The parts the manifest lists whose file is present."""
        return {int(i) for i, entry in self.manifest["parts"].items() if (self.folder / entry["file"]).is_file()}

    def write(self, i: int, table: pa.Table) -> None:
        """Write part ``i`` (its rows, sorted by row id) and record it in the manifest."""
        start, stop = self.span(i)
        if table.num_rows != stop - start:
            raise ArgumentError(f"part {i} must hold {stop - start} rows, got {table.num_rows}")
        buf = pa.BufferOutputStream()
        pq.write_table(table, buf)
        write_atomic(self.folder / self.name(i), buf.getvalue().to_pybytes())
        self.manifest["parts"][str(i)] = {"file": self.name(i), "rows": table.num_rows}
        self._save()

    def finish(self) -> None:
        """Mark the output complete once every part is written."""
        missing = sorted(set(range(self.parts)) - self.written())
        if missing:
            raise ArgumentError(f"{self.folder}: parts {missing[:5]} are not written yet")
        self.manifest["complete"] = True
        self._save()

    def _save(self) -> None:
        write_atomic(self.folder / MANIFEST, json.dumps(self.manifest, indent=1, sort_keys=True) + "\n")
