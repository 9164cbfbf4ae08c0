"""Every file input is read by one bounded reader: a device, a named pipe, an endless line or a huge file is a
one-line error, at once, never a hang or an exhausted memory."""

from __future__ import annotations

import contextlib
import os
import resource
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from cr_workspace import one_line_error, workspace

from cactus_router import Profile, ProfileError, RoutingTableError
from cactus_router._json import MAX_PROFILE_BYTES
from cactus_router.cascade.model import Cascade
from cactus_router.cascade.table import read_verification_table
from cactus_router.cli import cli
from cactus_router.data import MAX_LINE_BYTES, MAX_TABLE_BYTES, read_table, row_locations
from cactus_router.errors import BackendConfigError, CascadeTableError
from cactus_router.generation.config import MAX_CONFIG_BYTES, load_backends
from cactus_router.profile.catalog import load_models
from cactus_router.training import read_prompts

#: Address space a reader may add while a test runs it: a reader that does not bound its input
#: then fails with MemoryError (failing the test) instead of exhausting the machine.
_SPARE_BYTES = 1 << 30


@contextlib.contextmanager
def _memory_cap() -> Iterator[None]:
    """Cap this process's address space at its current size plus _SPARE_BYTES (Linux; elsewhere no cap)."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[0])
    except OSError:
        yield
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    cap = pages * resource.getpagesize() + _SPARE_BYTES
    resource.setrlimit(resource.RLIMIT_AS, (cap if hard == resource.RLIM_INFINITY else min(cap, hard), hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


def _bounded_call(fn: Callable[[], Any], fifo: Path | None) -> Any:
    """fn(), under the memory cap; if it blocks on ``fifo`` for 10 s, open the pipe's write end so it ends, and fail.

    Without a FIFO the watchdog only guards against a hang, so it waits 120 s: a slow, loaded machine
    reading a 16 MB line must not fail a test about what is read.
    """
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            with _memory_cap():
                outcome["value"] = fn()
        except BaseException as exc:  # handed to the test thread
            outcome["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(10 if fifo is not None else 120)
    if thread.is_alive():
        if fifo is not None:
            os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))  # a writer that closes: the reader sees EOF
        thread.join(10)
        pytest.fail(f"reading {fifo} blocked")
    if "error" in outcome:
        raise outcome["error"]
    return outcome.get("value")


def _sparse(path: Path, size: int, head: bytes = b"") -> Path:
    """A file of ``size`` bytes, ``head`` then zeros, without writing the zeros (a sparse file)."""
    path.write_bytes(head)
    os.truncate(path, size)
    return path


#: What each hostile input must be reported as.
_EXPECTED = {
    "dev-zero": "'/dev/zero': a character device, not a regular file",
    "fifo": "a named pipe, not a regular file",
    "long-line": f":2: line longer than {MAX_LINE_BYTES >> 20} MB",
    "too-large": "larger than",
}


def _hostile(kind: str, folder: Path, limit: int) -> Path:
    """/dev/zero, a named pipe no one writes, a blank line then an endless one, or a file one byte over ``limit``."""
    if kind == "dev-zero":
        return Path("/dev/zero")
    if kind == "fifo":
        os.mkfifo(folder / "fifo")
        return folder / "fifo"
    if kind == "long-line":
        return _sparse(folder / "long.jsonl", 1 + MAX_LINE_BYTES + 1, head=b"\n")
    return _sparse(folder / "huge", limit + 1)


# name: (read the input at PATH, its error type, its size limit, whether it is read line by line)
_READERS: dict[str, tuple[Callable[[Path, dict[str, Path]], Any], type[Exception], int, bool]] = {
    "profile": (lambda p, ws: Profile.load(p), ProfileError, MAX_PROFILE_BYTES, False),
    "model list": (lambda p, ws: load_models(p), RoutingTableError, MAX_PROFILE_BYTES, False),
    "routing table": (lambda p, ws: read_table(p), RoutingTableError, MAX_TABLE_BYTES, True),
    "queries file": (lambda p, ws: read_table(ws["llmrouter.json"], queries=p), RoutingTableError,
                     MAX_TABLE_BYTES, True),
    "prompts file": (lambda p, ws: read_prompts(p), RoutingTableError, MAX_TABLE_BYTES, True),
    "row locations": (lambda p, ws: row_locations(p, 1), RoutingTableError, MAX_TABLE_BYTES, True),
    "backend config": (lambda p, ws: load_backends(p), BackendConfigError, MAX_CONFIG_BYTES, False),
    "verification table": (lambda p, ws: read_verification_table(p), CascadeTableError, MAX_TABLE_BYTES, False),
    "cascade": (lambda p, ws: Cascade.load(p), CascadeTableError, MAX_PROFILE_BYTES, False),
}
_CASES = [(reader, kind) for reader, (*_, lines) in _READERS.items() for kind in _EXPECTED
          if lines or kind != "long-line"]


@pytest.mark.parametrize("reader, kind", _CASES, ids=[f"{r}-{k}" for r, k in _CASES])
def test_every_reader_refuses_a_hostile_input_at_once(tmp_path, reader, kind):
    """Profiles, model lists, tables, query and prompt files refuse /dev/zero, a FIFO, an endless line, a huge file."""
    read, error, limit, _ = _READERS[reader]
    ws = workspace(tmp_path)
    path = _hostile(kind, tmp_path, limit)
    with pytest.raises(error, match=_EXPECTED[kind]) as info:
        _bounded_call(lambda: read(path, ws), path if kind == "fifo" else None)
    assert "\n" not in str(info.value) and str(path) in str(info.value)


def test_a_line_at_the_limit_is_read_and_one_byte_more_is_refused(tmp_path):
    """A prompts line of exactly MAX_LINE_BYTES is a prompt; one byte longer is refused naming file:line."""
    path = tmp_path / "prompts.txt"
    path.write_bytes(b"short\n" + b"p" * MAX_LINE_BYTES + b"\n")
    assert [len(p) for p in read_prompts(path)] == [5, MAX_LINE_BYTES]
    path.write_bytes(b"short\n" + b"p" * (MAX_LINE_BYTES + 1))
    with pytest.raises(RoutingTableError, match=r"prompts.txt:2: line longer than"):
        read_prompts(path)


def test_a_table_that_is_not_utf8_names_its_line_and_byte(tmp_path):
    """A JSONL table with a bad UTF-8 byte on line 2 names file:2 and the byte's offset in the file."""
    path = tmp_path / "t.jsonl"
    first = b'{"prompt": "ok", "scores": {"a": 1}}\n'
    path.write_bytes(first + b'{"prompt": "\xff"}\n')
    with pytest.raises(RoutingTableError, match=rf"t.jsonl:2: not UTF-8 text \(byte {len(first) + 12}\)"):
        read_table(path)


