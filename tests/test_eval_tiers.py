"""The tier evaluation: tier accuracy and its confusion matrix, the tier router beside the baselines,
eval's tier tables, and tier labels that do not fit the table or the profile."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from cactus_router import Profile, Router
from cactus_router.cli import cli
from cactus_router.data import RoutingRow, read_table
from cactus_router.errors import ArgumentError, RoutingTableError
from cactus_router.evaluation import evaluate
from cactus_router.evaluation.tier_run import tier_pair
from cactus_router.evaluation.tiers import (
    ALWAYS_LARGE,
    ALWAYS_MEDIUM,
    TIER_ROUTER,
    TierRows,
    confusion_matrix,
    pair_oracle,
    per_tier,
    threshold_curve,
    tier_accuracy,
    tier_figures,
)
from cactus_router.tiers import TierLabels, label_rows

S, C, A = 0, 1, 2  # tier codes in TIERS order


def test_confusion_matrix_and_accuracy_match_a_hand_count():
    """Rows are the oracle's tier, columns the router's; an unlabelled row (-1) counts nowhere."""
    truth = np.array([S, S, C, C, A, A, -1])
    predicted = np.array([S, C, C, C, A, S, A])
    m = confusion_matrix(truth, predicted)
    assert m.tolist() == [[1, 1, 0], [0, 2, 0], [1, 0, 1]]
    assert tier_accuracy(m) == pytest.approx(4 / 6)
    per = per_tier(m)
    assert per["Standard"] == {"oracle": 2, "predicted": 2, "recall": 0.5, "precision": 0.5}
    assert per["Complex"]["recall"] == 1.0 and per["Complex"]["precision"] == pytest.approx(2 / 3)
    assert tier_accuracy(confusion_matrix(np.array([-1]), np.array([S]))) is None


def test_pair_oracle_takes_the_cheaper_of_the_two_when_it_scores_as_well():
    """Medium when it scores at least the large model's score (it is cheaper), else large."""
    scores = np.array([[1, 1, 0], [0, 0, 1], [0, 0, 0], [1, 0, 1]], dtype=float)  # columns: other, medium, large
    costs = np.broadcast_to([5.0, 1.0, 10.0], scores.shape)
    assert pair_oracle(scores, costs, 1, 2).tolist() == [1, 2, 1, 2]


def test_threshold_curve_sends_to_complex_from_the_threshold_on():
    """At each threshold the rows with P(Complex) >= t take Complex's model; the last threshold sends none."""
    p = np.array([[0.7, 0.2, 0.1], [0.2, 0.5, 0.3], [0.1, 0.3, 0.6]])
    ts, choices = threshold_curve(p, {"Standard": 0, "Complex": 1, "Ambiguous": 2})
    assert ts == [0.2, 0.3, 0.5, float("inf")]
    assert [c.tolist() for c in choices] == [[1, 1, 1], [0, 1, 1], [0, 1, 2], [0, 2, 2]]


def _rows(**points):
    # 4 rows, models: medium 0 (cost 1), large 1 (cost 4)
    scores = np.array([[1, 1], [0, 1], [0, 0], [1, 1]], dtype=float)
    costs = np.broadcast_to([1.0, 4.0], scores.shape).copy()
    truth = np.array([S, C, A, S])
    predicted = np.array([S, C, A, C])
    base = {TIER_ROUTER: np.array([0, 1, 0, 1]), ALWAYS_MEDIUM: np.zeros(4, int), ALWAYS_LARGE: np.ones(4, int)}
    return TierRows(scores, costs, 0, 1, truth, predicted, points={**base, **points},
                    curves={"curve": [np.zeros(4, int), np.array([0, 1, 0, 0]), np.ones(4, int)]})


