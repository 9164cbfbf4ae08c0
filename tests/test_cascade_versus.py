"""The cluster router beside a cascade: trained on the cascade's training rows, measured on its test rows."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from cactus_router.cascade.evaluate import evaluate_cascades
from cactus_router.cascade.table import row_from_obj
from cactus_router.cascade.versus import router_choices, routing_rows, train_router
from cactus_router.cli.cascade import cascade, split_rows
from cactus_router.embedders import get_embedder
from cactus_router.errors import ArgumentError
from cactus_router.profile import Profile

CHAIN = ["s", "l"]
ARITHMETIC = ["What is {a} plus {b}?", "Add {a} and {b}.", "Compute {a} + {b}.", "How much is {a} added to {b}?"]
HISTORY = ["Which king ruled France in the year 1{a}{b}?", "Who won the battle fought near the river in 1{a}{b}?",
           "What treaty was signed in Europe in 1{a}{b}?", "Which empire fell in the century after 1{a}{b}?"]


def _rows(n: int = 160, seed: int = 0) -> list:
    """Arithmetic the small model gets right, history it gets wrong; its verification score says nothing."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        maths = i % 2 == 0
        template = (ARITHMETIC if maths else HISTORY)[int(rng.integers(4))]
        prompt = template.format(a=int(rng.integers(10, 99)), b=int(rng.integers(1, 9)))
        out.append(row_from_obj({"prompt": prompt, "scores": {"s": float(maths), "l": 1.0},
                                 "costs": {"s": 1.0, "l": 10.0}, "verification": {"s": 0.5},
                                 "verify_costs": {"s": 1.0}}, f"row {i}"))
    return out


def _table(tmp_path, rows):  # type: ignore[no-untyped-def]
    p = tmp_path / "t.jsonl"
    p.write_text("".join(json.dumps({"prompt": r.prompt, "scores": dict(r.scores), "costs": dict(r.costs),
                                     "verification": dict(r.verification), "verify_costs": dict(r.verify_costs)})
                         + "\n" for r in rows))
    return p


def test_routing_rows_carry_the_chain_scores_and_answer_costs():
    """A verification row becomes a routing row over the chain models, costing each its answer (not verification)."""
    r = routing_rows(_rows(2), CHAIN)[1]
    assert dict(r.scores) == {"s": 0.0, "l": 1.0} and dict(r.costs or {}) == {"s": 1.0, "l": 10.0}


@pytest.mark.slow
def test_trained_router_reads_the_prompt_where_the_cascade_cannot():
    """With a verification signal that says nothing, the router trained on the same rows beats every cascade."""
    train, test = split_rows(_rows(), 0.7, 0)
    emb = get_embedder("minilm-l3:fp32")
    profile = train_router(train, CHAIN, embedder=emb)
    assert profile.model_ids == ("l", "s") and profile.training["rows"] == len(train)
    choices = router_choices(profile, emb, [r.prompt for r in test], CHAIN)
    assert all(set(np.unique(c)) <= {0, 1} for c in choices)
    s = evaluate_cascades(train, test, CHAIN, methods=("pomdp", "threshold"), router_choices=choices,
                          bootstrap=200)
    router, oracle = s["curves"]["router"], s["curves"]["oracle"]
    assert router["area"] > oracle["area"] - 0.03  # it sends the history questions up, the sums down
    for name in ("cascade:pomdp", "cascade:threshold"):
        diff = s["curves"][name]["minus_router"]
        assert diff["area"] < 0 and diff["ci"][1] < 0 and diff["share_ahead"] < 0.05


def test_router_missing_a_chain_model_is_one_line():
    """A profile without one of the chain models is refused, naming it, before anything is routed."""
    profile = Profile.load("default")
    with pytest.raises(ArgumentError, match="no model 's', 'l' of the chain"):
        router_choices(profile, get_embedder("hash"), ["q"], CHAIN)


@pytest.mark.slow
def test_cli_eval_train_router(tmp_path):
    """`cascade eval --train-router` prints the router's curve, the differences to it and where it came from."""
    table = _table(tmp_path, _rows())
    out = CliRunner().invoke(cascade, ["eval", str(table), "--chain", "s,l", "--train-router", "--bootstrap", "50",
                                       "--json"])
    assert out.exit_code == 0, out.output
    s = json.loads(out.output)
    assert s["router"].startswith("cluster router trained on the 112 training rows (embedder paraphrase-minilm-l3-v2")
    assert "minus_router" in s["curves"]["cascade:pomdp"] and "router" in s["curves"]
    train, _ = split_rows(_rows(), 0.7, 0)  # the same router, saved, then given with --profile: the same curve
    train_router(train, CHAIN, embedder="minilm-l3:fp32").save(tmp_path / "p.json")
    given = CliRunner().invoke(cascade, ["eval", str(table), "--chain", "s,l", "--profile", str(tmp_path / "p.json"),
                                         "--bootstrap", "50", "--json"])
    assert given.exit_code == 0, given.output
    g = json.loads(given.output)
    assert g["router"] == f"profile {tmp_path / 'p.json'}" and g["curves"]["router"] == s["curves"]["router"]


def test_cli_eval_router_options_are_exclusive(tmp_path):
    """--profile and --train-router together are a usage error; a profile missing a chain model is one line."""
    table = _table(tmp_path, _rows(20))
    runner = CliRunner()
    both = runner.invoke(cascade, ["eval", str(table), "--train-router", "--profile", str(table)])
    assert both.exit_code == 2 and "not both" in both.output
    bad = runner.invoke(cascade, ["eval", str(table), "--chain", "s,l", "--bootstrap", "0", "--embedder", "hash",
                                  "--profile", _default_path()])
    assert bad.exit_code == 1 and "no model 's', 'l' of the chain" in bad.output and "Traceback" not in bad.output


def _default_path() -> str:
    from importlib.resources import files

    return str(files("cactus_router") / "profiles" / "default.json")
