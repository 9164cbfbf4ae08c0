"""Routing and evaluating on a real local Ray cluster (``ray.init(num_cpus=2)``, loopback only)."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import numpy as np
import pytest

# Before Ray is imported: a single-machine cluster on loopback only (the setting Ray uses where
# clusters are off), and no usage statistics sent.
os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
ray = pytest.importorskip("ray", reason='Ray is not installed: pip install "cactus-router[ray]"')
pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")

from click.testing import CliRunner  # noqa: E402

from cactus_router import Router  # noqa: E402
from cactus_router.cli import cli  # noqa: E402
from cactus_router.cli.ray import route_file  # noqa: E402
from cactus_router.data import read_table  # noqa: E402
from cactus_router.errors import ArgumentError, ClusterError, PromptError  # noqa: E402
from cactus_router.evaluation import evaluate  # noqa: E402
from cactus_router.integrations.ray import DECISION_COLUMNS, route_dataset  # noqa: E402
from cactus_router.integrations.ray_eval import evaluate_dataset  # noqa: E402
from cactus_router.training import train  # noqa: E402

# About 60-120 s in all on the 2-core machine (a cluster, a trained profile, a dozen jobs): slow,
# and run by CI all the same.
pytestmark = pytest.mark.slow
DATA = Path(__file__).resolve().parent.parent / "data"
COLUMNS = ("model", "cluster", "expected_error", "cost", "in_distribution", "score")


@pytest.fixture(scope="session")
def cluster():
    """One local Ray cluster of 2 CPUs for every test here."""
    ray.init(num_cpus=2, log_to_driver=False, include_dashboard=False, logging_level="WARNING")
    ray.data.DataContext.get_current().enable_progress_bars = False
    yield
    ray.shutdown()


@pytest.fixture(scope="session")
def llmrouter_test():
    """The 500 labelled LLMRouter test rows."""
    return read_table(DATA / "llmrouter" / "test.json")


@pytest.fixture(scope="session")
def hash_profile_path(tmp_path_factory):
    """A hash-embedder profile trained on 1,500 LLMRouter training rows, saved as a file."""
    rows = read_table(DATA / "llmrouter" / "train.json")[:1500]
    models = sorted(rows[0].scores)
    prof = train(rows, [{"id": m, "cost": float(j + 1)} for j, m in enumerate(models)], embedder="hash", k=8,
                 smoothing=2.0, temperature=0.05)
    path = tmp_path_factory.mktemp("ray") / "hash.json"
    prof.save(path)
    return path


@pytest.fixture(scope="session")
def prompts(llmrouter_test):
    """Real prompts: the LLMRouter test prompts and the ZeroEval GSM8K questions."""
    import csv

    with open(DATA / "zeroeval" / "gsm_correctness_wide.csv", newline="", encoding="utf-8") as fh:
        gsm = [r["question"] for r in csv.DictReader(fh)]
    return [r.prompt for r in llmrouter_test] + gsm


def _dataset(prompts, block=250):
    table = pa.table({"row_id": pa.array(range(len(prompts)), type=pa.int64()), "prompt": prompts})
    return ray.data.from_arrow([table.slice(s, block) for s in range(0, len(prompts), block)])


def _columns(batch):
    return {"model": list(batch.models), "cluster": batch.cluster.tolist(),
            "expected_error": batch.expected_error.tolist(), "cost": batch.cost.tolist(),
            "in_distribution": batch.in_distribution.tolist(), "score": batch.score.astype(np.float64).tolist()}


def _write_jsonl(path, prompts):
    path.write_text("".join(json.dumps({"prompt": p}) + "\n" for p in prompts), encoding="utf-8")
    return path


def test_route_dataset_equals_route_many_on_the_same_prompts(cluster, hash_profile_path, prompts):
    """Two actors give, row for row, exactly the columns of one in-process route_many call."""
    out = route_dataset(_dataset(prompts), hash_profile_path, batch_size=64, num_actors=2, cost_bias=0.3)
    table = pa.concat_tables(ray.get(out.to_arrow_refs())).sort_by("row_id")
    assert table.column("row_id").to_pylist() == list(range(len(prompts)))
    assert table.column("prompt").to_pylist() == prompts
    expected = _columns(Router.load(hash_profile_path).route_many(prompts, cost_bias=0.3))
    for name in COLUMNS:
        assert table.column(name).to_pylist() == expected[name], name
    assert table.column("error").null_count == len(prompts)


def test_route_dataset_with_the_default_embedder_matches_route_many(cluster, prompts):
    """With the default MiniLM embedder the models match route_many and the numbers agree to float32 precision."""
    few = prompts[500:600]
    table = route_dataset(_dataset(few, block=25), "default", batch_size=25).to_pandas().sort_values("row_id")
    batch = Router.load("default").route_many(few)
    assert table["model"].tolist() == list(batch.models)
    np.testing.assert_allclose(table["expected_error"].to_numpy(), batch.expected_error, rtol=0, atol=1e-6)
    np.testing.assert_allclose(table["score"].to_numpy(), batch.score, rtol=0, atol=1e-6)


def test_bad_rows_are_reported_with_their_ids_and_the_rest_routed(cluster, hash_profile_path, prompts):
    """A null, a blank and an empty prompt keep their row and id, with the reason; the others are routed."""
    rows = list(prompts[:40])
    rows[3], rows[17], rows[30] = None, "   ", ""
    out = route_dataset(_dataset(rows, block=10), hash_profile_path, batch_size=8).to_pandas().sort_values("row_id")
    bad = out[out["error"].notna()]
    assert bad["row_id"].tolist() == [3, 17, 30]
    assert bad["model"].isna().all() and "NoneType" in bad["error"].iloc[0] and "whitespace" in bad["error"].iloc[1]
    good = [p for i, p in enumerate(rows) if i not in (3, 17, 30)]
    assert out[out["error"].isna()]["model"].tolist() == list(Router.load(hash_profile_path).route_many(good).models)


def test_bad_datasets_fail_in_the_driver_before_any_actor(cluster, hash_profile_path):
    """A missing prompt or id column, non-string prompts and a clashing column are typed one-line errors."""
    cases = [
        (ray.data.from_items([{"row_id": 0, "text": "hi"}]), ArgumentError, "no column 'prompt'"),
        (ray.data.from_items([{"row_id": 0, "prompt": 7}]), PromptError, "not strings"),
        (ray.data.from_items([{"prompt": "hi"}]), ArgumentError, "no column 'row_id'"),
        (ray.data.from_items([{"row_id": 0, "prompt": "hi", "model": "x"}]), ArgumentError, "already has"),
    ]
    for ds, error, words in cases:
        with pytest.raises(error, match=words) as info:
            route_dataset(ds, hash_profile_path)
        assert "\n" not in str(info.value)
    with pytest.raises(ArgumentError, match="cost_bias"):
        route_dataset(ray.data.from_items([{"row_id": 0, "prompt": "hi"}]), hash_profile_path, cost_bias=2)


def _worker_pids():
    """Processes of Ray Data's map actors (their title starts with ray::MapWorker)."""
    pids = []
    for proc in Path("/proc").iterdir():
        try:
            if proc.name.isdigit() and (proc / "cmdline").read_bytes().startswith(b"ray::MapWorker"):
                pids.append(int(proc.name))
        except OSError:
            continue
    return pids