# CLI: each option or argument that names an input file, with the other inputs valid.
_CLI_INPUTS: dict[str, Callable[[str, dict[str, Path], Path], list[str]]] = {
    "train DATA": lambda h, ws, out: ["train", h, "-m", str(ws["models.json"]), "-e", "hash:64", "-o", str(out)],
    "train --models": lambda h, ws, out: ["train", str(ws["table.jsonl"]), "-m", h, "-e", "hash:64", "-o", str(out)],
    "train --queries": lambda h, ws, out: ["train", str(ws["llmrouter.json"]), "--queries", h, "-m",
                                           str(ws["models.json"]), "-e", "hash:64", "-o", str(out)],
    "calibrate PROFILE": lambda h, ws, out: ["calibrate", h, str(ws["prompts.txt"]), "-t", "mean_cost<=9", "-o",
                                             str(out)],
    "calibrate PROMPTS": lambda h, ws, out: ["calibrate", str(ws["profile.json"]), h, "-t", "mean_cost<=9", "-o",
                                             str(out)],
    "add-model --labels": lambda h, ws, out: ["add-model", str(ws["profile.json"]), "--model", "new", "--cost", "1",
                                              "--labels", h, "-o", str(out)],
    "eval DATA": lambda h, ws, out: ["eval", str(ws["profile.json"]), h, "--out", str(out.parent), "--no-charts"],
    "eval --train": lambda h, ws, out: ["eval", str(ws["profile.json"]), str(ws["table.jsonl"]), "--train", h,
                                        "--out", str(out.parent), "--no-charts"],
    "route --profile": lambda h, ws, out: ["route", "hi", "--profile", h],
    "convert SOURCE": lambda h, ws, out: ["convert", h, str(out)],
}


@pytest.mark.parametrize("kind", ["dev-zero", "fifo"])
@pytest.mark.parametrize("entry", _CLI_INPUTS)
def test_every_cli_input_refuses_a_device_or_a_fifo_in_one_line(tmp_path, entry, kind):
    """Each CLI file input given /dev/zero or a named pipe exits 1 at once, in one line naming it; writes nothing."""
    ws = workspace(tmp_path)
    hostile = _hostile(kind, tmp_path, 0)
    (tmp_path / "out").mkdir()
    out = tmp_path / "out" / "summary.json"
    args = _CLI_INPUTS[entry](str(hostile), ws, out)
    result = _bounded_call(lambda: CliRunner().invoke(cli, args), hostile if kind == "fifo" else None)
    line = one_line_error(result)
    assert _EXPECTED[kind] in line and str(hostile) in line
    assert list((tmp_path / "out").iterdir()) == []
