"""Reading untrusted JSON with limits, and writing files atomically."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

#: Largest profile file accepted (a K=1024, D=1024 profile is about 10 MB of JSON).
MAX_PROFILE_BYTES = 64 * 1024 * 1024
def _no_constants(name: str) -> float:
    raise ValueError(f"{name} is not valid JSON")


def loads_limited(data: bytes | str, what: str, error: type[Exception]) -> Any:
    """Parse JSON within the size limit; raise ``error`` naming ``what`` otherwise."""
    if len(data) > MAX_PROFILE_BYTES:
        raise error(f"{what}: larger than {MAX_PROFILE_BYTES // (1024 * 1024)} MB; not a profile")
    if isinstance(data, bytes):
        try:
            data = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise error(f"{what}: not UTF-8 text (byte {exc.start}); profiles are JSON files") from None
    try:
        # json's C scanner raises RecursionError on absurd nesting; the schema check that
        # follows rejects any nesting a profile does not have.
        return json.loads(data, parse_constant=_no_constants)
    except (ValueError, RecursionError) as exc:
        raise error(f"{what}: not valid JSON ({exc})") from None


def write_atomic(path: str | os.PathLike[str], text: str) -> None:
    """Write text to path through a temporary file and a rename: never a truncated file."""
    target = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent or ".")
    try:
        # mkstemp makes the file private (0600); keep an existing file's mode, else the usual 0644.
        os.chmod(tmp, target.stat().st_mode & 0o777 if target.exists() else 0o644)
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
