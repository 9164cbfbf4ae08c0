"""Precision and recall of the math and code content detectors on labelled prompts from data/.

    python benchmarks/detectors.py

A prompt's label is its task (benchmarks/sources.py): math tasks are GSM8K, MATH (and MATH-L5),
LLMRouter's multilingual GSM (agentverse-mgsm) and the four MMLU mathematics subjects; code tasks
are MBPP, HumanEval and CRUXEval-O. Every other task is a negative for both detectors (MT-Bench is
left out: one task for all its categories). The detectors were written against the LLMRouter
training prompts, so LLMRouter is measured on its test split only; RouteLLM and ZeroEval on every
row. Prints a markdown table, and the tasks with the most false positives; no embedding, a few
seconds.
"""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import sources  # noqa: E402

from cactus_router.tiers.detectors import detect  # noqa: E402

MATH_TASKS = frozenset({"math", "gsm8k", "agentverse-mgsm", "gsm", "math-l5", "abstract_algebra", "college_mathematics",
                        "elementary_mathematics", "high_school_mathematics"})
CODE_TASKS = frozenset({"mbpp", "human_eval", "crux"})
LABELS = {"math": MATH_TASKS, "code": CODE_TASKS}


def rows_of(name: str) -> list[tuple[str, str]]:
    """(prompt, task) of the rows measured for a source."""
    src = sources.load(name)
    rows = sources.split(src, 0)[1] if name == "llmrouter" else src.rows
    return [(r.prompt, r.task or "") for r in rows if r.task != "mt_bench"]


def measure(rows: list[tuple[str, str]], kind: str) -> tuple[dict[str, float | int | None], Counter[str]]:
    """Precision, recall and counts of one detector on the rows, and its false positives by task."""
    positive = LABELS[kind]
    tp = fp = fn = 0
    false_pos: Counter[str] = Counter()
    for prompt, task in rows:
        fired, truth = detect(kind, prompt), task in positive
        tp += fired and truth
        fn += truth and not fired
        if fired and not truth:
            fp += 1
            false_pos[task] += 1
    return ({"positives": tp + fn, "fired": tp + fp, "precision": tp / (tp + fp) if tp + fp else None,
             "recall": tp / (tp + fn) if tp + fn else None}, false_pos)


def main() -> int:
    print("| source (rows) | detector | labelled positive | fired | precision | recall | most false positives |")
    print("|---|---|---|---|---|---|---|")
    for name in ("llmrouter", "routellm", "zeroeval"):
        rows = rows_of(name)
        for kind in ("math", "code"):
            m, false_pos = measure(rows, kind)
            worst = ", ".join(f"{t} {c}" for t, c in false_pos.most_common(3)) or "none"
            p = "n/a" if m["precision"] is None else f"{m['precision']:.3f}"
            r = "n/a" if m["recall"] is None else f"{m['recall']:.3f}"
            print(f"| {name} ({len(rows)}) | {kind} | {m['positives']} | {m['fired']} | {p} | {r} | {worst} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
