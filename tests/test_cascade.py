"""Verification tables, deciders, the cascade file, CascadeRouter and the cascade CLI."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from cactus_router.cascade.deciders import ChainArrays, POMDPDecider, SelfConsistencyDecider, ThresholdDecider
from cactus_router.cascade.evaluate import evaluate_cascades, ibc_lift, oracle_choice
from cactus_router.cascade.model import Cascade, train_cascade
from cactus_router.cascade.router import CascadeRouter
from cactus_router.cascade.signals import Score
from cactus_router.cascade.table import read_verification_table, row_from_obj
from cactus_router.cli.cascade import cascade
from cactus_router.errors import CascadeTableError, GenerationError
from cactus_router.generation import CallableGenerator
from cactus_router.metrics import CurvePoint

REAL = Path(__file__).parents[1] / "data" / "zeroeval_cascade" / "gsm_consistency.jsonl"
CHAIN = ("s", "l")


def _rows(n: int = 200, seed: int = 0) -> list:
    """Rows where the small model is right exactly when its verification score is high."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        ok = bool(rng.random() < 0.5)
        v = round(float(rng.uniform(0.6, 1.0) if ok else rng.uniform(0.0, 0.4)), 2)  # a share of samples
        out.append(row_from_obj({"prompt": f"q{i}", "scores": {"s": float(ok), "l": 1.0},
                                 "costs": {"s": 1.0, "l": 10.0}, "verification": {"s": v},
                                 "verify_costs": {"s": 1.0}}, f"row {i}"))
    return out


@pytest.mark.parametrize(("obj", "match"), [
    ({"scores": {}, "costs": {}, "verification": {}}, "missing field 'prompt'"),
    ({"prompt": "p", "scores": {"a": 1.5}, "costs": {}, "verification": {}}, "'scores', model 'a': 1.5 is outside"),
    ({"prompt": "p", "scores": {}, "costs": {"a": -1}, "verification": {}}, "'costs', model 'a': -1 is negative"),
    ({"prompt": "p", "scores": {}, "costs": {}, "verification": {"a": 1.2}},
     "'verification', model 'a': 1.2 is outside"),
    ({"prompt": "p", "scores": {"a": "1"}, "costs": {}, "verification": {}},
     "'scores', model 'a': '1' is not a finite"),
    ({"prompt": "p", "scores": {}, "verification": {}}, "missing field 'costs'"),
    ({"prompt": "p", "scores": {}, "costs": {}, "verification": {}, "extra": 1}, "unknown field"),
    ({"prompt": "p", "scores": {}, "costs": {}, "verification": {}, "samples": {"a": []}}, "'samples'"),
])
def test_bad_rows_are_one_line(obj, match):
    """A bad row is one CascadeTableError naming the row and the field."""
    with pytest.raises(CascadeTableError, match=match):
        row_from_obj(obj, "t.jsonl:3")


def test_chain_gaps_are_named(tmp_path):
    """A chain model missing from a row is named with the row and the field; bad JSON names the line."""
    rows = _rows(3)
    with pytest.raises(CascadeTableError, match="row 1: field 'scores' has no model 'x'"):
        ChainArrays.from_rows(rows, ("s", "x"))
    p = tmp_path / "t.jsonl"
    p.write_text('{"prompt": "p"\n')
    with pytest.raises(CascadeTableError, match="t.jsonl:1: not valid JSON"):
        read_verification_table(p)
    good = json.dumps({"prompt": "p", "scores": {"s": 1}, "costs": {"s": 1}, "verification": {"s": 1}})
    p.write_text(good + "\n" + good.replace('"scores": {"s": 1}', '"scores": {"s": -0.5}') + "\n")
    with pytest.raises(CascadeTableError, match=r"t.jsonl:2: field 'scores', model 's': -0.5 is outside \[0, 1\]$"):
        read_verification_table(p)


