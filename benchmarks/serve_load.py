"""Load on ``cactus-router serve``'s POST /v1/route, against Router.route in this process, in one run.

    python benchmarks/serve_load.py [--clients 1,4,16] [--requests 2000] [--seconds 60] [--workers 2]

The prompts are tests/data/everyday_prompts.txt, cycled; the profile and embedder are the
defaults. The service is started in a subprocess on a free loopback port (127.0.0.1 only).

1. Overhead: one client; blocks of 50 Router.route calls in this process alternate with blocks of
   50 requests to the service on the same prompts, so both sample the machine over the same
   minutes (other processes may share the cores). The differences and ratios at p5 and p50 are
   the service's overhead; p5, the least disturbed calls, is the steadier on a shared machine.
   (Blocks rather than single calls: each process's onnxruntime threads spin briefly
   after a call, which would slow the other's next call.)
2. Load: for each client count N, N concurrent clients (one asyncio loop, keep-alive connections)
   send requests until ``--requests`` are done or ``--seconds`` have passed.

Each row: requests/s, p50/p99 latency, errors (non-200 or no answer), and its p50 over the
in-process p50 of step 1.
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


def overhead(url: str, prompts: list[str], n: int, seconds: float, block: int = 50) -> tuple[np.ndarray, np.ndarray]:
    """Milliseconds of Router.route in process and of one request to the service, in alternating blocks."""
    router = Router.load("default")
    for p in prompts:  # warm-up
        router.route(p)
    local: list[float] = []
    served: list[float] = []
    stop_at = time.monotonic() + seconds
    with httpx.Client(timeout=30) as client:
        client.post(url + "/v1/route", json={"prompt": prompts[0]})
        i = 0
        while i < n and time.monotonic() < stop_at:
            chunk = [prompts[(i + j) % len(prompts)] for j in range(min(block, n - i))]
            i += len(chunk)
            for prompt in chunk:
                t0 = time.perf_counter()
                router.route(prompt)
                local.append((time.perf_counter() - t0) * 1e3)
            for prompt in chunk:
                t0 = time.perf_counter()
                reply = client.post(url + "/v1/route", json={"prompt": prompt})
                served.append((time.perf_counter() - t0) * 1e3)
                if reply.status_code != 200:
                    raise SystemExit(f"the service answered {reply.status_code}: {reply.text}")
    return np.array(local), np.array(served)


def start(workers: int, log: IO[str]) -> tuple[subprocess.Popen[bytes], str]:
    """The service on a free loopback port, once /ready answers 200."""
    proc = subprocess.Popen([sys.executable, "-m", "cactus_router", "serve", "--port", "0", "--workers", str(workers),
                             "--queue", "4096"], stdout=subprocess.DEVNULL, stderr=log,
                            cwd=tempfile.gettempdir())  # outside the checkout, which holds no built C core
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
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, {platform.platform()}, "
          f"Python {platform.python_version()}; load average {os.getloadavg()[0]:.1f} at the start")
    with tempfile.TemporaryFile(mode="w+") as log:
        proc, url = start(args.workers, log)
        try:
            local, served = overhead(url, prompts, args.requests, args.seconds)
            b5, b50, b99 = np.percentile(local, [5, 50, 99])
            s5, s50, s99 = np.percentile(served, [5, 50, 99])
            # p5 too: the least disturbed calls, when other processes load the cores.
            print(f"\n{len(local)} calls each, in alternating blocks:\n"
                  f"  Router.route in process  p5 {b5:.2f} ms, p50 {b50:.2f} ms, p99 {b99:.2f} ms\n"
                  f"  POST /v1/route           p5 {s5:.2f} ms, p50 {s50:.2f} ms, p99 {s99:.2f} ms\n"
                  f"  overhead at p5 {s5 - b5:.2f} ms ({s5 / b5:.2f}x), at p50 {s50 - b50:.2f} ms ({s50 / b50:.2f}x)\n")
            print("| clients | requests | requests/s | p50 ms | p99 ms | errors | p50 vs in-process |")
            print("|---|---|---|---|---|---|---|")
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
