"""Every file the SDK writes goes through write_atomic: an interrupted write leaves the old file and no temp file."""

from __future__ import annotations

import os
import re
import stat
import threading
from pathlib import Path

import pytest
from click.testing import CliRunner
from cr_factories import make_profile

import cactus_router
from cactus_router import Profile
from cactus_router._json import write_atomic
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
    """No module of the installed package or of tools/ writes a file directly: only _json.write_atomic does."""
    assert root.is_dir()
    offenders = [
        f"{path}:{n}: {line.strip()}"
        for path in sorted(root.rglob("*.py")) if path.name != "_json.py"
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)
        if _DIRECT_WRITE.search(line) and not line.lstrip().startswith("#")
    ]
    assert offenders == []
