"""The command line through click's CliRunner and through the installed console script."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from cactus_router import UnverifiedEmbedderWarning
from cactus_router.cli import cli

DATA = Path(__file__).parent / "data"


@pytest.fixture()
def profile_path(tmp_path, hash_profile):
    path = tmp_path / "p.json"
    hash_profile.save(path)
    return str(path)


def run(*args, input=None):
    return CliRunner().invoke(cli, list(args), input=input)


def test_route_human_and_json(profile_path):
    """route prints the model first; --json prints one object with the ranking."""
    human = run("route", "What is 2+2?", "--profile", profile_path)
    assert human.exit_code == 0, human.output
    assert human.output.splitlines()[0] in {"m0", "m1", "m2"}
    out = run("route", "What is 2+2?", "--profile", profile_path, "--json", "--cost-bias", "0.2")
    doc = json.loads(out.output)
    assert doc["model"] == human.output.splitlines()[0] or doc["cost_bias"] == 0.2
    assert doc["ranking"][0]["model"] == doc["model"] and doc["prompt"] == "What is 2+2?"


def test_route_stdin_writes_one_json_line_per_prompt(profile_path):
    """route - routes each non-empty stdin line."""
    out = run("route", "-", "--profile", profile_path, input="first prompt\n\nsecond prompt\n")
    lines = [json.loads(x) for x in out.output.splitlines()]
    assert [x["prompt"] for x in lines] == ["first prompt", "second prompt"]


def test_route_constraints(profile_path):
    """--allow restricts the ranking."""
    doc = json.loads(run("route", "hi", "--profile", profile_path, "--allow", "m2", "--json").output)
    assert [r["model"] for r in doc["ranking"]] == ["m2"]


@pytest.mark.parametrize(
    "args, code, message",
    [
        (["route", "hi", "--profile", "/no/such.json"], 1, "cannot read profile"),
        (["route", "hi", "--profile", "PROFILE", "--require", "vision"], 1, "no model in the profile meets"),
        (["route", "hi", "--profile", "PROFILE", "--embedder", "hash:8"], 1, "has 8"),
        (["route", "hi", "--cost-bias", "2"], 2, "not in the range"),
        (["route"], 2, "give a PROMPT"),
        (["frobnicate"], 2, "No such command"),
    ],
)
def test_errors_are_one_line_with_documented_exit_codes(profile_path, args, code, message):
    """User errors exit 1 and usage errors 2, with a message and no traceback."""
    result = run(*[profile_path if a == "PROFILE" else a for a in args])
    assert result.exit_code == code
    assert message in result.output
    assert "Traceback" not in result.output


def test_info_and_models(profile_path):
    """info summarises a profile; models lists the 12-model catalog."""
    info = json.loads(run("info", "--profile", profile_path, "--json").output)
    assert info["clusters"] == 4 and info["embedder"]["name"] == "hash-ngram-v1"
    assert set(info["libcactus"]) >= {"found", "path", "version", "tried"} and info["libcactus"]["tried"]
    human = run("info", "--profile", profile_path).output
    assert "fingerprint" in human and "libcactus" in human
    cat = json.loads(run("models", "--json").output)
    assert len(cat) == 12 and cat[0]["id"] == "gemma-270m"


def test_train_then_route(tmp_path):
    """train writes a profile that route then uses."""
    table = tmp_path / "t.jsonl"
    rows = [{"prompt": f"prompt {i} {'math' if i % 2 else 'chat'}", "scores": {"a": i % 2, "b": 1.0}}
            for i in range(30)]
    table.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    models = tmp_path / "models.json"
    models.write_text(json.dumps([{"id": "a", "cost": 1}, {"id": "b", "cost": 5}]))
    out = tmp_path / "p.json"
    result = run("train", str(table), "--models", str(models), "--embedder", "hash:64", "--k", "2", "-o", str(out))
    assert result.exit_code == 0, result.output
    assert json.loads(run("route", "prompt 3 math", "--profile", str(out), "--json").output)["model"] in {"a", "b"}


def test_readme_training_example_works_as_written(tmp_path):
    """--models cactus on a table scoring two catalog models trains those two and names the rest."""
    table = tmp_path / "my_table.jsonl"
    rows = [{"prompt": f"What is {i} * {i + 7}?" if i % 2 else f"Say hello to friend {i}",
             "scores": {"gemma-270m": float(i % 2 == 0), "qwen-1.7b": 1}, "task": "math" if i % 2 else "chat"}
            for i in range(30)]
    table.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    out = tmp_path / "my_profile.json"
    result = CliRunner().invoke(cli, ["train", str(table), "--models", "cactus", "--embedder", "hash:64", "--k", "2",
                                      "-o", str(out)])
    assert result.exit_code == 0, result.output
    prof = json.loads(out.read_text())
    assert [m["id"] for m in prof["models"]] == ["gemma-270m", "qwen-1.7b"]
    assert "catalog models left out" in result.output and "lfm2-350m" in result.output
    assert "lfm2-350m" in prof["training"]["catalog_models_left_out"]


def test_train_with_models_from_the_table(tmp_path):
    """--models table costs each model from the rows' costs; rows without costs get a one-line error."""
    table = tmp_path / "t.jsonl"
    rows = [{"prompt": f"prompt {i} {'math' if i % 2 else 'chat'}", "scores": {"a": i % 2, "b": 1.0},
             "costs": {"a": 1.0, "b": 4.0 + i % 2}} for i in range(30)]
    table.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    out = tmp_path / "p.json"
    result = run("train", str(table), "--models", "table", "--embedder", "hash:64", "--k", "2", "-o", str(out))
    assert result.exit_code == 0, result.output
    assert [(m["id"], m["cost"]) for m in json.loads(out.read_text())["models"]] == [("a", 1.0), ("b", 4.5)]
    table.write_text("\n".join(json.dumps({k: v for k, v in r.items() if k != "costs"}) for r in rows) + "\n")
    result = run("train", str(table), "--models", "table", "--embedder", "hash:64", "-o", str(tmp_path / "q.json"))
    assert result.exit_code == 1 and "no row gives one for 'a', 'b'" in result.output
    assert not (tmp_path / "q.json").exists()


