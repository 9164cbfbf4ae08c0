"""Every file the SDK writes goes through write_atomic: only a regular file is replaced, and an interrupted
write leaves the old file and no temp file."""

from __future__ import annotations

import json
import os
import re
import socket
import stat
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from click.testing import CliRunner
from cr_factories import make_profile
from cr_workspace import WRITERS, one_line_error, output_path, workspace, writer_args

import cactus_router
from cactus_router import OutputError, Profile, _files
from cactus_router._files import write_atomic
from cactus_router.cli import cli
from cactus_router.data import RoutingRow, read_table, write_table

PACKAGE = Path(cactus_router.__file__).parent
#: The checkout these tests live in: tools/ is not part of the installed package.
CHECKOUT = Path(__file__).resolve().parent.parent


@pytest.fixture()
def old_profile(tmp_path):
    path = tmp_path / "profile.json"
    make_profile(seed=1).save(path)
    return path


def _only(path: Path) -> list[str]:
    """The names in path's folder: the file itself and nothing else (no .tmp left behind)."""
    return sorted(p.name for p in path.parent.iterdir())


def test_failing_rename_leaves_the_old_profile_and_no_temp_file(old_profile, monkeypatch):
    """If os.replace fails, the old profile is intact, byte for byte, and the temp file is gone."""
    before = old_profile.read_bytes()

    def fail(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(OSError):
        make_profile(seed=2).save(old_profile)
    assert old_profile.read_bytes() == before
    assert _only(old_profile) == ["profile.json"]


def test_failing_fsync_leaves_the_old_profile_and_no_temp_file(old_profile, monkeypatch):
    """A failure after the bytes are written but before the rename leaves the old profile and no temp file."""
    before = old_profile.read_bytes()

    def fail(fd):
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(os, "fsync", fail)
    with pytest.raises(OSError):
        make_profile(seed=2).save(old_profile)
    assert old_profile.read_bytes() == before
    assert _only(old_profile) == ["profile.json"]


def test_an_exception_mid_write_leaves_the_old_file(old_profile):
    """Text that fails to encode after 1 MB was written (a lone surrogate) leaves the old file and no temp file."""
    before = old_profile.read_bytes()
    with pytest.raises(UnicodeEncodeError):
        write_atomic(old_profile, "x" * (1 << 20) + "\ud800")
    assert old_profile.read_bytes() == before
    assert _only(old_profile) == ["profile.json"]


def test_an_interrupt_mid_serialisation_leaves_the_old_profile(old_profile, monkeypatch):
    """A KeyboardInterrupt while the profile is being serialised leaves the old profile and no temp file."""
    before = old_profile.read_bytes()
    real_write = os.fdopen

    class Interrupting:
        def __init__(self, fh):
            self._fh = fh

        def __enter__(self):
            self._fh.__enter__()
            return self

        def __exit__(self, *exc):
            return self._fh.__exit__(*exc)

        def write(self, text):
            self._fh.write(text[: len(text) // 2])
            raise KeyboardInterrupt

        def __getattr__(self, name):
            return getattr(self._fh, name)

    monkeypatch.setattr(os, "fdopen", lambda *a, **k: Interrupting(real_write(*a, **k)))
    with pytest.raises(KeyboardInterrupt):
        make_profile(seed=2).save(old_profile)
    assert old_profile.read_bytes() == before
    assert _only(old_profile) == ["profile.json"]


def test_binary_output_is_written_atomically(tmp_path, monkeypatch):
    """write_atomic takes bytes too (e.g. a rendered chart), with the same guarantee."""
    path = tmp_path / "chart.png"
    write_atomic(path, b"\x89PNG old")
    monkeypatch.setattr(os, "replace", lambda s, d: (_ for _ in ()).throw(OSError(28, "No space left on device")))
    with pytest.raises(OSError):
        write_atomic(path, b"\x89PNG new" * 1000)
    assert path.read_bytes() == b"\x89PNG old"
    assert _only(path) == ["chart.png"]


def test_write_table_is_atomic_too(tmp_path, monkeypatch):
    """write_table, like Profile.save, leaves the old table when the rename fails."""
    path = tmp_path / "t.jsonl"
    rows = [RoutingRow("a prompt", {"m": 1.0})]
    write_table(rows, path)
    before = path.read_bytes()
    monkeypatch.setattr(os, "replace", lambda s, d: (_ for _ in ()).throw(OSError(28, "No space left on device")))
    with pytest.raises(OSError):
        write_table([RoutingRow("another", {"m": 0.0})] * 100, path)
    assert path.read_bytes() == before and read_table(path) == rows
    assert _only(path) == ["t.jsonl"]


def test_save_keeps_an_existing_files_mode_and_makes_new_files_readable(tmp_path, old_profile):
    """Replacing a 0640 file keeps 0640; a new file is 0644, not mkstemp's private 0600."""
    os.chmod(old_profile, 0o640)
    make_profile(seed=3).save(old_profile)
    assert stat.S_IMODE(old_profile.stat().st_mode) == 0o640
    new = tmp_path / "new.json"
    make_profile(seed=3).save(new)
    assert stat.S_IMODE(new.stat().st_mode) == 0o644


def test_concurrent_saves_to_one_path_leave_one_whole_profile(tmp_path):
    """Threads saving different profiles to one path leave exactly one of them, whole, and no temp file."""
    path = tmp_path / "p.json"
    profiles = [make_profile(k=8, d=64, seed=s) for s in range(6)]
    texts = {p.to_json() for p in profiles}

    def save(p):
        for _ in range(10):
            p.save(path)

    threads = [threading.Thread(target=save, args=(p,)) for p in profiles]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert path.read_text(encoding="utf-8") in texts
    Profile.load(path)
    assert _only(path) == ["p.json"]


def test_cli_convert_with_a_failing_rename_exits_1_and_keeps_the_old_file(old_profile, monkeypatch):
    """convert whose rename fails prints one line, exits 1, and leaves the old output file."""
    out = old_profile.parent / "out.json"
    out.write_text("old contents")
    monkeypatch.setattr(os, "replace", lambda s, d: (_ for _ in ()).throw(OSError(28, "No space left on device")))
    result = CliRunner().invoke(cli, ["convert", str(old_profile), str(out)])
    assert result.exit_code == 1, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert out.read_text() == "old contents"
    assert sorted(p.name for p in out.parent.iterdir()) == ["out.json", "profile.json"]


def test_cli_convert_into_a_missing_folder_is_one_line(old_profile):
    """convert to a path in a folder that does not exist exits 1 with a message, not a traceback."""
    result = CliRunner().invoke(cli, ["convert", str(old_profile), str(old_profile.parent / "no" / "such" / "o.json")])
    assert result.exit_code == 1, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)


# Writers that bypass write_atomic: open(..., "w"/"a"/"x"), Path.write_text/write_bytes, json.dump(obj, fh),
# and a figure saved straight to a path (render to io.BytesIO, then write_atomic the bytes).
_DIRECT_WRITE = re.compile(
    r"""open\([^)]*['"][wax]b?\+?['"]|\.write_text\(|\.write_bytes\(|json\.dump\(|savefig\((?!\s*(buf|io\.))"""
)


@pytest.mark.parametrize("root", [PACKAGE, CHECKOUT / "tools"], ids=["cactus_router", "tools"])
def test_no_module_writes_files_except_through_write_atomic(root):
    """No module of the installed package or of tools/ writes a file directly: only _files.write_atomic does."""
    assert root.is_dir()
    offenders = [
        f"{path}:{n}: {line.strip()}"
        for path in sorted(root.rglob("*.py")) if path.name != "_files.py"
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)
        if _DIRECT_WRITE.search(line) and not line.lstrip().startswith("#")
    ]
    assert offenders == []


# ---------------------------------------------------------------------------------------------
# What an output may replace: a regular file only; a symbolic link only when asked.


@pytest.mark.skipif(os.geteuid() != 0, reason="mknod of a character device needs root")
def test_convert_onto_a_device_node_is_refused_and_leaves_the_node(old_profile):
    """`convert small.json fakenull`, fakenull from `mknod fakenull c 1 3`, fails in one line; the node stays."""
    node = old_profile.parent / "fakenull"
    os.mknod(node, 0o644 | stat.S_IFCHR, os.makedev(1, 3))
    result = CliRunner().invoke(cli, ["convert", str(old_profile), str(node)])
    assert "fakenull: a character device, not a regular file" in one_line_error(result)
    st = os.lstat(node)
    assert stat.S_ISCHR(st.st_mode) and st.st_rdev == os.makedev(1, 3)
    assert _only(node) == ["fakenull", "profile.json"]


def _make_fifo(path):
    os.mkfifo(path)


def _make_socket(path):
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(path))
    sock.close()


