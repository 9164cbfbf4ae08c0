"""Load on ``cactus-router serve``'s POST /v1/route, against Router.route in this process, in one run.

    python benchmarks/serve_load.py [--clients 1,4,16] [--requests 2000] [--seconds 60] [--workers 2]

The prompts are tests/data/everyday_prompts.txt, cycled. First Router.route is timed here, one
prompt at a time, with the default profile and embedder; then the service is started in a
subprocess on a free loopback port (127.0.0.1 only) and, for each client count N, N concurrent
clients (one asyncio loop, keep-alive connections) send requests until ``--requests`` are done or
``--seconds`` have passed. Each row: requests/s, p50/p99 latency, errors (non-200 or no answer),
and the service's p50 over the in-process p50 (the service's overhead as a ratio).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import IO

import httpx
import numpy as np

from cactus_router import Router

PROMPTS = Path(__file__).resolve().parent.parent / "tests" / "data" / "everyday_prompts.txt"


def in_process(prompts: list[str], n: int) -> np.ndarray:
    """Milliseconds of ``n`` Router.route calls, cycling the prompts."""
    router = Router.load("default")
    for p in prompts:  # warm-up
        router.route(p)
    out = np.empty(n)
    for i in range(n):
        t0 = time.perf_counter()
        router.route(prompts[i % len(prompts)])
        out[i] = (time.perf_counter() - t0) * 1e3
    return out


def start(workers: int, log: IO[str]) -> tuple[subprocess.Popen[bytes], str]:
    """The service on a free loopback port, once /ready answers 200."""
    proc = subprocess.Popen([sys.executable, "-m", "cactus_router.cli_serve", "--port", "0", "--workers", str(workers),
                             "--queue", "4096"], stdout=subprocess.DEVNULL, stderr=log)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        log.seek(0)
        found = re.search(r"listening on (http://127\.0\.0\.1:\d+)", log.read())
        if found:
            url = found.group(1)
            while time.monotonic() < deadline:
                try:
                    if httpx.get(url + "/ready").status_code == 200:
                        return proc, url
                except httpx.TransportError:
                    pass
                time.sleep(0.1)
        time.sleep(0.05)
    proc.kill()
    raise SystemExit("the service did not become ready within 60 s")


async def load(url: str, prompts: list[str], clients: int, requests: int,
               seconds: float) -> tuple[np.ndarray, int, float]:
    """Latencies (ms) of the successful requests, the error count and the wall time."""
    latencies: list[float] = []
    errors = 0
    sent = 0
    stop_at = time.monotonic() + seconds

    async def client(c: httpx.AsyncClient) -> None:
        nonlocal errors, sent
        while sent < requests and time.monotonic() < stop_at:
            prompt = prompts[sent % len(prompts)]
            sent += 1
            t0 = time.perf_counter()
            try:
                reply = await c.post(url + "/v1/route", json={"prompt": prompt})
                ok = reply.status_code == 200
            except httpx.HTTPError:
                ok = False
            if ok:
                latencies.append((time.perf_counter() - t0) * 1e3)
            else:
                errors += 1

    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(timeout=30, limits=limits) as c:
        for _ in range(clients):  # warm the connections
            await c.get(url + "/health")
        t0 = time.perf_counter()
        await asyncio.gather(*(client(c) for _ in range(clients)))
        wall = time.perf_counter() - t0
    return np.array(latencies), errors, wall


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--clients", default="1,4,16", help="comma-separated concurrent client counts")
    ap.add_argument("--requests", type=int, default=2000, help="requests per client count (an upper bound)")
    ap.add_argument("--seconds", type=float, default=60.0, help="time per client count (an upper bound)")
    ap.add_argument("--workers", type=int, default=2, help="the service's routing threads")
    args = ap.parse_args()
    prompts = [ln for ln in PROMPTS.read_text(encoding="utf-8").splitlines() if ln.strip() and not ln.startswith("#")]
    base = in_process(prompts, min(args.requests, 1000))
    b50, b99 = np.percentile(base, [50, 99])
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, {platform.processor() or platform.platform()}, "
          f"Python {platform.python_version()}")
    print(f"in-process Router.route: {len(base)} calls, p50 {b50:.2f} ms, p99 {b99:.2f} ms; "
          f"load average {os.getloadavg()[0]:.1f} (other processes share the cores)\n")
    print("| clients | requests | requests/s | p50 ms | p99 ms | errors | p50 vs in-process |")
    print("|---|---|---|---|---|---|---|")
    with tempfile.TemporaryFile(mode="w+") as log:
        proc, url = start(args.workers, log)
        try:
            for n in (int(x) for x in args.clients.split(",")):
                lat, errors, wall = asyncio.run(load(url, prompts, n, args.requests, args.seconds))
                p50, p99 = np.percentile(lat, [50, 99]) if len(lat) else (float("nan"), float("nan"))
                print(f"| {n} | {len(lat) + errors} | {len(lat) / wall:.0f} | {p50:.2f} | {p99:.2f} | {errors} | "
                      f"{p50 / b50:.2f}x |")
        finally:
            print(f"\nload average at the end: {os.getloadavg()[0]:.1f}")
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=30)


if __name__ == "__main__":
    main()