def test_honest_cost():
    """Stopping at the small model costs its answer and its verification; escalating adds the large answer."""
    arr = ChainArrays.from_rows(_rows(4), CHAIN)
    q, c = arr.outcome(np.array([0, 1, 0, 1]))
    np.testing.assert_array_equal(c, [2.0, 12.0, 2.0, 12.0])
    assert arr.top == 10.0


@pytest.mark.parametrize("make", [lambda a: ThresholdDecider.fit(a), lambda a: POMDPDecider.fit(a, bins=4),
                                  lambda a: POMDPDecider.fit(a, bins=4, greedy=True)])
def test_deciders_learn_the_signal(make):
    """On rows where verification separates right from wrong, a moderate cost weight escalates just the wrong ones."""
    arr = ChainArrays.from_rows(_rows(), CHAIN)
    d = make(arr)
    stops = d.stops(arr.verification, 0.5)
    np.testing.assert_array_equal(stops == 0, arr.scores[:, 0] == 1.0)
    assert d.escalate(0, [0.1], 0.5) and not d.escalate(0, [0.9], 0.5)
    assert (d.stops(arr.verification, 100.0) == 0).all()  # too expensive to ever escalate


def test_pomdp_three_model_chain_exact_vs_greedy():
    """With a costly unhelpful middle model, the exact policy skips past it where the greedy one stops there."""
    rng = np.random.default_rng(1)
    rows = []
    for i in range(300):
        ok = bool(rng.random() < 0.5)
        rows.append(row_from_obj({"prompt": f"q{i}", "scores": {"s": float(ok), "m": 0.0, "l": 1.0},
                                  "costs": {"s": 1.0, "m": 1.0, "l": 10.0},
                                  "verification": {"s": 0.9 if ok else 0.1, "m": 0.5},
                                  "verify_costs": {"s": 0.0, "m": 0.0}}, f"{i}"))
    arr = ChainArrays.from_rows(rows, ("s", "m", "l"))
    exact = POMDPDecider.fit(arr, bins=4)
    greedy = POMDPDecider.fit(arr, bins=4, greedy=True)
    assert exact.escalate(0, [0.1], 0.5) and exact.escalate(1, [0.1, 0.5], 0.5)
    assert not greedy.escalate(0, [0.1], 0.5)  # one step ahead it sees only the useless middle model


def test_self_consistency_is_the_majority_rule():
    """Escalate while fewer than half the samples agree."""
    d = SelfConsistencyDecider()
    np.testing.assert_array_equal(d.stops(np.array([[0.0], [0.5], [1.0]]), 3.0), [1, 0, 0])


@pytest.mark.parametrize("method", ["pomdp", "pomdp-greedy", "threshold", "self-consistency"])
def test_cascade_file_round_trip(method, tmp_path):
    """A trained cascade saves to JSON and loads to the same decisions."""
    c = train_cascade(_rows(), CHAIN, method=method, cost_weight=0.5)
    c.save(tmp_path / "c.json")
    back = Cascade.load(tmp_path / "c.json")
    v = np.linspace(0, 1, 11)[:, None]
    np.testing.assert_array_equal(back.decider.stops(v, 0.5), c.decider.stops(v, 0.5))
    assert back.chain == CHAIN and back.cost_weight == 0.5
    with pytest.raises(CascadeTableError, match="not a cactus-router cascade"):
        Cascade.from_dict({"format": "x"})


def _router(cascade_obj: Cascade, small_reply: str = "4", **kw: object) -> CascadeRouter:
    gens = {"s": CallableGenerator(lambda m, p: small_reply, model="s"),
            "l": CallableGenerator(lambda m, p: "large says 4", model="l")}

    def signal(q: str, a: str, g: object) -> Score:
        return Score(0.9 if a == "4" else 0.1)

    return CascadeRouter(cascade_obj, gens, signal=signal, **kw)  # type: ignore[arg-type]