@pytest.mark.parametrize("make, kind, is_kind", [
    (_make_fifo, "a named pipe", stat.S_ISFIFO),
    (_make_socket, "a socket", stat.S_ISSOCK),
    (os.mkdir, "a directory", stat.S_ISDIR),
], ids=["fifo", "socket", "directory"])
def test_an_output_that_is_not_a_regular_file_is_refused_and_left_as_it_was(tmp_path, make, kind, is_kind):
    """Saving onto a FIFO, a socket or a directory is an OutputError (also an OSError) and the node stays."""
    path = tmp_path / "o"
    make(path)
    with pytest.raises(OutputError, match=f"{path}: {kind}, not a regular file") as info:
        make_profile(seed=1).save(path)
    assert isinstance(info.value, OSError)
    assert is_kind(os.lstat(path).st_mode) and _only(path) == ["o"]


def test_a_symlink_output_is_refused_unless_followed(tmp_path):
    """A symbolic link is not replaced; with follow_symlinks=True its target (in another folder) is, atomically."""
    (tmp_path / "real").mkdir()
    (tmp_path / "links").mkdir()
    target = tmp_path / "real" / "p.json"
    target.write_text("old")
    os.chmod(target, 0o640)
    link = tmp_path / "links" / "p.json"
    link.symlink_to(target)
    with pytest.raises(OutputError, match="a symbolic link; not replaced"):
        make_profile(seed=1).save(link)
    assert link.is_symlink() and target.read_text() == "old"
    make_profile(seed=1).save(link, follow_symlinks=True)
    assert link.is_symlink() and os.readlink(link) == str(target)
    assert Profile.load(target).to_json() == make_profile(seed=1).to_json()
    assert stat.S_IMODE(target.stat().st_mode) == 0o640
    assert _only(link) == ["p.json"] and _only(target) == ["p.json"]


