"""Build the bundled default profile from the LLMRouter data in data/llmrouter.

    python tools/build_default_profile.py            # writes cactus_router/profiles/default.json
    python tools/build_default_profile.py --check    # rebuilds and compares (below)
    python tools/build_default_profile.py --check --strict   # bytes only

``--check`` passes when the rebuild is byte for byte the committed file, or, on a CPU whose float
kernels round differently from the one that built it (onnxruntime, and OpenBLAS unless
OPENBLAS_CORETYPE pins it, pick AVX-512, AVX2 or NEON code by the CPU; the thread count splits
their sums), when it differs only in the last digits: every key, string, integer and boolean the
same; each JSON float within ``REL`` relative (or ``ABS`` absolute) of the committed one; each
element of a base64 array within ``ARRAY_REL`` of that array's largest magnitude; and the same
decision (model, tier, policies applied) for every LLMRouter test prompt at cost_bias 0, 0.5 and
1. It says which of the two it found.

Models: the 9 scored LLMRouter models; cost = the mean of the input and output price (USD per 1M
tokens, from default_llm.json): the files hold no per-prompt token counts, and with the same
prompt sent to every model, the price ratio is what the cost term compares.
"""

from __future__ import annotations

import argparse
import base64
import json
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from cactus_router import Profile, Router
from cactus_router.data import drop_overlap, read_table
from cactus_router.embedders import DEFAULT_EMBEDDER, get_embedder
from cactus_router.routing import RouteRequest
from cactus_router.training import train

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "data" / "llmrouter"
OUT = ROOT / "cactus_router" / "profiles" / "default.json"
SEED = 0
#: Last-digit tolerances of ``--check`` across CPUs (see the module docstring).
REL, ABS, ARRAY_REL = 1e-4, 1e-5, 1e-2
COST_BIASES = (0.0, 0.5, 1.0)


def llmrouter_models(train_rows: list) -> list[dict]:
    """The scored models of default_llm.json, with cost = mean of input and output price."""
    prices = json.loads((DATA / "default_llm.json").read_text(encoding="utf-8"))
    scored = sorted({m for r in train_rows for m in r.scores})
    return [{"id": m, "cost": (prices[m]["input_price"] + prices[m]["output_price"]) / 2} for m in scored]


def build(out: Path, follow_symlinks: bool = False) -> None:
    test = read_table(DATA / "test.json", queries=DATA / "default_query_test.jsonl")
    rows = drop_overlap(read_table(DATA / "train.json", queries=DATA / "default_query_train.jsonl"), test)

    def progress(done: int, total: int) -> None:
        print(f"\rembedding {done}/{total}", end="", file=sys.stderr, flush=True)

    profile = train(
        rows,
        llmrouter_models(rows),
        embedder=DEFAULT_EMBEDDER,
        k="auto",
        seed=SEED,
        progress=progress,
        provenance={
            "data": "LLMRouter dcrouter_preprocessed train.json (ulab-uiuc/LLMRouter@4e7a796, MIT), "
            "minus the prompts that also appear in test.json",
            "cost": "mean of input and output price, USD per 1M tokens (default_llm.json)",
            "built_by": "tools/build_default_profile.py",
        },
    )
    print(file=sys.stderr)
    profile.save(out, follow_symlinks=follow_symlinks)
    print(f"wrote {out} (k={profile.k}, {out.stat().st_size} bytes)", file=sys.stderr)


def _array(obj: dict[str, Any]) -> np.ndarray:
    return np.frombuffer(base64.b64decode(obj["base64"]), dtype=np.dtype(obj["dtype"]).newbyteorder("<"))