def test_cascade_router_keeps_or_escalates():
    """A verified answer is kept (one step); a doubtful one escalates; every step is recorded with its cost."""
    c = train_cascade(_rows(), CHAIN, method="threshold", cost_weight=1.0)
    kept = _router(c).run("What is 2 + 2?")
    assert kept.model == "s" and kept.answer == "4" and kept.stopped == "verified" and len(kept.steps) == 1
    up = _router(c, small_reply="5").run("What is 2 + 2?")
    assert [s.model for s in up.steps] == ["s", "l"] and up.answer == "large says 4" and up.stopped == "last model"
    assert up.steps[0].score == 0.1 and up.steps[1].score is None and up.cost == 2.0
    assert json.loads(json.dumps(up.to_dict()))["steps"][0]["model"] == "s"
    assert asyncio.run(_router(c).arun("q")).model == "s"


def test_cascade_router_step_failure_by_configuration():
    """A failing step raises by default; with on_error='keep' the last good answer is returned, and it says so."""
    c = train_cascade(_rows(), CHAIN, method="threshold")

    def down(messages, params):  # type: ignore[no-untyped-def]
        raise ConnectionError("refused")

    gens = {"s": CallableGenerator(lambda m, p: "5", model="s"), "l": CallableGenerator(down, model="l")}
    low = lambda q, a, g: Score(0.0)  # noqa: E731
    with pytest.raises(GenerationError, match="model 'l'"):
        CascadeRouter(c, gens, signal=low).run("q")
    kept = CascadeRouter(c, gens, signal=low, on_error="keep").run("q")
    assert kept.answer == "5" and kept.model == "s" and kept.stopped.startswith("error at l")
    assert "refused" in (kept.steps[-1].error or "")


def test_ibc_lift_and_oracle():
    """IBC lift is 0 on the small-to-large line and positive above it; the oracle picks the cheapest right model."""
    first, last = CurvePoint(0.1, 0.5), CurvePoint(1.0, 0.9)
    assert ibc_lift([CurvePoint(0.55, 0.7)], first, last) == pytest.approx(0.0)
    assert ibc_lift([CurvePoint(0.55, 0.8)], first, last) > 0
    arr = ChainArrays.from_rows(_rows(10), CHAIN)
    np.testing.assert_array_equal(oracle_choice(arr), (arr.scores[:, 0] < 1).astype(int))


@pytest.mark.skipif(not REAL.exists(), reason="the real table is built by tools/build_cascade_table.py")
def test_real_table_cascade_beats_the_single_models():
    """On the real GSM8K consistency table the fitted POMDP's area is above the single models' hull."""
    rows = read_verification_table(REAL)
    chain = ("gemma-2-2b-it", "Meta-Llama-3.1-70B-Instruct")
    s = evaluate_cascades(rows[::2], rows[1::2], chain, methods=("pomdp",), bootstrap=0)
    assert s["curves"]["cascade:pomdp"]["area"] > s["curves"]["single models"]["area"]


def test_cli_train_and_eval(tmp_path):
    """`cascade train` writes a loadable cascade; `cascade eval` prints the table; bad input is one line."""
    table = tmp_path / "t.jsonl"
    table.write_text("".join(json.dumps({"prompt": r.prompt, "scores": dict(r.scores), "costs": dict(r.costs),
                                         "verification": dict(r.verification),
                                         "verify_costs": dict(r.verify_costs)}) + "\n" for r in _rows()))
    runner = CliRunner()
    out = runner.invoke(cascade, ["train", str(table), "-o", str(tmp_path / "c.json"), "--method", "pomdp"])
    assert out.exit_code == 0, out.output
    assert Cascade.load(tmp_path / "c.json").chain == CHAIN
    ev = runner.invoke(cascade, ["eval", str(table), "--bootstrap", "20"])
    assert ev.exit_code == 0 and "cascade:pomdp" in ev.output and "oracle" in ev.output
    bad = runner.invoke(cascade, ["train", str(table), "-o", str(tmp_path / "x.json"), "--chain", "s,nope"])
    assert bad.exit_code == 1 and "has no model 'nope'" in bad.output
