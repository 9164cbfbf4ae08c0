"""The spend ledger of a budget rule: a local append-only file, safe to share between threads and processes.

Each spend is one line, ``CRC32 {"t": unix_seconds, "model": id, "amount": cost}``, where CRC32 is
the 8 hex digits of the CRC-32 of the JSON that follows. A writer appends one whole line under an
exclusive ``flock`` (after checking that the file ends with a newline); a reader takes a shared
lock. A line that fails its checksum, does not parse, or has no newline at the end of the file
is corruption: ``LedgerError`` names the file and line, and the ledger is never reset silently.
Spends count toward the period (UTC day or month) their time falls in; older lines stay as history.
"""

from __future__ import annotations

import fcntl
import json
import math
import os
import stat
import threading
import time
import zlib
from datetime import datetime, timezone
from pathlib import Path

from ..errors import ArgumentError, LedgerError

PERIODS = ("daily", "monthly")


def period_key(t: float, period: str) -> str:
    """The UTC day (``2025-06-01``) or month (``2025-06``) time ``t`` falls in."""
    d = datetime.fromtimestamp(t, tz=timezone.utc)
    return d.strftime("%Y-%m-%d" if period == "daily" else "%Y-%m")


def encode(t: float, model: str, amount: float) -> bytes:
    """One ledger line."""
    payload = json.dumps({"t": round(t, 6), "model": model, "amount": amount}, separators=(",", ":"),
                         ensure_ascii=False).encode("utf-8")
    return b"%08x %s\n" % (zlib.crc32(payload), payload)


class Ledger:
    """A spend ledger at ``path`` counting spends per ``period`` (``daily`` or ``monthly``, UTC).

    Checks on creation that the file (or, before the first spend, its folder) can be written, and
    reads what it holds. Reads are incremental: only lines appended since the last read are parsed.

    Raises:
        LedgerError: the path is not a regular file, cannot be written, or the file is corrupt.
    """

    def __init__(self, path: str | os.PathLike[str], period: str = "monthly", *, where: str = "ledger") -> None:
        if period not in PERIODS:
            raise LedgerError(f"{where}: period must be one of {', '.join(PERIODS)}, got {period!r}")
        self.path = Path(path)
        self.period = period
        self._where = where
        self._lock = threading.Lock()
        self._identity: tuple[int, int] | None = None
        self._offset = 0
        self._line = 0
        self._sums: dict[str, float] = {}
        self._check_writable()
        self.spent()

    def _fail(self, message: str) -> LedgerError:
        return LedgerError(f"{self._where}: {self.path}: {message}")

    def _check_writable(self) -> None:
        try:
            st = os.lstat(self.path)
        except FileNotFoundError:
            folder = self.path.parent
            if not folder.is_dir() or not os.access(folder, os.W_OK | os.X_OK):
                raise self._fail(f"does not exist and its folder {folder} is not a writable folder") from None
            return
        if not stat.S_ISREG(st.st_mode):
            raise self._fail("is not a regular file (a ledger is a plain file: no link, device or folder)")
        if not os.access(self.path, os.R_OK | os.W_OK):
            raise self._fail("cannot be read and written by this process (check its permissions)")

    def spent(self, now: float | None = None) -> float:
        """The spend recorded in the period ``now`` (default: the current time) falls in."""
        key = period_key(time.time() if now is None else now, self.period)
        with self._lock:
            self._read()
            return self._sums.get(key, 0.0)

    def record_spend(self, model: str, amount: float, now: float | None = None) -> None:
        """Append one spend (``amount`` in the profile's cost unit, finite and >= 0).

        Raises:
            LedgerError: the file cannot be written, or its last line is incomplete (corrupt).
            ValueError: a bad model id or amount (as ``LedgerError``'s sibling ``ArgumentError``).
        """
        if not isinstance(model, str) or not model:
            raise ArgumentError(f"record_spend: model must be a non-empty string, got {model!r}")
        if isinstance(amount, bool) or not isinstance(amount, (int, float)) or not math.isfinite(amount) or amount < 0:
            raise ArgumentError(f"record_spend: amount must be a finite number >= 0, got {amount!r}")
        line = encode(time.time() if now is None else now, model, float(amount))
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        except OSError as exc:
            raise self._fail(f"cannot be opened for appending ({exc.strerror})") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            size = os.fstat(fd).st_size
            if size and os.pread(fd, 1, size - 1) != b"\n":
                raise self._fail("its last line is incomplete (a writer was cut off); repair or move the file")
            view = memoryview(line)
            while view:
                view = view[os.write(fd, view):]
        except OSError as exc:
            if isinstance(exc, LedgerError):
                raise
            raise self._fail(f"cannot be written ({exc.strerror})") from None
        finally:
            os.close(fd)

    def _read(self) -> None:
        """Parse the lines appended since the last read (all of them if the file was replaced)."""
        try:
            fd = os.open(self.path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except FileNotFoundError:
            self._identity, self._offset, self._line, self._sums = None, 0, 0, {}
            return
        except OSError as exc:
            raise self._fail(f"cannot be read ({exc.strerror})") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_SH)
            st = os.fstat(fd)
            if self._identity != (st.st_dev, st.st_ino) or st.st_size < self._offset:
                self._identity, self._offset, self._line, self._sums = (st.st_dev, st.st_ino), 0, 0, {}
            if st.st_size == self._offset:
                return
            os.lseek(fd, self._offset, os.SEEK_SET)
            chunk = b""
            while len(chunk) < st.st_size - self._offset:
                part = os.read(fd, st.st_size - self._offset - len(chunk))
                if not part:
                    break
                chunk += part
        finally:
            os.close(fd)
        if not chunk.endswith(b"\n"):
            last = self._line + chunk.count(b"\n") + 1
            raise self._fail(f"line {last} is incomplete (no newline at the end of the file); repair or move the file")
        sums = dict(self._sums)
        for i, raw in enumerate(chunk.split(b"\n")[:-1], start=self._line + 1):
            t, amount = self._parse(raw, i)
            key = period_key(t, self.period)
            sums[key] = sums.get(key, 0.0) + amount
        self._sums, self._offset, self._line = sums, self._offset + len(chunk), self._line + chunk.count(b"\n")

    def _parse(self, raw: bytes, lineno: int) -> tuple[float, float]:
        crc, _, payload = raw.partition(b" ")
        try:
            ok = len(crc) == 8 and int(crc, 16) == zlib.crc32(payload)
            obj = json.loads(payload) if ok else None
        except ValueError:
            ok, obj = False, None
        if not ok or not isinstance(obj, dict):
            raise self._fail(f"line {lineno} fails its checksum or is not a spend line; the ledger is corrupt "
                             "(repair or move the file; it is never reset on its own)")
        t, amount = obj.get("t"), obj.get("amount")
        if not all(isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) for x in (t, amount)):
            raise self._fail(f"line {lineno} has no finite 't' and 'amount'; the ledger is corrupt")
        return float(t), float(amount)  # type: ignore[arg-type]
