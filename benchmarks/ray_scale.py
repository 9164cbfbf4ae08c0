"""Routing at scale on Ray: 1 and 2 actors against in-process ``route_many``, in the same run.

    python benchmarks/ray_scale.py [--rows 100000] [--default-rows 3000]

Prompts: the LLMRouter questions (train and test) and the ZeroEval questions (GSM8K, MATH level 5,
CRUXEval-O) of data/, repeated in that order until the count is reached. Two embedders: ``hash``
(a profile trained here on 1,500 LLMRouter training rows) and the default MiniLM-L3 (the bundled
profile), the latter on fewer rows because one CPU embeds a few hundred prompts a second. In-process
routing runs in a fresh child process (onnxruntime on every core); each actor reserves one CPU and
runs onnxruntime on one thread. A local Ray cluster of 2 CPUs, on loopback.

Per mode: rows/s over the whole job, the rate after the first batch is back, start-up (from the
start to the first batch of 256 routed: loading the Router, and on Ray starting the actors, plus
that batch's work) and the peak RSS (VmHWM) of a process that routes. Prints a markdown table.
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


def in_process(profile: str, prompts_file: str) -> dict[str, float]:
    """Route in this (fresh) process with route_many in batches; what the child process runs."""
    from cactus_router import Router

    prompts = json.loads(Path(prompts_file).read_text(encoding="utf-8"))
    t0 = time.perf_counter()
    router = Router.load(profile)
    router.route_many(prompts[:BATCH])
    first = time.perf_counter()
    for s in range(BATCH, len(prompts), BATCH):
        router.route_many(prompts[s : s + BATCH])
    end = time.perf_counter()
    return {"rows_s": len(prompts) / (end - t0), "steady_rows_s": (len(prompts) - BATCH) / (end - first),
            "startup_s": first - t0, "peak_mb": peak_rss_mb()}


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
    """Route on the local cluster with ``actors`` actors; rates, start-up and each actor's peak RSS."""
    import pyarrow as pa
    import ray.data

    from cactus_router.integrations.ray import blocks, route_dataset

    table = pa.table({"row_id": pa.array(range(len(prompts)), type=pa.int64()), "prompt": prompts})
    peaks: dict[int, float] = {}
    t0 = time.perf_counter()
    ds = route_dataset(ray.data.from_arrow(blocks(table, 0, len(prompts), BATCH, actors)), profile, embedder=embedder,
                       batch_size=BATCH, num_actors=actors)
    first = None
    rows = first_rows = 0
    for batch in ds.iter_batches(batch_format="pyarrow", batch_size=None):
        rows += batch.num_rows
        if first is None:
            first, first_rows = time.perf_counter(), batch.num_rows
        for pid in map_workers():
            try:
                peaks[pid] = max(peaks.get(pid, 0.0), peak_rss_mb(pid))
            except (OSError, RuntimeError):
                pass
    end = time.perf_counter()
    assert rows == len(prompts) and first is not None
    return {"rows_s": rows / (end - t0), "steady_rows_s": (rows - first_rows) / (end - first),
            "startup_s": first - t0, "peak_mb": max(peaks.values()) if peaks else float("nan")}


def child(profile: str, prompts: list[str]) -> dict[str, float]:
    """in_process() in a fresh interpreter, so its memory and threads are its own."""
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False, encoding="utf-8") as fh:
        json.dump(prompts, fh)
    try:
        out = subprocess.run([sys.executable, __file__, "--in-process", profile, fh.name], check=True,
                             capture_output=True, text=True).stdout
    finally:
        os.unlink(fh.name)
    result: dict[str, float] = json.loads(out.strip().splitlines()[-1])
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", type=int, default=100_000, help="prompts for the hash embedder")
    ap.add_argument("--default-rows", type=int, default=3_000, help="prompts for the default MiniLM embedder")
    ap.add_argument("--in-process", nargs=2, metavar=("PROFILE", "PROMPTS_JSON"), help=argparse.SUPPRESS)
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
            results.append((name, n, "in-process route_many", child(profile, prompts)))
            for actors in (1, 2):
                results.append((name, n, f"Ray, {actors} actor(s)", on_ray(profile, embedder, prompts, actors)))
                print(f"done: {name}, {actors} actor(s)", file=sys.stderr)
    print(f"{len(base)} distinct prompts (LLMRouter train+test, ZeroEval GSM8K/MATH-L5/CRUXEval-O), repeated; "
          f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, "
          f"ray {ray.__version__}; load average before {load_before[0]:.1f}, after {os.getloadavg()[0]:.1f}\n")
    print("| embedder | rows | mode | rows/s (whole job) | rows/s after the first batch | start-up s | "
          "peak RSS MB per routing process |")
    print("|---|---|---|---|---|---|---|")
    for name, n, mode, r in results:
        print(f"| {name} | {n:,} | {mode} | {r['rows_s']:,.0f} | {r['steady_rows_s']:,.0f} | {r['startup_s']:.2f} | "
              f"{r['peak_mb']:.0f} |")
    ray.shutdown()


if __name__ == "__main__":
    main()
