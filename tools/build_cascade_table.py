"""Build the GSM8K cross-model consistency table (data/zeroeval_cascade/gsm_consistency.jsonl).

    python tools/build_cascade_table.py [--check]                  # from data/ (answers already extracted)
    python tools/build_cascade_table.py --zeroeval ZEROEVAL_CHECKOUT  # re-extract the answers first

The chain is gemma-2-2b-it -> Meta-Llama-3.1-8B-Instruct -> Meta-Llama-3.1-70B-Instruct. The
verification score of a chain model's answer is the share of a panel of two other small models
(Phi-3.5-mini-instruct, Qwen2-7B-Instruct) whose final answer (``cascade.extract_answer``,
numbers) equals it: a consistency signal ACROSS models, not the self-verification AutoMix
describes (no model here judges its own answer). Scores are ZeroEval's 0/1 correctness
(data/zeroeval). A call's cost is its output characters times the model's parameter count in
billions (a compute proxy: decoding cost grows with both), in units of 1,000; running the panel
costs both panel calls, once per prompt (its answers serve the 8B model's check too).
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import subprocess
import sys
from pathlib import Path

from cactus_router._files import write_atomic
from cactus_router.cascade import extract_answer
from cactus_router.cascade.table import row_from_obj, row_to_obj

ROOT = Path(__file__).resolve().parent.parent
ZE = ROOT / "data" / "zeroeval"
OUT = ROOT / "data" / "zeroeval_cascade"
ANSWERS = OUT / "gsm_answers.csv"
TABLE = OUT / "gsm_consistency.jsonl"
CHAIN = ("gemma-2-2b-it", "Meta-Llama-3.1-8B-Instruct", "Meta-Llama-3.1-70B-Instruct")
PANEL = ("Phi-3.5-mini-instruct", "Qwen2-7B-Instruct")
#: Parameters in billions, from each model's card.
PARAMS_B = {"gemma-2-2b-it": 2.61, "Meta-Llama-3.1-8B-Instruct": 8.03, "Meta-Llama-3.1-70B-Instruct": 70.6,
            "Phi-3.5-mini-instruct": 3.82, "Qwen2-7B-Instruct": 7.62}
NONE = "(no answer)"


def extract(checkout: Path) -> None:
    """Write gsm_answers.csv: each model's extracted final answer per question, from ZeroEval's raw outputs."""
    models = (*CHAIN, *PANEL)
    per_model = {}
    for m in models:
        raw = subprocess.run(["git", "-C", str(checkout), "show", f"HEAD:result_dirs/gsm/{m}.json"],
                             capture_output=True, check=True).stdout
        per_model[m] = {r["session_id"]: extract_answer(r["output"][0] if r["output"] else "", "number")
                        for r in json.loads(raw)}
    ids = list(per_model[CHAIN[0]])
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["id", *models])
    for i in ids:
        w.writerow([i, *(per_model[m].get(i) or "" for m in models)])
    write_atomic(ANSWERS, buf.getvalue())


def _wide(name: str) -> dict[str, dict[str, str]]:
    with open(ZE / name, newline="", encoding="utf-8") as fh:
        return {r["id"]: r for r in csv.DictReader(fh)}


def build() -> str:
    """The table's JSONL text, from data/zeroeval and gsm_answers.csv."""
    correct, chars = _wide("gsm_correctness_wide.csv"), _wide("gsm_output_chars_wide.csv")
    with open(ANSWERS, newline="", encoding="utf-8") as fh:
        answers = {r["id"]: r for r in csv.DictReader(fh)}
    lines = []
    for qid, a in answers.items():
        c, n = correct[qid], chars[qid]
        if any(c[m] == "" or n[m] == "" for m in (*CHAIN, *PANEL)):
            continue
        cost = {m: round(float(n[m]) * PARAMS_B[m] / 1000, 4) for m in (*CHAIN, *PANEL)}
        panel = [a[m] or NONE for m in PANEL]

        def agree(model: str, panel: list[str] = panel, a: dict[str, str] = a) -> float:
            return sum(p == a[model] for p in panel) / len(panel) if a[model] else 0.0

        obj = {"id": qid, "task": "gsm8k", "prompt": c["question"],
               "answers": {m: a[m] or NONE for m in CHAIN},
               "samples": {m: panel for m in CHAIN[:-1]},
               "verification": {m: agree(m) for m in CHAIN[:-1]},
               "scores": {m: float(c[m]) for m in CHAIN},
               "costs": {m: cost[m] for m in CHAIN},
               "verify_costs": {CHAIN[0]: round(sum(cost[m] for m in PANEL), 4), CHAIN[1]: 0.0}}
        lines.append(json.dumps(row_to_obj(row_from_obj(obj, qid)), ensure_ascii=False))
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--zeroeval", type=Path, help="a ZeroEval git checkout to re-extract the answers from")
    ap.add_argument("--check", action="store_true", help="compare with the committed table instead of writing")
    args = ap.parse_args()
    if args.zeroeval:
        extract(args.zeroeval)
    text = build()
    if args.check:
        same = TABLE.read_text(encoding="utf-8") == text
        print("identical" if same else "DIFFERS")
        sys.exit(0 if same else 1)
    write_atomic(TABLE, text)
    print(f"{TABLE.relative_to(ROOT)}: {text.count(chr(10))} rows")


if __name__ == "__main__":
    main()