def value_drift(old: Any, new: Any, path: str = "$") -> Iterator[tuple[str, float]]:
    """Each number of ``new`` that differs from ``old`` as ``(path, difference)``, the difference
    relative to the tolerance (<= 1: within it). Raises ValueError at the first difference that
    is not a number's: a key, a length, a string, an integer, a boolean or an array's dtype/shape."""
    if isinstance(old, dict) and isinstance(new, dict):
        if old.keys() != new.keys():
            raise ValueError(f"{path}: keys {sorted(old.keys() ^ new.keys())} in one profile only")
        if "base64" in old and "dtype" in old:
            if (old["dtype"], old["shape"]) != (new["dtype"], new["shape"]):
                raise ValueError(f"{path}: array {old['dtype']} {old['shape']} became {new['dtype']} {new['shape']}")
            a, b = _array(old).astype(np.float64), _array(new).astype(np.float64)
            worst = float(np.abs(a - b).max(initial=0.0)) / (ARRAY_REL * float(np.abs(a).max(initial=0.0)) or 1.0)
            if worst:
                yield path, worst
            return
        for key in old:
            yield from value_drift(old[key], new[key], f"{path}.{key}")
    elif isinstance(old, list) and isinstance(new, list):
        if len(old) != len(new):
            raise ValueError(f"{path}: {len(old)} items became {len(new)}")
        for i, (a, b) in enumerate(zip(old, new)):
            yield from value_drift(a, b, f"{path}[{i}]")
    elif type(old) is float and type(new) is float:
        if old != new:
            yield path, abs(old - new) / max(REL * abs(old), ABS)
    elif type(old) is not type(new) or old != new:
        raise ValueError(f"{path}: {old!r} became {new!r}")


def decisions(profile: Profile, prompts: list[str], vectors: np.ndarray) -> list[tuple[Any, ...]]:
    """What routing decides for each prompt (``vectors``: their embeddings by the default embedder)
    at each of ``COST_BIASES``: model, tier, policies applied, as ``route_many`` decides them."""
    pipeline = Router(profile, get_embedder(DEFAULT_EMBEDDER)).pipeline
    return [(d.model, d.tier, tuple(a.policy for a in d.applied)) for bias in COST_BIASES
            for d in pipeline.decide_many(vectors, RouteRequest(cost_bias=bias), prompts=prompts)]


def compare(committed: Path, fresh: Path, prompts: list[str] | None = None) -> tuple[bool, str]:
    """``--check``'s verdict on the rebuild and its one-line reason; the decisions are compared on
    ``prompts`` (default: the LLMRouter test prompts)."""
    if fresh.read_bytes() == committed.read_bytes():
        return True, "identical (byte for byte)"
    old, new = (json.loads(p.read_text(encoding="utf-8")) for p in (committed, fresh))
    try:
        drift = list(value_drift(old, new))
    except ValueError as exc:
        return False, f"DIFFERS from {committed}: {exc}"
    if not drift:
        return False, f"DIFFERS from {committed}: the same values written differently (key order or format)"
    path, worst = max(drift, key=lambda d: d[1])
    if worst > 1:
        return False, f"DIFFERS from {committed}: {path} moved {worst:.3g} times the tolerance"
    if prompts is None:
        prompts = [r.prompt for r in read_table(DATA / "test.json", queries=DATA / "default_query_test.jsonl")]
    vectors = np.ascontiguousarray(get_embedder(DEFAULT_EMBEDDER).embed_many(prompts), dtype=np.float32)
    if decisions(Profile.load(committed), prompts, vectors) != decisions(Profile.load(fresh), prompts, vectors):
        return False, f"DIFFERS from {committed}: a test prompt routes differently"
    return True, (f"identical up to float rounding: {len(drift)} numbers differ in their last digits (at most "
                  f"{worst:.2f} of the tolerance, at {path}); the {len(prompts)} test prompts route the same "
                  f"at cost_bias {', '.join(map(str, COST_BIASES))}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true",
                        help="rebuild to a temporary file and compare (bytes, or last digits and decisions)")
    parser.add_argument("--strict", action="store_true", help="with --check: bytes only")
    parser.add_argument("--follow-symlinks", action="store_true",
                        help="if the profile file is a symbolic link, write to the file it points to")
    args = parser.parse_args()
    if not args.check:
        build(OUT, args.follow_symlinks)
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        fresh = Path(tmp) / "default.json"
        build(fresh)
        if args.strict:
            same = fresh.read_bytes() == OUT.read_bytes()
            verdict = "identical (byte for byte)" if same else f"DIFFERS from {OUT} (bytes)"
        else:
            same, verdict = compare(OUT, fresh)
    print(verdict, file=sys.stderr)
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
