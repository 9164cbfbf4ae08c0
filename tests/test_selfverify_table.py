"""The GSM8K self-verification table (data/gsm8k_selfverify) and the pure parts of its builder.

Generation needs llama_cpp (a tool-only package); these tests use the committed raw outputs.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

from cactus_router.cascade import extract_answer
from cactus_router.cascade.table import check_chain, read_verification_table
from cactus_router.errors import CascadeTableError

ROOT = Path(__file__).parents[1]
_spec = importlib.util.spec_from_file_location("build_selfverify_table", ROOT / "tools" / "build_selfverify_table.py")
assert _spec and _spec.loader
bst = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bst)


def _raw() -> list[dict]:
    return [json.loads(line) for line in bst.RAW.read_text(encoding="utf-8").splitlines()]


def test_gold_number_is_the_number_after_the_marks():
    assert bst.gold_number("She makes 9 * 2 = $<<9*2=18>>18 every day.\n#### 18", "r") == "18"
    assert bst.gold_number("so 1,000 + 200 = <<1000+200=1200>>1,200\n#### 1,200", "r") == "1200"
    assert bst.gold_number("#### -3", "r") == "-3"
    assert bst.gold_number("#### 2.50", "r") == "2.5"
    for bad in ("the answer is 18", "#### 18\n#### 19", "#### eighteen"):
        with pytest.raises(CascadeTableError, match="#### <number>"):
            bst.gold_number(bad, "r")


def test_gold_agrees_with_mixtral_where_routellm_marks_it_right():
    """An independent check of the gold: where RouteLLM says Mixtral is right, its final number is the gold."""
    large = bst.large_rows()
    right = [(r, bst.match_large(r["question"], large, r["id"])[1]) for r in _raw()]
    right = [(r, text) for r, text in right if bst.match_large(r["question"], large, r["id"])[0] == 1.0]
    same = sum(extract_answer(text, "number") == r["gold"] for r, text in right)
    assert right and same / len(right) >= 0.9


#: The final number of 25 of SmolLM2's committed answers, read by eye (a truncated answer: its last number).
BY_EYE = {"#1243": "18", "#1031": "270000", "#483": "2", "#958": "124", "#795": "50", "#814": "2400",
          "#1190": "78", "#757": "1", "#167": "48", "#1264": "6", "#648": "4", "#1165": "7.25", "#450": "1.5",
          "#30": "90", "#834": "10", "#504": "728", "#479": "900", "#752": "280000", "#197": "1000",
          "#1246": "62", "#1216": "240", "#460": "2", "#1241": "0", "#1051": "2", "#810": "0"}


def test_small_answers_are_scored_on_the_number_a_reader_sees():
    rows = {r.id: r for r in read_verification_table(bst.TABLE)}
    for short, number in BY_EYE.items():
        row, raw = rows[f"gsm8k-test-{short}"], next(r for r in _raw() if r["id"] == f"gsm8k-test-{short}")
        assert extract_answer(row.answers[bst.SMALL], "number") == number, short
        assert row.scores[bst.SMALL] == float(number == raw["gold"]), short


def test_questions_leave_out_contaminated_prompts_and_keep_their_index():
    test = [{"question": f"q{i}", "answer": f"#### {i}"} for i in range(4)]
    qs, excluded = bst.questions(test, ["q1", "not a question"])
    assert excluded == 1
    assert [(q["id"], q["gold"]) for q in qs] == [("gsm8k-test-#0", "0"), ("gsm8k-test-#2", "2"),
                                                   ("gsm8k-test-#3", "3")]


def test_a_larger_sample_extends_a_smaller_one():
    items = [{"id": str(i)} for i in range(50)]
    assert bst.sample(items, 10)[:4] == bst.sample(items, 4)
    assert bst.sample(items, 4) != items[:4]
    with pytest.raises(CascadeTableError, match="--n must be in"):
        bst.sample(items, 51)


def test_questions_match_routellm_whatever_their_whitespace():
    large = bst.large_rows()
    q = _raw()[0]["question"]
    assert bst.match_large("  " + q.replace(" ", "\n ", 1) + " ", large, "x") == bst.match_large(q, large, "x")
    with pytest.raises(CascadeTableError, match="not among RouteLLM's GSM8K prompts"):
        bst.match_large(q + " Answer in euros.", large, "x")


def test_cost_is_characters_times_billions_of_parameters():
    assert bst.cost(1000, 500, bst.SMALL) == pytest.approx(0.2025)
    assert bst.cost(200, 800, bst.LARGE) == pytest.approx(12.9)


def test_table_row_refuses_a_verification_its_samples_do_not_give():
    raw = dict(_raw()[0])
    raw["verification"] = 1.0 - raw["verification"] if raw["verification"] != 0.5 else 0.0
    with pytest.raises(CascadeTableError, match="the samples' verdicts give"):
        bst.table_row(raw, bst.large_rows())


def test_committed_table_loads_and_is_rebuilt_from_the_raw_outputs():
    rows = read_verification_table(bst.TABLE)
    check_chain(rows, (bst.SMALL, bst.LARGE), str(bst.TABLE))
    raw = _raw()
    assert [r.id for r in rows] == [r["id"] for r in raw]
    assert all(len(r.samples[bst.SMALL]) == bst.SAMPLES for r in rows)
    assert bst.TABLE.read_text(encoding="utf-8") == bst.build()


def test_check_fails_when_the_table_is_edited(tmp_path, monkeypatch, capsys):
    copy = tmp_path / "selfverify.jsonl"
    monkeypatch.setattr(bst, "TABLE", copy)
    monkeypatch.setattr(sys, "argv", ["build_selfverify_table.py", "--check"])
    text = bst.build()
    first, rest = text.split("\n", 1)
    row = json.loads(first)
    row["scores"][bst.SMALL] = 1.0 - row["scores"][bst.SMALL]
    edited = json.dumps(row, ensure_ascii=False) + "\n" + rest
    for content, code, said in ((text, 0, "identical"), (edited, 1, "DIFFERS")):
        copy.write_text(content, encoding="utf-8")
        with pytest.raises(SystemExit) as done:
            bst.main()
        assert done.value.code == code and said in capsys.readouterr().out


def test_summary_counts_what_the_table_holds():
    rows = read_verification_table(bst.TABLE)
    right = sum(r.scores[bst.SMALL] for r in rows)
    big = sum(r.scores[bst.LARGE] for r in rows)
    text = bst.summary()
    assert text.startswith(f"{len(rows)} questions; ")
    assert f"{bst.SMALL} right {right:.0f} " in text and f"{bst.LARGE} right {big:.0f} " in text
    assert f"with a verdict {sum(bst.verdict(s) is not None for r in rows for s in r.samples[bst.SMALL])}/" in text
    ver = {ok: [r.verification[bst.SMALL] for r in rows if r.scores[bst.SMALL] == ok] for ok in (1.0, 0.0)}
    pairs = [(a > b) + 0.5 * (a == b) for a in ver[1.0] for b in ver[0.0]]
    assert f"(AUROC, right against wrong, {sum(pairs) / len(pairs):.3f})" in text
