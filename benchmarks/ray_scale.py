"""Routing at scale on Ray: 1 and 2 actors against in-process ``route_many``, in the same run.

    python benchmarks/ray_scale.py [--rows 100000] [--default-rows 3000]

Prompts: the LLMRouter questions (train and test) and the ZeroEval questions (GSM8K, MATH level 5,
CRUXEval-O) of data/, repeated in that order until the count is reached. Two embedders: ``hash``
(a profile trained here on 1,500 LLMRouter training rows) and the default MiniLM-L3 (the bundled
profile), the latter on fewer rows because one CPU embeds a few hundred prompts a second. In-process
routing runs in a fresh child process, with onnxruntime on every core and on one thread; each
actor reserves one CPU and runs onnxruntime on one thread. A local Ray cluster of 2 CPUs, on
loopback.

Per mode: start-up (routing 16 prompts from nothing: loading the Router, and on Ray submitting
the job and starting the actors, on a pool of its own), rows/s over the whole job, rows/s net of
that start-up (rows / (job time - start-up)), and the peak RSS (VmHWM) of a process that routes.
Prints a markdown table.
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from cactus_router.embedders import Embedder

os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")  # loopback only
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")

DATA = Path(__file__).resolve().parent.parent / "data"
BATCH = 256
#: Rows of the job that measures start-up.
STARTUP_ROWS = 16


def real_prompts() -> list[str]:
    """The LLMRouter and ZeroEval questions, in file order."""
    out = []
    for name in ("train.json", "test.json"):
        out += [r["question"] for r in json.loads((DATA / "llmrouter" / name).read_text(encoding="utf-8"))]
    for task in ("gsm", "math-l5", "crux"):
        with open(DATA / "zeroeval" / f"{task}_correctness_wide.csv", newline="", encoding="utf-8") as fh:
            out += [r["question"] for r in csv.DictReader(fh)]
    return out


def repeated(prompts: list[str], n: int) -> list[str]:
    """``prompts`` repeated in order until there are ``n``."""
    return (prompts * (n // len(prompts) + 1))[:n]


def hash_profile(path: Path) -> None:
    """Train and save the hash-embedder profile the hash runs route with."""
    from cactus_router.data import read_table
    from cactus_router.training import train

    rows = read_table(DATA / "llmrouter" / "train.json")[:1500]
    models = sorted(rows[0].scores)
    train(rows, [{"id": m, "cost": float(j + 1)} for j, m in enumerate(models)], embedder="hash", k=16,
          smoothing=2.0, temperature=0.05).save(path)


def peak_rss_mb(pid: int | str = "self") -> float:
    """A process's peak resident set size (VmHWM), MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM")


def one_thread_minilm() -> Embedder:
    """The default embedder on one onnxruntime thread: one per actor, each on its own CPU."""
    from cactus_router.embedders.minilm_l3 import MiniLML3Embedder

    return MiniLML3Embedder(int8=False, threads=1)


def in_process(profile: str, prompts_file: str, one_thread: str) -> dict[str, float]:
    """Route in this (fresh) process with route_many in batches; what the child process runs."""
    from cactus_router import Router

    prompts = json.loads(Path(prompts_file).read_text(encoding="utf-8"))
    t0 = time.perf_counter()
    router = Router.load(profile, embedder=one_thread_minilm() if one_thread == "1" else None)
    router.route_many(prompts[:STARTUP_ROWS])
    startup = time.perf_counter() - t0
    t1 = time.perf_counter()
    for s in range(0, len(prompts), BATCH):
        router.route_many(prompts[s : s + BATCH])
    run = time.perf_counter() - t1
    return {"startup_s": startup, "rows_s": len(prompts) / (startup + run), "net_rows_s": len(prompts) / run,
            "peak_mb": peak_rss_mb()}


def map_workers() -> list[int]:
    """The pids of Ray Data's map actors."""
    pids = []
    for proc in Path("/proc").iterdir():
        try:
            if proc.name.isdigit() and (proc / "cmdline").read_bytes().startswith(b"ray::MapWorker"):
                pids.append(int(proc.name))
        except OSError:
            continue
    return pids