def test_train_bad_table_names_the_line(tmp_path):
    """A bad row stops train with file:line and writes nothing."""
    table = tmp_path / "t.jsonl"
    table.write_text('{"prompt": "p", "scores": {"a": 1}}\n{"prompt": 5}\n')
    result = run("train", str(table), "--embedder", "hash", "-o", str(tmp_path / "p.json"))
    assert result.exit_code == 1 and "t.jsonl:2" in result.output
    assert not (tmp_path / "p.json").exists()


def test_convert_legacy(tmp_path):
    """convert turns a Nordlys profile into v1."""
    out = tmp_path / "v1.json"
    with pytest.warns(UnverifiedEmbedderWarning):
        result = run("convert", str(DATA / "nordlys_v01.json"), str(out))
    assert result.exit_code == 0, result.output
    assert json.loads(out.read_text())["version"] == 1


def test_installed_console_script_routes_with_the_default_profile():
    """The installed cactus-router script routes offline with the bundled default profile."""
    exe = shutil.which("cactus-router")
    assert exe is not None, "cactus-router is not on PATH: install the package first"
    proc = subprocess.run([exe, "route", "What is the capital of France?", "--json"], capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["model"]


def test_python_dash_m_usage_error_exit_code(tmp_path):
    """python -m cactus_router with a bad option exits 2 with a usage message."""
    # Run outside the checkout: there `python -m` would import the unbuilt source tree.
    proc = subprocess.run([sys.executable, "-m", "cactus_router", "route", "x", "--cost-bias", "nope"],
                          capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert proc.returncode == 2 and "Invalid value" in proc.stderr and "Traceback" not in proc.stderr


def test_route_explain(profile_path):
    """--explain prints the cluster and every model's terms; with --json it is a usage error."""
    out = run("route", "explain me", "--profile", profile_path, "--explain")
    assert out.exit_code == 0 and "cluster" in out.output and "cost term" in out.output
    assert run("route", "x", "--profile", profile_path, "--explain", "--json").exit_code == 2


def test_every_output_option_is_spelled_output():
    """train, calibrate, add-model and eval all take -o/--output; eval's old --out is a hidden alias."""
    for command in ("train", "calibrate", "add-model", "eval"):
        text = run(command, "--help").output
        assert "-o, --output" in text, command
    assert "--out " not in run("eval", "--help").output
