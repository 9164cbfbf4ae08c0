"""A real cactus-router process signalled mid-write: SIGTERM and SIGINT clean up, SIGKILL leaves a temporary
file that the next write to the same path removes; the old output survives every one."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest
from cr_workspace import WRITERS, output_path, workspace, writer_args

# The child runs the real console-script entry point with os.fsync held: the temporary file is
# then written and open, not yet renamed. It says so on stdout and waits for the signal (a slow
# disk, made deterministic in the test's own child, not in the library). The child also takes
# SIGINT's default handler: started from a background job (nohup cmd &), the test run inherits
# SIGINT ignored, and so would the child, which is right for a real CLI but not what is tested.
_CHILD = """
import os, signal, sys, time
signal.signal(signal.SIGINT, signal.default_int_handler)
def held_fsync(fd):
    print("mid-write", flush=True)
    time.sleep(120)
os.fsync = held_fsync
from cactus_router.cli import main
sys.argv = ["cactus-router", *sys.argv[1:]]
main()
"""


def _temps(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


def _signal_mid_write(args: list[str], sig: int) -> tuple[subprocess.CompletedProcess[str], int]:
    """Run the CLI with ``args`` until it is inside write_atomic, send ``sig``; the finished process and its pid."""
    child = subprocess.Popen([sys.executable, "-c", _CHILD, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True)
    try:
        assert child.stdout is not None
        line = child.stdout.readline()
        assert line == "mid-write\n", (line, child.stderr.read() if child.stderr else "")
        child.send_signal(sig)
        out, err = child.communicate(timeout=60)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    return subprocess.CompletedProcess(child.args, child.returncode, out, err), child.pid


@pytest.fixture()
def folders(tmp_path):
    """A workspace of inputs, and an empty folder for the outputs."""
    ws = workspace(tmp_path)
    (tmp_path / "out").mkdir()
    return ws, tmp_path / "out"


_TERM = (signal.SIGTERM, 143, "Error: terminated (SIGTERM)")
_INT = (signal.SIGINT, 130, "Error: interrupted (SIGINT)")


@pytest.mark.parametrize("command, sig, code, message", [(c, *_TERM) for c in WRITERS] + [("convert", *_INT)],
                         ids=[f"{c}-SIGTERM" for c in WRITERS] + ["convert-SIGINT"])
def test_sigterm_or_sigint_mid_write_removes_the_temp_file_and_exits_128_plus_the_signal(folders, command, sig,
                                                                                        code, message):
    """A writing command signalled mid-write exits 143 (SIGTERM) or 130 (SIGINT) with one line; no temp, old file."""
    ws, folder = folders
    out = output_path(command, folder)
    out.write_text("old contents")
    done, _ = _signal_mid_write(writer_args(command, ws, out), sig)
    assert done.returncode == code, done.stderr
    assert done.stderr.splitlines()[-1] == message and "Traceback" not in done.stderr, done.stderr
    assert out.read_text() == "old contents"
    assert _temps(folder) == []


@pytest.mark.parametrize("command", ["convert", "calibrate"])
def test_sigkill_mid_write_leaves_the_old_file_and_the_next_write_removes_the_temp(folders, command):
    """After SIGKILL mid-write the old file is intact and one temp file remains; the next write removes it."""
    ws, folder = folders
    out = output_path(command, folder)
    out.write_text("old contents")
    args = writer_args(command, ws, out)
    done, pid = _signal_mid_write(args, signal.SIGKILL)
    assert done.returncode == -signal.SIGKILL
    assert out.read_text() == "old contents"
    (stale,) = _temps(folder)
    assert stale.startswith(f".{out.name}.") and f".{pid}." in stale
    again = subprocess.run([sys.executable, "-m", "cactus_router", *args], capture_output=True, text=True, timeout=120)
    assert again.returncode == 0, again.stderr
    assert _temps(folder) == [] and out.read_text() != "old contents"
