"""The Ray route command's input checks and resumable output, which refuse bad input before any cluster is used."""

from __future__ import annotations

import json
import os

import pytest

os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
pytest.importorskip("ray", reason='Ray is not installed: pip install "cactus-router[ray]"')
pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")

from cactus_router.cli.ray import route_file  # noqa: E402
from cactus_router.errors import ArgumentError, OutputConflictError, PromptError  # noqa: E402
from cactus_router.integrations.parts import MANIFEST, PartsOutput  # noqa: E402
from cactus_router.integrations.prompt_files import read_prompt_file  # noqa: E402


def _jsonl(path, records):
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


def test_bad_jsonl_rows_are_named_by_row_id_and_line(tmp_path):
    """Blank, non-string and missing prompts are all counted, the first few named with row id and line."""
    src = tmp_path / "p.jsonl"
    src.write_text('{"prompt": "ok"}\n\n{"prompt": 3}\n{"prompt": "  "}\n{"text": "x"}\n{"prompt": "fine"}\n')
    with pytest.raises(PromptError) as info:
        read_prompt_file(src)
    msg = str(info.value)
    assert "3 row(s) cannot be routed" in msg and "\n" not in msg
    assert "row 1 (line 3): prompt must be str, not int" in msg
    assert "row 2 (line 4)" in msg and "row 3 (line 5): no field 'prompt'" in msg


def test_a_missing_prompt_column_or_a_non_text_column_is_refused(tmp_path):
    """Parquet without the column, with an integer column, and JSONL without the field are one-line errors."""
    pq.write_table(pa.table({"text": ["a"]}), tmp_path / "a.parquet")
    pq.write_table(pa.table({"prompt": [1, 2]}), tmp_path / "b.parquet")
    with pytest.raises(ArgumentError, match=r"no column 'prompt' \(columns: text\)"):
        read_prompt_file(tmp_path / "a.parquet")
    with pytest.raises(PromptError, match="holds int64, not strings"):
        read_prompt_file(tmp_path / "b.parquet")
    with pytest.raises(ArgumentError, match="no record has the field 'prompt'"):
        read_prompt_file(_jsonl(tmp_path / "c.jsonl", [{"q": "x"}]))
    with pytest.raises(ArgumentError, match=r"d.jsonl:1: not a JSON line"):
        (tmp_path / "d.jsonl").write_text("{oops\n")
        read_prompt_file(tmp_path / "d.jsonl")
    with pytest.raises(ArgumentError, match="must be .jsonl or .parquet"):
        read_prompt_file(tmp_path / "e.csv")


def test_row_ids_are_record_positions_and_the_digest_is_of_the_bytes(tmp_path):
    """Blank lines do not count as records; the digest changes with the file."""
    src = _jsonl(tmp_path / "p.jsonl", [{"prompt": "a"}, {"prompt": "b"}])
    first = read_prompt_file(src)
    src.write_text('{"prompt": "a"}\n\n{"prompt": "c"}\n')
    second = read_prompt_file(src)
    assert second.table.column("row_id").to_pylist() == [0, 1]
    assert second.table.column("prompt").to_pylist() == ["a", "c"]
    assert first.sha256 != second.sha256


def test_an_output_of_another_job_is_refused_and_left_alone(tmp_path):
    """A different cost_bias, a file, and a folder that is not an output: one-line OutputConflictError, no change."""
    src = _jsonl(tmp_path / "p.jsonl", [{"prompt": "hello"}])
    out = tmp_path / "out.parquet"
    job = {"input_sha256": read_prompt_file(src).sha256}
    PartsOutput.open(out, "someone-else", job, 1, 10)
    before = (out / MANIFEST).read_bytes()
    with pytest.raises(OutputConflictError, match="holds the output of another job") as info:
        route_file(str(src), str(out), embedder="hash", cost_bias=0.2)
    assert "\n" not in str(info.value) and (out / MANIFEST).read_bytes() == before
    (tmp_path / "file.parquet").write_text("x")
    with pytest.raises(OutputConflictError, match="is a file"):
        route_file(str(src), str(tmp_path / "file.parquet"))
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "notes.txt").write_text("mine")
    with pytest.raises(OutputConflictError, match="not a cactus-router output"):
        route_file(str(src), str(tmp_path / "busy"))


def test_parts_are_written_whole_and_listed_once(tmp_path):
    """A part is renamed into place and recorded; rewriting it replaces it; readers skip the manifest."""
    out = PartsOutput.open(tmp_path / "o", "fp", {}, 5, 2)
    assert (out.parts, out.span(2)) == (3, (4, 5))
    out.write(0, pa.table({"row_id": [0, 1]}))
    out.write(0, pa.table({"row_id": [0, 1]}))
    with pytest.raises(ArgumentError, match="must hold 1 rows"):
        out.write(2, pa.table({"row_id": [4, 5]}))
    with pytest.raises(ArgumentError, match="not written yet"):
        out.finish()
    again = PartsOutput.open(tmp_path / "o", "fp", {}, 5, 2)
    assert again.written() == {0}
    assert pq.read_table(tmp_path / "o").column("row_id").to_pylist() == [0, 1]
    assert sorted(p.name for p in (tmp_path / "o").iterdir()) == [MANIFEST, "part-000000.parquet"]


@pytest.mark.parametrize("suffix", [".jsonl", ".parquet"])
def test_a_prompt_file_that_is_a_pipe_is_refused_at_once(tmp_path, suffix):
    """A named pipe given as --input is refused by the bounded reader, never read (it would block)."""
    fifo = tmp_path / f"prompts{suffix}"
    os.mkfifo(fifo)
    with pytest.raises(ArgumentError, match="not a regular file"):
        read_prompt_file(fifo)