def test_a_dangling_symlink_followed_creates_its_target_and_a_loop_is_refused(tmp_path):
    """Following a link to a missing file creates that file; a link that loops is an OutputError."""
    link = tmp_path / "dangling.json"
    link.symlink_to("made.json")
    write_atomic(link, "new\n", follow_symlinks=True)
    assert (tmp_path / "made.json").read_text() == "new\n" and link.is_symlink()
    loop = tmp_path / "loop.json"
    loop.symlink_to("loop.json")
    with pytest.raises(OutputError, match="loops"):
        write_atomic(loop, "x", follow_symlinks=True)
    assert loop.is_symlink()


def test_a_hard_linked_output_is_refused_and_both_names_keep_the_old_contents(old_profile):
    """A file with two hard links is not replaced (that would split the names), followed or not."""
    other = old_profile.parent / "other.json"
    os.link(old_profile, other)
    before = old_profile.read_bytes()
    for follow in (False, True):
        with pytest.raises(OutputError, match="2 hard links"):
            make_profile(seed=2).save(old_profile, follow_symlinks=follow)
    assert old_profile.read_bytes() == other.read_bytes() == before
    assert os.stat(old_profile).st_ino == os.stat(other).st_ino


@pytest.mark.parametrize("command", WRITERS)
def test_every_writing_command_refuses_a_symlink_output_unless_given_follow_symlinks(tmp_path, command):
    """convert, train, calibrate, add-model and eval refuse a symlink output; --follow-symlinks writes its target."""
    ws = workspace(tmp_path)
    (tmp_path / "out").mkdir()
    out = output_path(command, tmp_path / "out")
    target = tmp_path / "target.json"
    target.write_text("old")
    out.symlink_to(target)
    args = writer_args(command, ws, out)
    refused = CliRunner().invoke(cli, args)
    assert "a symbolic link; not replaced" in one_line_error(refused)
    if command != "eval":  # the output is checked before the work: no progress line before the error
        assert len(refused.stderr.splitlines()) == 1, refused.stderr
    assert target.read_text() == "old" and out.is_symlink()
    assert os.listdir(out.parent) == [out.name]  # eval checked every file before writing the first
    result = CliRunner().invoke(cli, [*args, "--follow-symlinks"])
    assert result.exit_code == 0, result.output
    assert out.is_symlink() and target.read_text() != "old"
    json.loads(target.read_text())


@pytest.mark.parametrize("name", ["a" * 250 + ".json", "é" * 125 + ".json", "b" * 255],
                         ids=["250 chars", "255 bytes of UTF-8", "255 chars"])
def test_an_output_name_up_to_name_max_is_written(tmp_path, name):
    """A 250-character (or 255-byte) output name is written: the temporary name fits NAME_MAX too."""
    make_profile(seed=1).save(tmp_path / name)
    assert Profile.load(tmp_path / name).to_json() == make_profile(seed=1).to_json()
    assert _only(tmp_path / name) == [name]


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", ""])
    child.wait()
    return child.pid


def test_a_write_removes_its_targets_stale_temporaries_only(tmp_path):
    """Temporaries of this target left by a dead writer are removed; a live writer's, and other files, are kept."""
    target = tmp_path / ("c" * 240 + ".json")
    stem = _files._temp_stem(target.name)
    dead, live = _dead_pid(), os.getpid()
    stale = tmp_path / f"{stem}.{dead}.0123abcd.tmp"
    kept = [tmp_path / f"{stem}.{live}.0123abcd.tmp",  # a writer still running
            tmp_path / f"{_files._temp_stem('other.json')}.{dead}.0123abcd.tmp",  # another target's
            tmp_path / f"{stem}.{dead}.notours.tmp",  # not a name write_atomic makes
            tmp_path / "notes.txt"]
    for path in [stale, *kept]:
        path.write_text("partial")
    assert all(len(os.fsencode(p.name)) <= _files.NAME_MAX for p in [stale, *kept])
    write_atomic(target, "new\n")
    assert not stale.exists()
    assert all(p.read_text() == "partial" for p in kept)
    assert target.read_text() == "new\n"
