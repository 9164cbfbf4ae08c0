"""Every file the package reads or writes: bounded reads of regular files, atomic replacement of regular files.

Inputs are refused unless they are regular files: a device (``/dev/zero``) never ends and a named
pipe may never be written to, so neither can be bounded by its size. Outputs replace only a
regular file, never a device, pipe, socket or directory; a symbolic link only when asked; and
never a file with other hard links (see ``write_atomic``).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import secrets
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from .errors import OutputError

#: The longest file name (bytes) on Linux and macOS file systems; a temporary name must fit it.
NAME_MAX = 255
#: Bytes of the target's name kept in its temporary names ``.NAME.DIGEST.PID.RANDOM.tmp``: the rest
#: of NAME_MAX holds the dots, the digest, the pid and the random part (1+1+12+1+10+1+8+4 = 38 bytes).
_TEMP_NAME_KEEP = NAME_MAX - 38

_KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISFIFO, "a named pipe"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISLNK, "a symbolic link"),
)


def _kind(mode: int) -> str:
    return next((name for test, name in _KINDS if test(mode)), "not a regular file")


def _mb(limit: int) -> str:
    return f"{limit >> 30} GB" if limit >= 1 << 30 and not limit % (1 << 30) else f"{limit >> 20} MB"


@contextlib.contextmanager
def open_input(path: str | os.PathLike[str], what: str, error: type[Exception], limit: int) -> Iterator[BinaryIO]:
    """Open a regular file of at most ``limit`` bytes for reading.

    Raises:
        error: the path cannot be opened, is not a regular file (a device, a named pipe, a
            directory), or is larger than ``limit``.
    """
    name = str(path)
    fd = -1
    try:
        # stat first, so a device is never opened (opening some has side effects); O_NONBLOCK,
        # so a named pipe swapped in after the stat cannot block the open; fstat, to check
        # the file actually opened.
        st = os.stat(path)
        if stat.S_ISREG(st.st_mode):
            fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0))
            st = os.fstat(fd)
    except OSError as exc:
        raise error(f"cannot read {what} {name!r}: {exc.strerror or exc}") from None
    except ValueError as exc:  # e.g. a NUL character in the path
        raise error(f"cannot read {what} {name!r}: {exc}") from None
    if not stat.S_ISREG(st.st_mode):
        if fd >= 0:
            os.close(fd)
        hint = "" if stat.S_ISDIR(st.st_mode) else f"; save the {what} to a file first"
        raise error(f"cannot read {what} {name!r}: {_kind(st.st_mode)}, not a regular file{hint}")
    if st.st_size > limit:
        os.close(fd)
        raise error(f"{name}: larger than {_mb(limit)}; not a {what}")
    os.set_blocking(fd, True)
    with os.fdopen(fd, "rb") as fh:
        yield fh


def read_input(path: str | os.PathLike[str], what: str, error: type[Exception], limit: int) -> bytes:
    """The bytes of a regular file of at most ``limit`` bytes (``open_input``'s checks)."""
    with open_input(path, what, error, limit) as fh:
        return read_rest(fh, str(path), what, error, limit)


def read_rest(fh: BinaryIO, name: str, what: str, error: type[Exception], limit: int) -> bytes:
    """The rest of an open input, refused once it passes ``limit`` bytes (a file may grow while it is read)."""
    data = fh.read(limit + 1)
    if len(data) > limit:
        raise error(f"{name}: larger than {_mb(limit)}; not a {what}")
    return data


def first_byte(fh: BinaryIO, limit: int) -> bytes:
    """The first byte of an open input that is not ASCII whitespace (b"" if none); rewinds the file."""
    seen = 0
    while seen <= limit and (chunk := fh.read(1 << 16)):
        seen += len(chunk)
        if stripped := chunk.lstrip():
            fh.seek(0)
            return stripped[:1]
    fh.seek(0)
    return b""


def input_lines(fh: BinaryIO, name: str, error: type[Exception], *, limit: int, line_limit: int
                ) -> Iterator[tuple[int, str]]:
    """The lines of an open input, numbered from 1, without their "\\n", decoded from UTF-8.

    Lines end at "\\n" only (``str.splitlines`` would also split at U+2028, which may stand
    unescaped inside a JSON string). At most ``line_limit`` bytes are read for a line, and
    ``limit`` bytes in all, so one endless line costs ``line_limit`` bytes of memory, not more.

    Raises:
        error: a line longer than ``line_limit``, more than ``limit`` bytes, or a line that is
            not UTF-8 (named ``name:line``).
    """
    offset = 0
    lineno = 0
    while raw := fh.readline(line_limit + 1):
        lineno += 1
        content = raw[:-1] if raw.endswith(b"\n") else raw
        if len(content) > line_limit:
            raise error(f"{name}:{lineno}: line longer than {_mb(line_limit)}")
        if offset + len(raw) > limit:
            raise error(f"{name}: larger than {_mb(limit)}")
        try:
            text = content.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise error(f"{name}:{lineno}: not UTF-8 text (byte {offset + exc.start})") from None
        offset += len(raw)
        yield lineno, text


def _temp_stem(name: str) -> str:
    """The part of the temporary names of target ``name`` before the pid: fits NAME_MAX with the rest.

    The name is cut to _TEMP_NAME_KEEP bytes (on a character boundary) and followed by a digest
    of the whole name, so two long names that share their first bytes have distinct stems.
    """
    raw = os.fsencode(name)
    kept = name
    while len(os.fsencode(kept)) > _TEMP_NAME_KEEP:
        kept = kept[:-1]
    return f".{kept}.{hashlib.sha256(raw).hexdigest()[:12]}"


def _alive(pid: int) -> bool:
    if os.name != "posix":  # os.kill(pid, 0) terminates the process on Windows: never probe there
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, under another user
        return True
    except (OverflowError, ValueError):  # not a pid at all
        return False
    return True


def _remove_stale_temps(folder: Path, stem: str) -> None:
    """Remove this target's temporary files whose writer is gone (killed mid-write, e.g. by SIGKILL).

    Only regular files of ours named ``STEM.PID.RANDOM.tmp`` whose pid is not a live process are
    removed; a live pid (another writer now, or a reused pid) keeps its file. A writer in another
    pid namespace sharing the folder looks dead: its rename then fails, leaving its target intact.
    """
    pattern = re.compile(re.escape(stem) + r"\.([0-9]{1,10})\.[0-9a-f]{8}\.tmp")
    try:
        entries = os.scandir(folder)
    except OSError:
        return  # the write that follows reports the folder's problem
    with entries:
        for entry in entries:
            m = pattern.fullmatch(entry.name)
            if m is None or _alive(int(m.group(1))):
                continue
            with contextlib.suppress(OSError):
                st = entry.stat(follow_symlinks=False)
                if stat.S_ISREG(st.st_mode) and st.st_uid == os.geteuid():
                    os.unlink(entry.path)


def _checked_target(path: Path, follow_symlinks: bool) -> tuple[Path, int]:
    """The file to replace and the mode its replacement gets, or OutputError if it must not be replaced."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return path, 0o644
    if stat.S_ISLNK(st.st_mode):
        if not follow_symlinks:
            raise OutputError(f"{path}: a symbolic link; not replaced (to write to the file it points to, "
                              "pass --follow-symlinks, or follow_symlinks=True)")
        real = Path(os.path.realpath(path))
        try:
            st = os.lstat(real)
        except FileNotFoundError:  # a dangling link: its target is created
            return real, 0o644
        if stat.S_ISLNK(st.st_mode):  # realpath leaves a loop unresolved
            raise OutputError(f"{path}: a symbolic link that loops; not replaced")
        path = real
    if not stat.S_ISREG(st.st_mode):
        raise OutputError(f"{path}: {_kind(st.st_mode)}, not a regular file; not replaced")
    if st.st_nlink > 1:
        raise OutputError(f"{path}: a file with {st.st_nlink} hard links; not replaced (a new file would leave the "
                          "other links on the old contents); write to another path, or remove the other links")
    return path, stat.S_IMODE(st.st_mode) & 0o777


def check_output(path: str | os.PathLike[str], *, follow_symlinks: bool = False) -> None:
    """Raise the OutputError ``write_atomic(path, ...)`` would raise now: so a command fails before its work."""
    _checked_target(Path(path), follow_symlinks)


def write_atomic(path: str | os.PathLike[str], data: str | bytes, *, follow_symlinks: bool = False) -> None:
    """Replace path with data (str as UTF-8): a temporary file in the same folder, flushed, renamed over it.

    A reader sees the old file or the new one, never a part. Only a regular file is replaced,
    keeping its permission bits (a new file is 0644). A hard-linked file is refused: a rename
    would leave its other names on the old contents, and writing in place would not be atomic.
    An interruption (an exception, Ctrl-C, SIGTERM in the CLI) removes the temporary file; after
    SIGKILL it stays, named ``.NAME.DIGEST.PID.RANDOM.tmp``, until the next write to the same path
    removes it. Nothing else is touched.

    Args:
        follow_symlinks: if path is a symbolic link, replace the file it points to (in that
            file's folder); without it a symbolic link is refused.

    Raises:
        OutputError: path is a directory, device, named pipe, socket, symbolic link (unless
            followed) or a file with several hard links.
        OSError: the folder is missing or not writable, the disk is full, ...
    """
    target, mode = _checked_target(Path(path), follow_symlinks)
    folder = target.parent
    stem = _temp_stem(target.name)
    _remove_stale_temps(folder, stem)
    tmp = folder / f"{stem}.{os.getpid()}.{secrets.token_hex(4)}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
    try:
        with os.fdopen(fd, "wb") as fh:
            os.chmod(tmp, mode)
            fh.write(data.encode("utf-8") if isinstance(data, str) else data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