def on_ray(profile: str, embedder: Callable[[], Embedder] | None, prompts: list[str], actors: int
           ) -> dict[str, float]:
    """Route ``prompts`` with a fresh pool of ``actors`` actors, after a start-up job of STARTUP_ROWS rows
    on another fresh pool; record each actor's peak RSS."""
    import pyarrow as pa
    import ray.data

    from cactus_router.integrations.ray import blocks, route_dataset

    out: dict[str, float] = {}
    for rows in (prompts[:STARTUP_ROWS], prompts):
        table = pa.table({"row_id": pa.array(range(len(rows)), type=pa.int64()), "prompt": rows})
        peaks: dict[int, float] = {}
        done = 0
        t0 = time.perf_counter()
        ds = route_dataset(ray.data.from_arrow(blocks(table, 0, len(rows), BATCH, actors)), profile,
                           embedder=embedder, batch_size=BATCH, num_actors=actors)
        for batch in ds.iter_batches(batch_format="pyarrow", batch_size=None):
            done += batch.num_rows
            for pid in map_workers():
                try:
                    peaks[pid] = max(peaks.get(pid, 0.0), peak_rss_mb(pid))
                except (OSError, RuntimeError):
                    pass
        assert done == len(rows)
        wall = time.perf_counter() - t0
        if rows is prompts:
            out.update(rows_s=done / wall, net_rows_s=done / (wall - out["startup_s"]), peak_mb=max(peaks.values()))
        else:
            out["startup_s"] = wall
    return out


def child(profile: str, prompts: list[str], one_thread: bool) -> dict[str, float]:
    """in_process() in a fresh interpreter, so its memory and threads are its own."""
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False, encoding="utf-8") as fh:
        json.dump(prompts, fh)
    try:
        argv = [sys.executable, __file__, "--in-process", profile, fh.name, "1" if one_thread else "0"]
        out = subprocess.run(argv, check=True, capture_output=True, text=True).stdout
    finally:
        os.unlink(fh.name)
    result: dict[str, float] = json.loads(out.strip().splitlines()[-1])
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", type=int, default=100_000, help="prompts for the hash embedder")
    ap.add_argument("--default-rows", type=int, default=3_000, help="prompts for the default MiniLM embedder")
    ap.add_argument("--in-process", nargs=3, metavar=("PROFILE", "PROMPTS_JSON", "ONE_THREAD"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.in_process:
        print(json.dumps(in_process(*args.in_process)))
        return
    import ray.data

    base = real_prompts()
    load_before = os.getloadavg()
    ray.init(num_cpus=2, log_to_driver=False, include_dashboard=False, logging_level="WARNING")
    ray.data.DataContext.get_current().enable_progress_bars = False
    logging.getLogger("ray.data").setLevel(logging.WARNING)
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        hashed = str(Path(tmp) / "hash.json")
        hash_profile(Path(hashed))
        for name, profile, embedder, n in (("hash", hashed, None, args.rows),
                                           ("minilm-l3:fp32 (default)", "default", one_thread_minilm,
                                            args.default_rows)):
            prompts = repeated(base, n)
            results.append((name, n, "in-process route_many", child(profile, prompts, False)))
            if embedder is not None:
                results.append((name, n, "in-process route_many, 1 thread", child(profile, prompts, True)))
            for actors in (1, 2):
                results.append((name, n, f"Ray, {actors} actor(s)", on_ray(profile, embedder, prompts, actors)))
                print(f"done: {name}, {actors} actor(s)", file=sys.stderr)
    print(f"{len(base)} distinct prompts (LLMRouter train+test, ZeroEval GSM8K/MATH-L5/CRUXEval-O), repeated; "
          f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, "
          f"ray {ray.__version__}; load average before {load_before[0]:.1f}, after {os.getloadavg()[0]:.1f}\n")
    print("| embedder | rows | mode | start-up s | rows/s (whole job) | rows/s net of start-up | "
          "peak RSS MB per routing process |")
    print("|---|---|---|---|---|---|---|")
    for name, n, mode, r in results:
        print(f"| {name} | {n:,} | {mode} | {r['startup_s']:.2f} | {r['rows_s']:,.0f} | {r['net_rows_s']:,.0f} | "
              f"{r['peak_mb']:.0f} |")
    ray.shutdown()


if __name__ == "__main__":
    main()
