"""A folder of small valid inputs for every CLI command that reads or writes files, and their argument lists."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from cr_factories import make_profile

from cactus_router.embedders.hashing import HashEmbedder

#: The commands that write a file.
WRITERS = ("convert", "train", "calibrate", "add-model", "eval")


def workspace(folder: Path) -> dict[str, Path]:
    """Write a hash-embedder profile, a JSONL table scoring its models and a new one, a model list,
    a prompts file and an LLMRouter table with its queries file into ``folder``; return their paths."""
    paths = {name: folder / name for name in
             ("profile.json", "table.jsonl", "models.json", "prompts.txt", "llmrouter.json", "queries.jsonl")}
    make_profile(k=4, d=64, m=3, embedder=HashEmbedder(64)).save(paths["profile.json"])
    prompts = [f"prompt {i} about {'math' if i % 2 else 'chat'}" for i in range(30)]
    rows = [{"prompt": p, "scores": {"m0": i % 2, "m1": 1.0, "m2": 0.5, "new": 1 - i % 2}}
            for i, p in enumerate(prompts)]
    paths["table.jsonl"].write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    paths["models.json"].write_text(json.dumps([{"id": f"m{j}", "cost": j + 1} for j in range(3)]), encoding="utf-8")
    paths["prompts.txt"].write_text("".join(p + "\n" for p in prompts), encoding="utf-8")
    llm = [{"question": r["prompt"], "scores": r["scores"]} for r in rows]
    paths["llmrouter.json"].write_text(json.dumps(llm, indent=1), encoding="utf-8")
    paths["queries.jsonl"].write_text("".join(json.dumps({"query": p, "task_name": "t"}) + "\n" for p in prompts),
                                      encoding="utf-8")
    return paths


def output_path(command: str, folder: Path) -> Path:
    """The file in ``folder`` that ``writer_args(command, ..., that path)`` writes (eval: one of its output files)."""
    return folder / ("summary.json" if command == "eval" else "out.json")


def writer_args(command: str, ws: dict[str, Path], out: Path) -> list[str]:
    """The arguments of a real run of ``command`` that writes ``out``, a path from ``output_path``."""
    profile, table = str(ws["profile.json"]), str(ws["table.jsonl"])
    return {
        "convert": ["convert", profile, str(out)],
        "train": ["train", table, "-m", str(ws["models.json"]), "-e", "hash:64", "--k", "2", "-o", str(out)],
        "calibrate": ["calibrate", profile, str(ws["prompts.txt"]), "-t", "mean_cost<=1000", "-o", str(out)],
        "add-model": ["add-model", profile, "--model", "new", "--cost", "1", "--labels", table, "-o", str(out)],
        "eval": ["eval", profile, table, "--out", str(out.parent), "--no-charts", "--latency-sample", "0",
                 "--bootstrap", "0"],
    }[command]


def one_line_error(result: Any) -> str:
    """The CLI result's error, checked to be exit code 1 and one 'Error:' line, the last on stderr (after
    any progress lines), with no traceback."""
    assert result.exit_code == 1, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    lines = result.stderr.splitlines()
    assert [line for line in lines if "Error" in line or "Traceback" in line] == lines[-1:], result.stderr
    assert lines[-1].startswith("Error: ")
    return lines[-1]
