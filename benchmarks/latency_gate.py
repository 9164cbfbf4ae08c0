"""Latency regression gate: a base commit against the work tree, interleaved in one run, as ratios.

    python benchmarks/latency_gate.py [--base REF] [--cache DIR] [--rounds N] [--budget SECONDS]

Installs ``--base`` (default ``HEAD~1``) and the work tree (this checkout, uncommitted changes
included) into two venvs, each by a plain ``pip install`` of a clean export (``git archive`` of the
commit; the work tree's tracked and untracked-but-not-ignored files), so neither build sees the
other's compiled module. The venvs are cached in ``--cache`` (default
``$TMPDIR/cactus-router-latency-gate``), keyed by commit and by work-tree content.

Each round starts a fresh interpreter in each venv, then takes every benchmark's samples in 8
turns per venv of under 0.05 s each, alternating ABBA... (BAAB... in the next round): a load that
slows the machine slows both sides alike, and process-level effects (memory layout) land in the
spread. The benchmarks use only public API that the old and new code both have:

1. ``route_embedding`` on the bundled default profile (K = 48, soft assignment) with the real
   embeddings of the 500 LLMRouter test prompts, embedded once per venv by its default embedder.
   Under 90% of them in distribution is a set-up error: random vectors are all out of
   distribution and would time the fallback instead;
2. ``route()`` end to end with the default embedder, on the test prompts of at most 30 words;
3. ``route_embeddings`` on 1,000 of those embeddings (the 500, twice);
4. ``route_embedding`` on a synthetic hard-assignment profile, K = 16, D = 1024, M = 12 (the
   README's core figure), with random vectors (it has no out-of-distribution threshold).

The rule, per benchmark: a round's figure is its median time per call; ``ratio`` is the median
of the per-round ratios (work over base: a round times both sides at the same moment, so its ratio
cancels how fast the machine was then); ``spread`` is their robust relative standard deviation
(1.4826 x their median absolute deviation / their median). The benchmark is SLOWER, and the gate
exits 1, when ``ratio > 1 + max(0.05, 3 x spread)``. (The ratio of the two sides' medians over the
rounds is printed too, but does not decide: when the machine's speed drifts between rounds the two
medians can fall in different rounds, and it moved to 1.16 for two commits that differed only in
the README, whose per-round ratios were 0.98-1.06 but for one round.)

Exit codes: 0 nothing slower, or no base commit in this clone (only for the default base: a shallow
clone or a first commit has no ``HEAD~1``; it says so); 1 a benchmark slower; 2 a set-up error (a
``--base`` that does not resolve, a failed install). Time on a 2-core x86_64 VM with other jobs
running (load average 4-7): 2-6 minutes of measuring, plus 20-100 s per venv to create. After
``--budget`` seconds of measuring no new round starts once 5 are done (the output says so).
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, cast

ROOT = Path(__file__).resolve().parent.parent
PROMPTS = ROOT / "data" / "llmrouter" / "test.json"
FLOOR = 0.05  # the smallest slowdown the gate can call: 5% on a quiet machine
SPREADS = 3.0  # how many spreads beyond 1 a ratio must be to count as slower
MIN_ROUNDS = 5  # the fewest rounds a spread is estimated from
MAD_TO_SD = 1.4826  # median absolute deviation to standard deviation, for normal noise
KEEP_ENVS = 4  # venvs kept in the cache (the ones of this run and the most recently used)
SHORT_WORDS = 30
CHUNKS = 8  # per benchmark and round, the two venvs take turns this many times (under 0.05 s each)
# The default profile's threshold is the 1st percentile of held-out prompts' similarity, so about 99%
# of real prompts are in distribution; far fewer means benchmark 1 would time the fallback path.
MIN_IN_DISTRIBUTION = 0.9
SYNTH_K, SYNTH_D, SYNTH_M = 16, 1024, 12
# name -> (calls per timed sample, samples per round)
BENCHMARKS = {
    "route_embedding, default (K=48, soft)": (25, 160),
    "route(), short prompts": (1, 200),
    "route_embeddings, 1,000": (1, 48),
    "route_embedding, K=16 D=1024 hard": (25, 160),
}


class GateError(Exception):
    """A set-up problem: the gate cannot measure (exit 2)."""


@dataclass(frozen=True)
class Comparison:
    """One benchmark's base and work medians over the rounds, the median per-round ratio and its spread."""

    base: float
    work: float
    ratio: float
    spread: float
    rounds: tuple[float, ...]  # the per-round ratios, in round order