def test_tier_figures_match_a_hand_computation():
    """Quality, cost against always-large, the share sent to large, savings, the curve and the Ambiguous rows."""
    f = tier_figures(_rows(), resamples=0, seed=0)
    tr = f["routers"][TIER_ROUTER]
    # tier router: rows score 1, 1, 0, 1 -> 0.75; costs 1, 4, 1, 4 -> 2.5 of always-large's 4
    assert (tr["quality"], tr["cost_normalised"], tr["large_share"]) == (0.75, 0.625, 0.5)
    assert f["routers"][ALWAYS_LARGE]["quality"] == 0.75 and tr["savings_at_large_quality"] == pytest.approx(0.375)
    assert f["routers"][ALWAYS_MEDIUM]["savings_at_large_quality"] is None  # 0.5 < always-large's 0.75
    # the curve's middle point reaches always-large's 0.75 at cost (1 + 4 + 1 + 1) / 16
    assert f["routers"]["curve"]["best_quality"] == 0.75
    assert f["routers"]["curve"]["savings_at_large_quality"] == pytest.approx(1 - 7 / 16)
    assert f["accuracy"] == 0.75 and f["confusion"]["counts"] == [[1, 1, 0], [0, 1, 0], [0, 0, 1]]
    # one row routed to Ambiguous (row 2): the tier router gives it to medium, which scores 0
    assert (f["ambiguous_share"], f["ambiguous_score"], f["ambiguous_large_score"]) == (0.25, 0.0, 0.0)


def test_tier_figures_intervals_contain_the_figure_and_read_not_reached():
    """Each bootstrap interval brackets its figure; a saving never reached reads None at its low end."""
    f = tier_figures(_rows(), resamples=300, seed=1)
    tr = f["routers"][TIER_ROUTER]
    lo, hi = tr["quality_ci95"]
    assert lo <= tr["quality"] <= hi and lo < hi
    assert f["routers"][ALWAYS_MEDIUM]["savings_at_large_quality_ci95"][0] is None
    assert f["accuracy_ci95"][0] <= f["accuracy"] <= f["accuracy_ci95"][1]


def _table(tmp_path, name="t.jsonl", n=90):
    rng = np.random.default_rng(0)
    lines = []
    for i in range(n):
        kind = i % 3
        if kind == 0:
            prompt, med, big = f"say hello to my friend number {i}", 1, int(rng.random() < 0.9)
        elif kind == 1:
            prompt, med, big = f"integrate the function x^{i} over [0, {i}]", 0, int(rng.random() < 0.8)
        else:
            prompt, med, big = f"what will the stock price of company {i} be next year", 0, int(rng.random() < 0.1)
        lines.append({"prompt": prompt, "scores": {"med": med, "big": big}})
    path = tmp_path / name
    path.write_text("".join(json.dumps(x) + "\n" for x in lines))
    (tmp_path / "models.json").write_text('[{"id": "med", "cost": 1}, {"id": "big", "cost": 10}]')
    return path


def _trained(tmp_path):
    table = _table(tmp_path)
    res = CliRunner().invoke(cli, ["train", str(table), "--models", str(tmp_path / "models.json"), "--embedder", "hash",
                                   "--k", "3", "--temperature", "0", "--tiers-from", "med,big",
                                   "-o", str(tmp_path / "p.json")])
    assert res.exit_code == 0, res.output
    return table, tmp_path / "p.json"


def test_eval_reports_tiers_for_a_profile_with_tier_counts(tmp_path):
    """eval prints the tier tables and summary.json holds tier accuracy equal to an independent count."""
    table, prof = _trained(tmp_path)
    res = CliRunner().invoke(cli, ["eval", str(prof), str(table), "--no-charts", "--latency-sample", "0",
                                   "--bootstrap", "50", "-o", str(tmp_path / "out")])
    assert res.exit_code == 0, res.output
    assert "Tier accuracy" in res.output and "| oracle \\ tier router |" in res.output
    assert "cost saved at always-large's quality" in res.output and "Routed to Ambiguous" in res.output
    tiers = json.loads((tmp_path / "out" / "summary.json").read_text())["tiers"]
    rows = read_table(table)
    truth = [x.tier for x in label_rows(rows, "med", "big")]
    said = Router.load(Profile.load(prof), embedder="hash").route_many([r.prompt for r in rows]).tiers
    assert tiers["accuracy"] == pytest.approx(np.mean([a == b for a, b in zip(truth, said)]))
    assert sum(map(sum, tiers["confusion"]["counts"])) == tiers["labelled_rows"] == len(rows)
    assert (tiers["medium"], tiers["large"]) == ("med", "big")
    assert tiers["policy_map"] == {"Standard": ["med"], "Complex": ["big"], "Ambiguous": ["med"]}
    assert set(tiers["routers"]) >= {TIER_ROUTER, ALWAYS_MEDIUM, ALWAYS_LARGE, "cluster-rule", "oracle"}