def test_an_actor_killed_mid_job_leaves_every_row_exactly_once(cluster, hash_profile_path, prompts, tmp_path):
    """SIGKILL of a routing actor once the first rows are back: Ray restarts it and retries, and the
    output still holds every row once, equal to route_many."""
    many = (prompts * 4)[:8000]
    killed = []

    def progress(done, total):
        if 0 < done < total and not killed:
            victims = _worker_pids()
            assert victims, "no routing actor found to kill"
            os.kill(victims[0], signal.SIGKILL)
            killed.append(victims[0])

    src = _write_jsonl(tmp_path / "p.jsonl", many)
    result = route_file(str(src), str(tmp_path / "out.parquet"), profile=str(hash_profile_path), num_actors=2,
                        batch_size=20, part_rows=500, progress=progress)
    assert killed and result.rows == len(many)
    table = pq.read_table(tmp_path / "out.parquet").sort_by("row_id")
    assert table.column("row_id").to_pylist() == list(range(len(many)))
    assert table.column("model").to_pylist() == list(Router.load(hash_profile_path).route_many(many).models)


def test_a_rerun_after_a_crash_skips_the_written_parts(cluster, hash_profile_path, prompts, tmp_path):
    """A run stopped after some parts leaves whole parts only; the rerun routes the rest, without duplicates."""
    src = _write_jsonl(tmp_path / "p.jsonl", prompts[:1200])
    out = tmp_path / "out.parquet"

    class Crash(Exception):
        pass

    def crash(done, total):
        if done >= 400:
            raise Crash

    with pytest.raises(Crash):
        route_file(str(src), str(out), profile=str(hash_profile_path), batch_size=50, part_rows=200, progress=crash)
    before = sorted(p.name for p in out.glob("part-*.parquet"))
    assert before and len(before) < 6
    assert not [p for p in out.iterdir() if p.name.startswith(".")]
    result = route_file(str(src), str(out), profile=str(hash_profile_path), batch_size=50, part_rows=200)
    assert result.parts == 6 and result.parts_skipped == len(before)
    table = pq.read_table(out).sort_by("row_id")
    assert table.column("row_id").to_pylist() == list(range(1200))
    assert table.column("model").to_pylist() == list(Router.load(hash_profile_path).route_many(prompts[:1200]).models)
    assert json.loads((out / "_manifest.json").read_text())["complete"] is True


