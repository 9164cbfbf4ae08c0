"""End-to-end routing with the default profile and embedder: one prompt, 10,000 prompts, cold start.

    pytest benchmarks/test_bench_embed.py --benchmark-only [--benchmark-columns=min,median,max,rounds]
    CR_BENCH_PROMPTS=2000 pytest benchmarks/test_bench_embed.py --benchmark-only   # a quicker batch pair

Pairs, printed as ratios by benchmarks/conftest.py (``median(reference) / median(benchmark)``):
- ``test_route[short|200-tokens]`` against ``test_route_reference[...]``, the embedder alone on
  the same prompts: how much of ``Router.route`` is the embedding (a ratio just below 1).
- ``test_route_many`` (``route_many`` over CR_BENCH_PROMPTS prompts, default 10,000: batched
  embedding and one C call) against ``test_route_many_reference``, a per-prompt ``route`` loop
  over the same prompts: the batching speed-up.
- ``test_cold_start`` (a fresh interpreter: import, ``Router.load("default")``, first route)
  against ``test_cold_start_reference``, a fresh interpreter that does nothing.
Each single-prompt benchmark also records its p99 (ms) in extra_info, shown by
``--benchmark-json``; the cold start records the child's peak resident memory.
Prompts are the LLMRouter data's own (short: test prompts of at most 30 words; 200 tokens:
training text cut to exactly 200 WordPiece tokens; the batch: training prompts, cycled).
"""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
from importlib import resources
from pathlib import Path

import numpy as np
import pytest

from cactus_router import Router
from cactus_router.data import read_table

DATA = Path(__file__).resolve().parent.parent / "data" / "llmrouter"
N_PROMPTS = int(os.environ.get("CR_BENCH_PROMPTS", "10000"))
LONG_TOKENS = 200


@pytest.fixture(scope="module")
def router() -> Router:
    return Router.load("default")


@pytest.fixture(scope="module")
def train_prompts() -> list[str]:
    return [r.prompt for r in read_table(DATA / "train.json")]


def _short() -> list[str]:
    return [r.prompt for r in read_table(DATA / "test.json") if len(r.prompt.split()) <= 30]


def _long(corpus: list[str], n: int = 50) -> list[str]:
    """``n`` prompts of exactly LONG_TOKENS tokens of the bundled (BERT-uncased) tokenizer."""
    import tokenizers

    tok = tokenizers.Tokenizer.from_str(
        (resources.files("cactus_router") / "_data" / "minilm_tokenizer.json").read_text(encoding="utf-8"))
    tok.no_truncation()
    words = " ".join(corpus).split()
    out = []
    for start in range(0, 150 * n, 150):
        window = " ".join(words[start:start + 400])
        out.append(window[: tok.encode(window, add_special_tokens=False).offsets[LONG_TOKENS - 1][1]])
    return out


@pytest.fixture(scope="module")
def prompt_sets(train_prompts: list[str]) -> dict[str, list[str]]:
    return {"short": _short(), "200-tokens": _long(train_prompts)}


def _p99(benchmark) -> None:
    data = benchmark.stats.stats.data
    if data:
        benchmark.extra_info["p99_ms"] = round(float(np.percentile(data, 99)) * 1e3, 3)


@pytest.mark.parametrize("kind", ["short", "200-tokens"])
def test_route(benchmark, router, prompt_sets, kind):
    """One prompt through Router.route, cycling through the prompt set."""
    cycle = itertools.cycle(prompt_sets[kind])
    benchmark.pedantic(lambda: router.route(next(cycle)), rounds=1000 if kind == "short" else 300,
                       warmup_rounds=20)
    _p99(benchmark)


@pytest.mark.parametrize("kind", ["short", "200-tokens"])
def test_route_reference(benchmark, router, prompt_sets, kind):
    """The embedder alone on the same prompts: the floor under test_route."""
    embedder = router.embedder
    cycle = itertools.cycle(prompt_sets[kind])
    benchmark.pedantic(lambda: embedder.embed(next(cycle)), rounds=1000 if kind == "short" else 300,
                       warmup_rounds=20)
    _p99(benchmark)


def _batch(train_prompts: list[str]) -> list[str]:
    return list(itertools.islice(itertools.cycle(train_prompts), N_PROMPTS))


def test_route_many(benchmark, router, train_prompts):
    """route_many over N_PROMPTS prompts: batched embedding, one C call."""
    prompts = _batch(train_prompts)
    router.route_many(prompts[:64])
    benchmark.pedantic(router.route_many, args=(prompts,), rounds=2, iterations=1)
    benchmark.extra_info["prompts"] = len(prompts)
    benchmark.extra_info["prompts_per_s"] = round(len(prompts) / benchmark.stats.stats.median, 1)


def test_route_many_reference(benchmark, router, train_prompts):
    """A per-prompt route loop over the same prompts."""
    prompts = _batch(train_prompts)

    def loop() -> None:
        for p in prompts:
            router.route(p)

    benchmark.pedantic(loop, rounds=2, iterations=1)
    benchmark.extra_info["prompts"] = len(prompts)
    benchmark.extra_info["prompts_per_s"] = round(len(prompts) / benchmark.stats.stats.median, 1)


#: The child's peak resident set (kB): VmHWM starts afresh at exec, unlike ru_maxrss, which a
#: child inherits from a large parent such as pytest.
PEAK = "print([l.split()[1] for l in open('/proc/self/status') if l.startswith('VmHWM:')][0])"
COLD = ("from cactus_router import Router; Router.load('default').route('What is the capital of France?'); "
        + PEAK)


def _child(code: str) -> int:
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    return int(out.strip().splitlines()[-1])


def test_cold_start(benchmark):
    """A fresh interpreter: import cactus_router, load the default profile and embedder, route once."""
    peak = benchmark.pedantic(_child, args=(COLD,), rounds=5, iterations=1)
    benchmark.extra_info["peak_rss_mb"] = round(peak / 1024, 1)


def test_cold_start_reference(benchmark):
    """A fresh interpreter that does nothing: the floor under test_cold_start."""
    peak = benchmark.pedantic(_child, args=(PEAK,), rounds=5, iterations=1)
    benchmark.extra_info["peak_rss_mb"] = round(peak / 1024, 1)


def test_route_many_matches_route(router, train_prompts):
    """The batch and the loop route the same prompts to the same models (the pair measures one thing)."""
    prompts = train_prompts[:200]
    batch = router.route_many(prompts)
    assert list(batch.models) == [router.route(p).model for p in prompts]