def margin(spread: float) -> float:
    """How far above 1 a ratio may go before it counts as slower."""
    return max(FLOOR, SPREADS * spread)


def verdict(ratio: float, spread: float) -> str:
    """``SLOWER`` (fails the gate) above 1 + margin(spread), ``faster`` below 1 - margin(spread), else ``same``."""
    if ratio > 1 + margin(spread):
        return "SLOWER"
    return "faster" if ratio < 1 - margin(spread) else "same"


def compare(base_rounds: Sequence[float], work_rounds: Sequence[float]) -> Comparison:
    """The median of the per-round ratios and their spread (rounds paired by index), beside each
    side's median over the rounds."""
    if len(base_rounds) != len(work_rounds) or len(base_rounds) < 2:
        raise ValueError(f"need two or more paired rounds, got {len(base_rounds)} and {len(work_rounds)}")
    base, work = statistics.median(base_rounds), statistics.median(work_rounds)
    ratios = [w / b for b, w in zip(base_rounds, work_rounds)]
    mid = statistics.median(ratios)
    spread = MAD_TO_SD * statistics.median(abs(r - mid) for r in ratios) / mid
    return Comparison(base, work, mid, spread, tuple(ratios))


def _git(*args: str) -> str:
    proc = subprocess.run(["git", "-C", str(ROOT), *args], capture_output=True, text=True)
    if proc.returncode:
        raise GateError(f"git {' '.join(args)} failed: {proc.stderr.strip()}")
    return proc.stdout.strip()


def resolve(ref: str) -> str:
    """The full commit hash of ``ref``, or "" if this clone does not have it."""
    proc = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}"],
                          capture_output=True, text=True)
    return proc.stdout.strip() if proc.returncode == 0 else ""


def export_commit(sha: str, dest: Path) -> Path:
    """Write the files of commit ``sha`` to ``dest`` (git archive, so no build output comes along)."""
    dest.mkdir(parents=True)
    archive = subprocess.Popen(["git", "-C", str(ROOT), "archive", "--format=tar", sha], stdout=subprocess.PIPE)
    untar = subprocess.run(["tar", "-x", "-C", str(dest)], stdin=archive.stdout, capture_output=True)
    if archive.wait() or untar.returncode:
        raise GateError(f"could not export {sha[:12]}: {untar.stderr.decode(errors='replace').strip()}")
    return dest


def export_work_tree(dest: Path) -> str:
    """Copy the work tree's tracked and untracked-but-not-ignored files to ``dest``; return their digest."""
    names = _git("ls-files", "-z", "--cached", "--others", "--exclude-standard").split("\0")
    digest = hashlib.sha256()
    for name in sorted(n for n in names if n and (ROOT / n).is_file()):  # a deleted file is still listed
        target = dest / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, target)
        digest.update(f"{name}\0{os.access(target, os.X_OK)}\0".encode() + target.read_bytes() + b"\0")
    return digest.hexdigest()