def test_eval_with_its_own_tier_file_gives_the_same_figures(tmp_path):
    """eval --tiers with label-tiers' file of DATA measures what labelling on the fly measures."""
    table, prof = _trained(tmp_path)
    run = CliRunner().invoke
    assert run(cli, ["label-tiers", str(table), "--medium", "med", "--large", "big",
                     "-o", str(tmp_path / "tiers.jsonl")]).exit_code == 0
    args = ["eval", str(prof), str(table), "--no-charts", "--latency-sample", "0", "--bootstrap", "0", "--json"]
    a = json.loads(run(cli, [*args, "-o", str(tmp_path / "a")]).stdout)["tiers"]
    b = json.loads(run(cli, [*args, "--tiers", str(tmp_path / "tiers.jsonl"), "-o", str(tmp_path / "b")]).stdout)
    assert b["tiers"]["labels"] == "the tier label file given"
    assert {k: v for k, v in a.items() if k != "labels"} == {k: v for k, v in b["tiers"].items() if k != "labels"}


def test_a_profile_without_tier_counts_has_no_tier_section(hash_profile, hash_embedder):
    """The summary of a profile trained without tiers is as before: no 'tiers' key."""
    rows = [RoutingRow(f"prompt {i}", {m: float(i % 2) for m in hash_profile.model_ids}) for i in range(8)]
    ev = evaluate(hash_profile, rows, embedder=hash_embedder, latency_sample=0, bootstrap=0)
    assert "tiers" not in ev.summary


@pytest.mark.parametrize("make, message", [
    (lambda tp, table: _table(tp, "other.jsonl", 90), "its prompt is not row"),
    (lambda tp, table: _table(tp, "short.jsonl", 30), "30 labels for a table of 90 rows"),
])
def test_a_tier_file_not_matching_the_table_is_one_line_and_writes_nothing(tmp_path, make, message):
    """--tiers labelling another table (other prompts, or fewer rows) fails in one line before any output."""
    table, prof = _trained(tmp_path)
    other = make(tmp_path, table)
    if other.name == "other.jsonl":  # same length, other prompts
        lines = [json.loads(x) for x in other.read_text().splitlines()]
        other.write_text("".join(json.dumps({**x, "prompt": x["prompt"] + "!"}) + "\n" for x in lines))
    run = CliRunner().invoke
    assert run(cli, ["label-tiers", str(other), "--medium", "med", "--large", "big",
                     "-o", str(tmp_path / "tiers.jsonl")]).exit_code == 0
    res = run(cli, ["eval", str(prof), str(table), "--tiers", str(tmp_path / "tiers.jsonl"), "--no-charts",
                    "-o", str(tmp_path / "out")])
    assert res.exit_code != 0 and message in res.output
    assert len(res.output.strip().splitlines()) == 1 and not (tmp_path / "out").exists()


def test_tier_labels_of_another_pair_or_for_a_profile_without_counts_are_refused(tmp_path, hash_profile):
    """Labels of a pair the profile was not trained on, or for a profile without tier counts, are ArgumentErrors."""
    _, prof = _trained(tmp_path)
    tiered = Profile.load(prof)
    with pytest.raises(ArgumentError, match="the tier labels compare 'big' and 'med', but the profile's tiers"):
        tier_pair(tiered, TierLabels(("Standard",), "big", "med"))
    with pytest.raises(ArgumentError, match="the profile has no tier counts"):
        tier_pair(hash_profile, TierLabels(("Standard",), "m0", "m1"))
    rows = read_table(tmp_path / "t.jsonl")
    with pytest.raises(RoutingTableError, match="2 tier labels for 90 evaluation rows"):
        evaluate(tiered, rows, embedder="hash", latency_sample=0, bootstrap=0,
                 tier_labels=TierLabels(("Standard", "Complex"), "med", "big"))


def test_the_html_report_carries_the_tier_tables(tmp_path):
    """report.html of a profile with tier counts shows the tier accuracy, the confusion matrix and the routers."""
    from cactus_router.report import report_html

    table, prof = _trained(tmp_path)
    ev = evaluate(Profile.load(prof), read_table(table), embedder="hash", latency_sample=0, bootstrap=0)
    page = report_html(ev, {})
    acc = ev.summary["tiers"]["accuracy"]
    assert "<h2>Tiers (med / big)</h2>" in page and f"Tier accuracy {acc:.3f}" in page
    assert "<th>oracle \\ tier router</th>" in page and "<td>always-large</td>" in page