def test_the_cli_routes_a_parquet_file_end_to_end(cluster, hash_profile_path, prompts, tmp_path):
    """`route --input X.parquet --output OUT.parquet` writes every row, shows progress, and a rerun does nothing."""
    src = tmp_path / "p.parquet"
    pq.write_table(pa.table({"id": range(300), "prompt": prompts[:300]}), src)
    args = ["--input", str(src), "--output", str(tmp_path / "out.parquet"), "--profile", str(hash_profile_path),
            "--cost-bias", "0.8", "--num-actors", "2", "--part-rows", "100"]
    first = CliRunner().invoke(cli, ["route", "--engine", "ray", *args])
    assert first.exit_code == 0, first.output
    assert "routing" in first.stderr and "300 rows in 3 part(s)" in first.stderr
    table = pq.read_table(tmp_path / "out.parquet").sort_by("row_id")
    assert set(table.column_names) == {"row_id", *DECISION_COLUMNS}
    assert table.column("model").to_pylist() == list(
        Router.load(hash_profile_path).route_many(prompts[:300], cost_bias=0.8).models)
    again = CliRunner().invoke(cli, ["route", "--engine", "ray", *args])
    assert again.exit_code == 0 and "3 already written" in again.stderr


def test_an_unreachable_address_is_one_line_before_any_work(cluster, hash_profile_path, tmp_path):
    """--address pointing at a loopback port nothing listens on exits 1 with one line, leaving no parts."""
    src = _write_jsonl(tmp_path / "p.jsonl", ["hello there"])
    started = time.monotonic()
    res = CliRunner().invoke(cli, ["route", "--engine", "ray", "--input", str(src), "--output",
                                   str(tmp_path / "o.parquet"), "--profile", str(hash_profile_path),
                                   "--address", "127.0.0.1:9"])
    assert res.exit_code == 1 and "cannot reach the Ray cluster at 127.0.0.1:9" in res.stderr
    assert res.stderr.count("\n") == 1 and time.monotonic() - started < 30
    assert not list((tmp_path / "o.parquet").glob("part-*"))
    with pytest.raises(ClusterError, match="not host:port"):
        from cactus_router.integrations.ray import connect

        connect("nowhere")


def test_evaluation_on_ray_equals_the_single_process_figures(cluster, hash_profile_path, llmrouter_test):
    """Area, QNC, best quality and per-model shares from two actors equal evaluate's on the same rows."""
    scaled = evaluate_dataset(hash_profile_path, llmrouter_test, num_actors=2, batch_size=64)
    from cactus_router import Profile

    single = evaluate(Profile.load(hash_profile_path), llmrouter_test, bootstrap=0, latency_sample=0).summary
    curve = single["curves"]["cactus-router"]
    assert (scaled.area, scaled.qnc, scaled.best_quality, scaled.points) == (
        curve["area"], curve["qnc"], curve["best_quality"], curve["points"])
    point = next(p for p in single["operating_points"] if p["cost_bias"] == scaled.cost_bias)["routers"]
    assert scaled.operating_point["choice_counts"] == point["cactus-router"]["choice_counts"]
    assert scaled.operating_point["quality"] == point["cactus-router"]["quality"]
    assert sum(scaled.shares.values()) == pytest.approx(1.0)
