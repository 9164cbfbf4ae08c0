"""The routing sources in data/ as labelled rows with tasks, their splits, and cached embeddings.

Shared by benchmarks/ood_detection.py and benchmarks/learned_maps.py. Three sources:

- ``llmrouter``: data/llmrouter, its own train/test split (train minus the prompts also in test);
  cost = the mean of each model's input and output price.
- ``zeroeval``: data/zeroeval as benchmarks/eval_zeroeval.py reads it (27 models, 0/1 scores);
  cost = each model's mean output characters on the training split.
- ``routellm``: data/routellm, GSM8K, the 57 MMLU subjects and MT-Bench's first turns for Mixtral
  8x7B and GPT-4 (0/1 scores; MT-Bench: judge score / 10); cost = the paper's $0.24 and $24.7 per
  1M tokens. Its contaminated prompts are kept out of every test split.

Embeddings are cached as .npy files under ``$CACTUS_ROUTER_BENCH_CACHE`` (default: a folder in
the system's temporary directory), keyed by the embedder's fingerprint and the prompts.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cactus_router.data import RoutingRow, drop_overlap, read_table
from cactus_router.embedders import Embedder
from cactus_router.training import embed_rows

sys.path.insert(0, str(Path(__file__).resolve().parent))
from eval_zeroeval import load as load_zeroeval  # noqa: E402
from eval_zeroeval import split as split_zeroeval  # noqa: E402

DATA = Path(__file__).resolve().parent.parent / "data"
NAMES = ("llmrouter", "zeroeval", "routellm")
ROUTELLM_MODELS = {"mistralai/Mixtral-8x7B-Instruct-v0.1": 0.24, "gpt-4-1106-preview": 24.7}
TRAIN_SHARE = 0.7


@dataclass(frozen=True)
class Source:
    """Every labelled row of one source (deduplicated by prompt, each with its task)."""

    name: str
    rows: list[RoutingRow]
    never_test: frozenset[str]  # prompts that may only be training rows

    @property
    def tasks(self) -> list[str]:
        return sorted({r.task or "" for r in self.rows})


def _dedup(rows: list[RoutingRow]) -> list[RoutingRow]:
    seen: set[str] = set()
    out = []
    for r in rows:
        if r.prompt not in seen:
            seen.add(r.prompt)
            out.append(r)
    return out


def _llmrouter_split() -> tuple[list[RoutingRow], list[RoutingRow]]:
    d = DATA / "llmrouter"
    test = read_table(d / "test.json", queries=d / "default_query_test.jsonl")
    return drop_overlap(read_table(d / "train.json", queries=d / "default_query_train.jsonl"), test), test


def _routellm_rows() -> tuple[list[RoutingRow], frozenset[str]]:
    d = DATA / "routellm"
    rows: list[RoutingRow] = []
    files = [("gsm8k", d / "gsm8k" / "gsm8k_responses.csv")]
    files += [(p.stem.removeprefix("mmlu_"), p) for p in sorted((d / "mmlu" / "responses").glob("mmlu_*.csv"))]
    for task, path in files:
        with open(path, newline="", encoding="utf-8") as fh:
            for i, r in enumerate(csv.DictReader(fh)):
                if all(r[m] in ("True", "False") for m in ROUTELLM_MODELS):
                    rows.append(RoutingRow(r["prompt"], {m: float(r[m] == "True") for m in ROUTELLM_MODELS}, task,
                                           f"{task}:{i}"))
    questions = {}
    for line in (d / "mt_bench" / "question.jsonl").read_text(encoding="utf-8").splitlines():
        q = json.loads(line)
        questions[q["question_id"]] = q["turns"][0]
    judged: dict[int, dict[str, float]] = {}
    for line in (d / "mt_bench" / "judgements.jsonl").read_text(encoding="utf-8").splitlines():
        j = json.loads(line)
        if j["turn"] == 1 and j["model"] in ROUTELLM_MODELS and j["score"] >= 1:
            judged.setdefault(j["question_id"], {})[j["model"]] = j["score"] / 10.0
    for qid, scores in sorted(judged.items()):
        if len(scores) == len(ROUTELLM_MODELS):
            rows.append(RoutingRow(questions[qid], scores, "mt_bench", f"mt_bench:{qid}"))
    contaminated = {json.loads(line)["eval_prompt"] for p in d.glob("*/contaminated_prompts.jsonl")
                    for line in p.read_text(encoding="utf-8").splitlines() if line.strip()}
    return rows, frozenset(contaminated)


def load(name: str) -> Source:
    """One source by name (see NAMES)."""
    if name == "llmrouter":
        train, test = _llmrouter_split()
        return Source(name, _dedup(train + test), frozenset())
    if name == "zeroeval":
        return Source(name, _dedup(load_zeroeval()[1]), frozenset())
    if name == "routellm":
        rows, contaminated = _routellm_rows()
        return Source(name, _dedup(rows), contaminated)
    raise SystemExit(f"unknown source {name!r}; choose from {', '.join(NAMES)}")


def split(source: Source, seed: int) -> tuple[list[RoutingRow], list[RoutingRow]]:
    """The source's train/test split: LLMRouter's own (any seed), else TRAIN_SHARE within each task."""
    if source.name == "llmrouter":
        return _llmrouter_split()
    if source.name == "zeroeval":
        return split_zeroeval(source.rows, seed)
    rng = np.random.default_rng(seed)
    train: list[RoutingRow] = []
    test: list[RoutingRow] = []
    for task in source.tasks:
        mine = [r for r in source.rows if r.task == task]
        order = rng.permutation(len(mine))
        cut = int(round(TRAIN_SHARE * len(mine)))
        held = [mine[i] for i in sorted(order[cut:])]
        train += [mine[i] for i in sorted(order[:cut])] + [r for r in held if r.prompt in source.never_test]
        test += [r for r in held if r.prompt not in source.never_test]
    return train, test


def model_costs(source: Source, train: list[RoutingRow]) -> dict[str, float]:
    """Each model's cost, as the module docstring says."""
    if source.name == "llmrouter":
        prices = json.loads((DATA / "llmrouter" / "default_llm.json").read_text(encoding="utf-8"))
        return {m: (prices[m]["input_price"] + prices[m]["output_price"]) / 2
                for m in sorted({m for r in train for m in r.scores})}
    if source.name == "zeroeval":
        return {m: float(np.mean([r.costs[m] for r in train if r.costs])) for m in sorted(train[0].scores)}
    return dict(ROUTELLM_MODELS)


def cache_dir() -> Path:
    """Where embeddings are cached (outside the repository)."""
    return Path(os.environ.get("CACTUS_ROUTER_BENCH_CACHE") or Path(tempfile.gettempdir()) / "cactus-router-bench")


def embed(embedder: Embedder, prompts: list[str]) -> np.ndarray:
    """Embeddings of ``prompts`` (n, D), from the cache when it has them."""
    h = hashlib.sha256(f"{embedder.name}\0{embedder.fingerprint}\0".encode())
    for p in prompts:
        h.update(p.encode("utf-8") + b"\0")
    path = cache_dir() / f"{embedder.name}-{h.hexdigest()[:20]}.npy"
    if path.is_file():
        return np.load(path)
    vecs = embed_rows(embedder, prompts)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.npy")
    np.save(tmp, vecs)
    os.replace(tmp, path)
    return vecs