def ensure_env(env: Path, source: Callable[[], Path]) -> Path:
    """The python of venv ``env``, created and given a plain install of ``source()`` unless cached."""
    python = env / "bin" / "python"
    done = env / "installed"
    if done.exists():
        done.touch()  # the prune below keeps the most recently used
        return python
    shutil.rmtree(env, ignore_errors=True)  # a half-made venv from an interrupted run
    print(f"creating {env} ...", flush=True)
    for step in ([sys.executable, "-m", "venv", str(env)],
                 [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", str(source())]):
        proc = subprocess.run(step, capture_output=True, text=True)
        if proc.returncode:
            shutil.rmtree(env, ignore_errors=True)
            raise GateError(f"{' '.join(step[1:3])} for {env} failed:\n{proc.stderr[-3000:]}")
    done.touch()
    return python


def prune(cache: Path, used: Sequence[Path]) -> None:
    """Delete cached venvs beyond the KEEP_ENVS most recently used (never one of this run)."""
    envs = sorted((p for p in cache.glob("env-*") if (p / "installed").exists()),
                  key=lambda p: (p / "installed").stat().st_mtime, reverse=True)
    for old in envs[KEEP_ENVS:]:
        if old not in used:
            shutil.rmtree(old, ignore_errors=True)


def write_inputs(run: Path) -> None:
    """The prompts and the synthetic profile with its vectors, as JSON files in ``run``."""
    prompts = [row["question"] for row in json.loads(PROMPTS.read_text(encoding="utf-8"))]
    (run / "prompts.json").write_text(json.dumps(prompts), encoding="utf-8")
    rng = random.Random(0)

    def gauss(n: int) -> list[float]:
        return [round(rng.gauss(0.0, 1.0), 6) for _ in range(n)]

    profile = {
        "format": "cactus-router-profile", "version": 1,
        "embedder": {"name": "hash-ngram-v1", "dim": SYNTH_D},
        "clusters": {"k": SYNTH_K, "dim": SYNTH_D, "centroids": [gauss(SYNTH_D) for _ in range(SYNTH_K)],
                     "sizes": [10] * SYNTH_K},
        "models": [{"id": f"model-{j}", "cost": float(j + 1), "error_rates": [round(rng.random(), 6)
                    for _ in range(SYNTH_K)], "counts": [10] * SYNTH_K} for j in range(SYNTH_M)],
        "routing": {"temperature": 0.0},
    }
    (run / "synthetic_profile.json").write_text(json.dumps(profile), encoding="utf-8")
    (run / "synthetic_vectors.json").write_text(json.dumps([gauss(SYNTH_D) for _ in range(100)]), encoding="utf-8")


def _routers(run: Path) -> tuple[Any, Any]:
    """The default router and the synthetic one, from the cactus_router installed in this venv."""
    import warnings

    import cactus_router
    from cactus_router import Router

    if not Path(cactus_router.__file__).resolve().is_relative_to(Path(sys.prefix).resolve()):
        raise GateError(f"imported {cactus_router.__file__}, not the package installed in {sys.prefix}")
    warnings.simplefilter("ignore")  # the synthetic profile has no probe embeddings, which is said once
    synth = Router.load(run / "synthetic_profile.json", embedder=f"hash:{SYNTH_D}", allow_embedder_mismatch=True)
    return Router.load("default"), synth


def _samples(fn: Callable[[Any], object], inputs: Sequence[Any], start: int, block: int, n: int) -> list[float]:
    """``n`` samples of seconds per call, each timing ``block`` calls on the inputs from ``start`` on, in turn."""
    out = []
    for s in range(n):
        args = [inputs[(start + s * block + j) % len(inputs)] for j in range(block)]
        t0 = time.perf_counter()
        for a in args:
            fn(a)
        out.append((time.perf_counter() - t0) / block)
    return out


def serve(run: Path, env: Path) -> None:
    """In a venv (``--worker``): set up and warm up the benchmarks, print what it routes (one JSON line), then answer
    lines ``NAME<tab>COUNT`` with that many samples. The prompts are embedded once per venv, by its own embedder."""
    import numpy as np

    default, synth = _routers(run)
    text = (run / "prompts.json").read_text(encoding="utf-8")
    prompts = json.loads(text)
    path = env / f"embeddings-{hashlib.sha256(text.encode()).hexdigest()[:12]}.npy"
    if not path.exists():
        np.save(tmp := path.with_suffix(".tmp.npy"), np.asarray(default.embedder.embed_many(prompts), np.float32))
        os.replace(tmp, path)
    real = np.load(path)
    synth_vecs = np.asarray(json.loads((run / "synthetic_vectors.json").read_text()), dtype=np.float32)
    calls: dict[str, tuple[Callable[[Any], object], Sequence[Any]]] = {
        "route_embedding, default (K=48, soft)": (default.route_embedding, list(real)),
        "route(), short prompts": (default.route, [p for p in prompts if len(p.split()) <= SHORT_WORDS]),
        "route_embeddings, 1,000": (default.route_embeddings, [np.concatenate([real, real])[:1000]]),
        "route_embedding, K=16 D=1024 hard": (synth.route_embedding, list(synth_vecs)),
    }
    for name, (fn, inputs) in calls.items():
        block, n = BENCHMARKS[name]
        _samples(fn, inputs, 0, block, max(2, n // 10))  # warm-up: caches, lazily built tables
    print(json.dumps({"module": sys.modules["cactus_router"].__file__, "n": len(real), "dim": real.shape[1],
                      "in_distribution": float(np.mean([default.route_embedding(v).in_distribution for v in real])),
                      "digest": hashlib.sha256(real.tobytes()).hexdigest()}), flush=True)
    done = dict.fromkeys(calls, 0)  # calls made so far: each chunk goes on through the inputs
    for line in sys.stdin:
        name, count = line.rstrip("\n").split("\t")
        (fn, inputs), block = calls[name], BENCHMARKS[name][0]
        print(json.dumps(_samples(fn, inputs, done[name], block, int(count))), flush=True)
        done[name] += block * int(count)


class _Worker:
    """A ``serve`` worker in a fresh interpreter of one venv, isolated (``-I``) from this checkout's sources."""

    def __init__(self, python: Path, run: Path, env: Path) -> None:
        self.env = env
        self._err = tempfile.TemporaryFile("w+")
        cmd = [str(python), "-I", str(Path(__file__).resolve()), "--worker", str(run), "--env-dir", str(env)]
        self._proc = subprocess.Popen(cmd, cwd=run, text=True, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                      stderr=self._err)
        self._in, self._out = cast(IO[str], self._proc.stdin), cast(IO[str], self._proc.stdout)

    def line(self) -> str:
        """The worker's next line of output; its stderr in a GateError if it ended instead."""
        out = self._out.readline()
        if not out:
            self._proc.wait()
            self._err.seek(0)
            raise GateError(f"the benchmark in {self.env} failed:\n{self._err.read()[-3000:]}")
        return out

    def ask(self, name: str, count: int) -> list[float]:
        """``count`` samples of benchmark ``name``."""
        self._in.write(f"{name}\t{count}\n")
        self._in.flush()
        samples: list[float] = json.loads(self.line())
        return samples

    def close(self) -> None:
        with contextlib.suppress(BrokenPipeError):
            self._in.close()
        try:
            self._proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self._proc.kill()  # a worker that hangs must not hang the gate
            self._proc.wait()
        self._err.close()


def _fmt(seconds: float) -> str:
    return f"{seconds * 1e6:.2f} us" if seconds < 1e-3 else f"{seconds * 1e3:.3f} ms"


Envs = dict[str, tuple[Path, Path]]  # "base" and "work": (the venv's python, the venv)


def _round(envs: Envs, run: Path, order: tuple[str, str]) -> tuple[dict[str, Any], dict[str, dict[str, float]]]:
    """One round: a fresh worker per venv; each benchmark in CHUNKS chunks, the venvs alternating (ABBA...).

    Returns what each venv routes (its first line) and each venv's median per benchmark."""
    workers = {side: _Worker(python, run, env) for side, (python, env) in envs.items()}
    try:
        infos = {side: json.loads(w.line()) for side, w in workers.items()}
        medians: dict[str, dict[str, float]] = {side: {} for side in workers}
        for name, (_, n) in BENCHMARKS.items():
            samples: dict[str, list[float]] = {side: [] for side in workers}
            for chunk in range(CHUNKS):
                for side in order if chunk % 2 == 0 else order[::-1]:
                    samples[side] += workers[side].ask(name, n // CHUNKS)
            for side, values in samples.items():
                medians[side][name] = statistics.median(values)
        return infos, medians
    finally:
        for w in workers.values():
            w.close()


def describe(infos: dict[str, Any]) -> None:
    """Print which package each venv imported and what its embeddings route; refuse the wrong path."""
    for side, i in infos.items():
        print(f"{side}: {i['module']}; {i['n']} test prompts embedded (D = {i['dim']}), "
              f"{i['in_distribution']:.1%} routed in distribution")
    if min(i["in_distribution"] for i in infos.values()) < MIN_IN_DISTRIBUTION:
        raise GateError(f"under {MIN_IN_DISTRIBUTION:.0%} of the test prompts are in distribution: "
                        "route_embedding would time the out-of-distribution path")
    same = infos["base"]["digest"] == infos["work"]["digest"]
    print(f"the two venvs' prompt embeddings are {'identical' if same else 'DIFFERENT'}", flush=True)


def measure(envs: Envs, run: Path, rounds: int, budget: float) -> dict[str, Comparison]:
    """Up to ``rounds`` rounds (fewer, but MIN_ROUNDS, once ``budget`` seconds are spent), base first in even
    ones and work first in odd ones; compare each benchmark."""
    times: dict[str, dict[str, list[float]]] = {side: {name: [] for name in BENCHMARKS} for side in envs}
    deadline = time.monotonic() + budget
    for r in range(rounds):
        if r >= MIN_ROUNDS and time.monotonic() > deadline:
            print(f"time budget of {budget:.0f} s spent: stopping after {r} of {rounds} rounds")
            break
        print(f"round {r + 1}/{rounds}", flush=True)
        infos, medians = _round(envs, run, ("base", "work") if r % 2 == 0 else ("work", "base"))
        if r == 0:
            describe(infos)
        for side, by_name in medians.items():
            for name, value in by_name.items():
                times[side][name].append(value)
    return {name: compare(times["base"][name], times["work"][name]) for name in BENCHMARKS}


def report(results: dict[str, Comparison]) -> bool:
    """Print the table and the rule; True if no benchmark is slower."""
    print(f"\nrule: SLOWER when ratio > 1 + max({FLOOR:.2f}, {SPREADS:g} x spread); ratio = median of the per-round "
          "ratios (work / base); spread = 1.4826 x their MAD / their median")
    rows = [("benchmark", "base median", "work median", "ratio", "spread", "limit", "verdict")]
    for name, c in results.items():
        rows.append((name, _fmt(c.base), _fmt(c.work), f"{c.ratio:.3f}", f"{c.spread:.3f}",
                     f"{1 + margin(c.spread):.3f}", verdict(c.ratio, c.spread)))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(w) if i == 0 else cell.rjust(w) for i, (cell, w) in enumerate(zip(row, widths))))
    print("per-round ratios (work / base), in round order:")
    for name, c in results.items():
        print(f"  {name}: {' '.join(f'{r:.2f}' for r in c.rounds)}")
    return all(verdict(c.ratio, c.spread) != "SLOWER" for c in results.values())


def gate(base: str | None, cache: Path, rounds: int, budget: float) -> int:
    """Install both sides, measure them interleaved, print the verdicts; the exit code."""
    t0 = time.monotonic()
    sha = resolve(base or "HEAD~1")
    if not sha:
        if base is not None:
            raise GateError(f"--base {base!r} is not a commit in this clone (fetch it, or fetch with depth 0)")
        print("latency gate: no base commit to compare against (HEAD~1 is not in this clone: a shallow clone "
              "or the first commit); nothing measured, exit 0")
        return 0
    dirty = " + uncommitted changes" if _git("status", "--porcelain") else ""
    print(f"base: {base or 'HEAD~1'} = {sha[:12]}; work tree: {_git('rev-parse', 'HEAD')[:12]}{dirty}")
    cache.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="latency-gate-") as tmp:
        run, work_src = Path(tmp) / "run", Path(tmp) / "work"
        run.mkdir()
        digest = export_work_tree(work_src)
        py = f"py{sys.version_info[0]}.{sys.version_info[1]}"  # a venv is made for one interpreter
        base_env, work_env = cache / f"env-base-{sha[:12]}-{py}", cache / f"env-work-{digest[:12]}-{py}"
        envs = {"base": (ensure_env(base_env, lambda: export_commit(sha, Path(tmp) / "base")), base_env),
                "work": (ensure_env(work_env, lambda: work_src), work_env)}
        prune(cache, [base_env, work_env])
        write_inputs(run)
        setup = time.monotonic() - t0
        results = measure(envs, run, rounds, budget)
        ok = report(results)
    done = len(next(iter(results.values())).rounds)
    print(f"{done} rounds; set-up {setup:.0f} s, measuring {time.monotonic() - t0 - setup:.0f} s; "
          f"{'PASS: no benchmark slower' if ok else 'FAIL: a benchmark is slower'}")
    return 0 if ok else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", help="the commit to compare against (default HEAD~1)")
    parser.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "cactus-router-latency-gate",
                        help="folder for the venvs (default: %(default)s)")
    parser.add_argument("--rounds", type=int, default=15, help=f"rounds, at least {MIN_ROUNDS} (default 15)")
    parser.add_argument("--budget", type=float, default=300.0, help="seconds of measuring after which no new "
                        f"round starts, once {MIN_ROUNDS} are done (default 300)")
    parser.add_argument("--worker", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--env-dir", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.rounds < MIN_ROUNDS:
        parser.error(f"--rounds must be at least {MIN_ROUNDS}, to estimate the spread")
    try:
        if args.worker is None:
            return gate(args.base, args.cache, args.rounds, args.budget)
        serve(args.worker, args.env_dir)
        return 0
    except GateError as exc:
        print(f"latency gate: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
