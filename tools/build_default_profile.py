"""Build the bundled default profile from the LLMRouter data in data/llmrouter.

    python tools/build_default_profile.py            # writes cactus_router/profiles/default.json
    python tools/build_default_profile.py --check    # rebuilds and compares byte-for-byte

Models: the 9 scored LLMRouter models; cost = the mean of the input and output price (USD per 1M
tokens, from default_llm.json): the files hold no per-prompt token counts, and with the same
prompt sent to every model, the price ratio is what the cost term compares.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

from cactus_router.data import drop_overlap, read_table
from cactus_router.embedders import DEFAULT_EMBEDDER
from cactus_router.training import train

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "data" / "llmrouter"
OUT = ROOT / "cactus_router" / "profiles" / "default.json"
SEED = 0


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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="rebuild to a temporary file and compare bytes")
    parser.add_argument("--follow-symlinks", action="store_true",
                        help="if the profile file is a symbolic link, write to the file it points to")
    args = parser.parse_args()
    if not args.check:
        build(OUT, args.follow_symlinks)
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        fresh = Path(tmp) / "default.json"
        build(fresh)
        same = fresh.read_bytes() == OUT.read_bytes()
    print("identical" if same else f"DIFFERS from {OUT}", file=sys.stderr)
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
