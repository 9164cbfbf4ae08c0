"""The spend ledger under concurrent writers: threads and processes append whole lines, none lost."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
import zlib

import pytest

from cactus_router import LedgerError
from cactus_router.tiers.ledger import Ledger, encode

#: Long model ids make each line larger than PIPE_BUF (4 KB), so unlocked appends could interleave.
LONG = "m" * 6000


def _check_lines(path, count):
    lines = path.read_bytes().split(b"\n")
    assert lines[-1] == b"" and len(lines) - 1 == count
    for raw in lines[:-1]:
        crc, _, payload = raw.partition(b" ")
        assert int(crc, 16) == zlib.crc32(payload)


def test_threads_append_whole_lines_and_the_total_adds_up(tmp_path):
    """8 threads x 50 spends, each through its own Ledger object, while another thread reads."""
    path = tmp_path / "spend.jsonl"
    stop = threading.Event()
    seen: list[float] = []
    errors: list[BaseException] = []

    def reader():
        ledger = Ledger(path, "monthly")
        while not stop.is_set():
            try:
                seen.append(ledger.spent())
            except BaseException as exc:  # noqa: BLE001 - reported below
                errors.append(exc)
                return

    def writer(i):
        ledger = Ledger(path, "monthly")
        for _ in range(50):
            ledger.record_spend(f"{LONG}{i}", 0.25)

    watcher = threading.Thread(target=reader)
    watcher.start()
    threads = [threading.Thread(target=writer, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    stop.set()
    watcher.join()
    assert not errors
    assert Ledger(path, "monthly").spent() == pytest.approx(8 * 50 * 0.25)
    assert seen == sorted(seen)  # a reader never sees the spend go down (no torn or lost line)
    _check_lines(path, 400)


WRITER = """
import sys
from cactus_router.tiers.ledger import Ledger
ledger = Ledger(sys.argv[1], "daily")
for _ in range(int(sys.argv[2])):
    ledger.record_spend(sys.argv[3], 0.5)
"""


def test_processes_append_whole_lines_and_the_total_adds_up(tmp_path):
    """6 processes x 40 spends of 6 KB lines, while this process reads the ledger: every line whole."""
    path = tmp_path / "spend.jsonl"
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, str(path), "40", f"{LONG}{i}"]) for i in range(6)]
    ledger = Ledger(path, "daily")
    last = 0.0
    while any(p.poll() is None for p in procs):
        now = ledger.spent()
        assert now >= last
        last = now
        time.sleep(0.005)
    assert all(p.wait() == 0 for p in procs)
    assert ledger.spent() == pytest.approx(6 * 40 * 0.5)
    _check_lines(path, 240)


def test_reads_are_incremental_and_follow_a_replaced_file(tmp_path):
    """A ledger object sees other writers' lines, and starts over when the file is replaced."""
    path = tmp_path / "spend.jsonl"
    a, b = Ledger(path, "daily"), Ledger(path, "daily")
    a.record_spend("m", 1.0)
    assert b.spent() == 1.0
    b.record_spend("m", 2.0)
    assert a.spent() == 3.0
    path.unlink()
    assert a.spent() == 0.0
    path.write_bytes(encode(time.time(), "m", 5.0))
    assert a.spent() == 5.0


def test_a_line_from_another_period_or_a_bad_value_is_named(tmp_path):
    """A well-formed line with a non-finite amount is corruption, named by its line."""
    path = tmp_path / "spend.jsonl"
    payload = b'{"t":1,"model":"m","amount":"lots"}'
    path.write_bytes(encode(1.0, "m", 1.0) + b"%08x %s\n" % (zlib.crc32(payload), payload))
    with pytest.raises(LedgerError, match="line 2 has no finite 't' and 'amount'"):
        Ledger(path, "daily")


def test_an_unknown_period_is_refused(tmp_path):
    """Only daily and monthly periods exist."""
    with pytest.raises(LedgerError, match="period must be one of daily, monthly"):
        Ledger(tmp_path / "x.jsonl", "weekly")
