"""The evaluation suite: each metric by hand on tiny tables, the baselines, the output files, the eval command."""

from __future__ import annotations

import csv
import json
import sys

import numpy as np
import pytest
from click.testing import CliRunner
from cr_factories import chat_and_math_rows, make_profile

from cactus_router import RouterError, RoutingTableError
from cactus_router.data import RoutingRow, write_table
from cactus_router.evaluation import (
    Reference,
    agreement_matrix,
    curve_metrics,
    eval_table,
    evaluate,
    oracle_choices,
    point_metrics,
    random_matched,
)
from cactus_router.evaluation.baselines import KNNRouter, LogisticRouter, normalised_costs, pick, tune
from cactus_router.metrics import CurvePoint, choices_curve, resample_counts, resampled_figures
from cactus_router.report import markdown_table, write_outputs
from cactus_router.training import train

# Four prompts, three models costing 1, 2 and 4; 0/1 scores.
SCORES = [[1, 1, 1], [0, 1, 1], [0, 0, 1], [0, 0, 0]]


def _tiny(sizes=None, costs=(1.0, 2.0, 4.0)):
    prof = make_profile(k=2, d=8, m=3, costs=list(costs), sizes=sizes)
    rows = [RoutingRow(f"prompt {i}", {f"m{j}": float(s) for j, s in enumerate(r)}, task="a" if i < 2 else "b")
            for i, r in enumerate(SCORES)]
    return prof, rows


def test_oracle_is_the_cheapest_model_reaching_the_best_score():
    """Ties at the best score go to the cheaper model; a row nobody solves goes to the cheapest."""
    prof, rows = _tiny()
    t = eval_table(rows, prof)
    np.testing.assert_array_equal(oracle_choices(t.scores, t.costs), [0, 1, 2, 0])
    scores = np.array([[0.5, 0.5], [0.2, 0.9]])
    costs = np.array([[3.0, 1.0], [1.0, 2.0]])
    np.testing.assert_array_equal(oracle_choices(scores, costs), [1, 1])


def test_point_metrics_by_hand():
    """Quality, accuracy, cost, savings, size and oracle agreement of a fixed choice vector."""
    prof, rows = _tiny(sizes=[100.0, 300.0, 200.0])
    t = eval_table(rows, prof)
    ref = Reference.of(t)
    assert (ref.cheapest, ref.priciest, ref.largest, ref.best_single) == (0, 2, 1, 2)
    m = point_metrics(np.array([0, 0, 2, 1]), t, ref)
    assert m["quality"] == pytest.approx(0.5) and m["accuracy"] == pytest.approx(0.5)
    assert m["cost"] == pytest.approx(2.0) and m["cost_normalised"] == pytest.approx(0.5)
    assert m["size_mb"] == pytest.approx(175.0)
    assert m["savings_vs_best_single"] == pytest.approx(0.5)  # best single is m2 (mean cost 4)
    assert m["savings_vs_largest"] == pytest.approx(0.0)  # largest by size is m1 (mean cost 2)
    assert m["oracle_agreement"] == pytest.approx(0.5)
    assert m["choice_counts"] == {"m0": 2, "m1": 1, "m2": 1}


def test_fractional_scores_have_no_accuracy():
    """Accuracy is reported only when every score is 0 or 1."""
    prof, rows = _tiny()
    rows[0] = RoutingRow("prompt 0", {"m0": 0.5, "m1": 1.0, "m2": 1.0})
    t = eval_table(rows, prof)
    assert not t.binary
    assert point_metrics(np.zeros(4, dtype=int), t, Reference.of(t))["accuracy"] is None


def test_agreement_matrix_counts_chosen_against_oracle():
    """Rows are the chosen model, columns the oracle's; the total is the number of prompts."""
    mat = agreement_matrix(np.array([0, 0, 2, 1]), np.array([0, 1, 2, 0]), 3)
    np.testing.assert_array_equal(mat, [[1, 1, 0], [1, 0, 0], [0, 0, 1]])


def test_curve_metrics_by_hand():
    """Area (flat beyond the ends, linear between points), QNC and best quality of a two-point curve."""
    pts = [CurvePoint(0.25, 0.5), CurvePoint(1.0, 0.75), CurvePoint(0.6, 0.4)]  # the last is dominated
    m = curve_metrics(pts, target=0.625)
    assert m["area"] == pytest.approx(0.25 * 0.5 + 0.75 * (0.5 + 0.75) / 2)
    assert m["qnc"] == pytest.approx(0.625)  # halfway between the two frontier points
    assert m["best_quality"] == 0.75
    assert curve_metrics(pts, target=0.8)["qnc"] is None


def test_resampled_figures_equal_the_figures_of_the_resampled_rows():
    """Each bootstrap resample's area, QNC and best quality equal those of the rows it draws, measured directly."""
    rng = np.random.default_rng(3)
    scores = rng.integers(0, 2, size=(30, 3)).astype(float)
    costs = np.broadcast_to([1.0, 2.0, 5.0], scores.shape)
    choices = [rng.integers(0, 3, size=30) for _ in range(6)]
    counts = np.concatenate(list(resample_counts(30, 25, seed=1)))
    assert counts.shape == (25, 30) and (counts.sum(axis=1) == 30).all()
    figs = resampled_figures(choices, scores, costs, 2, counts)
    for b in range(25):
        rows = np.repeat(np.arange(30), counts[b])
        direct = curve_metrics(choices_curve([c[rows] for c in choices], scores[rows], costs[rows]),
                               target=float(scores[rows, 2].mean()))
        assert figs["area"][b] == pytest.approx(direct["area"])
        assert figs["best_quality"][b] == pytest.approx(direct["best_quality"])
        if direct["qnc"] is None:
            assert np.isnan(figs["qnc"][b])
        else:
            assert figs["qnc"][b] == pytest.approx(direct["qnc"])


def test_resample_chunks_do_not_change_the_resamples(monkeypatch):
    """Drawing the counts in small chunks (as a large table does) gives the same resamples, in order."""
    import cactus_router.metrics as metrics

    whole = np.concatenate(list(resample_counts(40, 30, seed=5)))
    monkeypatch.setattr(metrics, "RESAMPLE_CHUNK_CELLS", 7 * 40)
    chunks = list(resample_counts(40, 30, seed=5))
    assert [len(c) for c in chunks] == [7, 7, 7, 7, 2]
    np.testing.assert_array_equal(np.concatenate(chunks), whole)


def test_random_baseline_matches_the_cost():
    """Half the rows go to the most expensive model when the target cost is halfway between the extremes."""
    prof, rows = _tiny()
    t = eval_table(rows, prof)
    ref = Reference.of(t)
    c = random_matched(t, ref, target_cost=2.5, order=np.random.default_rng(0).permutation(4))
    assert sorted(c.tolist()) == [0, 0, 2, 2]
    assert t.costs[np.arange(4), c].mean() == pytest.approx(2.5)


def test_per_prompt_costs_replace_the_profile_costs():
    """When every row gives costs, the cost figures use them; when only some do, it is an error."""
    prof, rows = _tiny()
    with_costs = [RoutingRow(r.prompt, r.scores, costs={"m0": 10.0, "m1": 20.0, "m2": 30.0}) for r in rows]
    t = eval_table(with_costs, prof)
    assert t.cost_source == "rows" and t.costs[0].tolist() == [10.0, 20.0, 30.0]
    with pytest.raises(RoutingTableError, match="row 2.*per-prompt costs"):
        eval_table([with_costs[0], rows[1]], prof)


def test_missing_score_names_file_and_line(tmp_path):
    """A row that does not score a profile model is reported with its file and line."""
    prof, rows = _tiny()
    rows[2] = RoutingRow("prompt 2", {"m0": 1.0, "m1": 0.0})
    path = tmp_path / "data.jsonl"
    write_table(rows, path)
    text = path.read_text().split("\n")
    path.write_text("\n".join(text[:1] + [""] + text[1:]))  # a blank line shifts line numbers
    with pytest.raises(RoutingTableError, match=r"data\.jsonl:4: no score for profile model\(s\) m2"):
        eval_table(rows, prof, source=path)


def test_pick_breaks_ties_toward_the_cheaper_model():
    """Equal predicted quality goes to the cheaper model; lambda trades quality for cost."""
    q = np.array([[0.5, 0.5, 0.5], [0.2, 0.6, 0.9]])
    costs = np.array([4.0, 1.0, 2.0])
    np.testing.assert_array_equal(pick(q, costs, 0.0), [1, 2])
    np.testing.assert_allclose(normalised_costs(costs), [1.0, 0.0, 1 / 3])
    np.testing.assert_array_equal(pick(q, costs, 10.0), [1, 1])


def test_knn_predicts_the_mean_score_of_the_nearest_prompts():
    """With k = 2 the prediction is the mean over the two most similar training prompts, skipping NaN."""
    emb = np.array([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0]])
    scores = np.array([[1.0, 0.0], [0.0, np.nan], [1.0, 1.0]])
    pred = KNNRouter(k=2).fit(emb, scores).predict(np.array([[1.0, 0.05]]))
    np.testing.assert_allclose(pred, [[0.5, 0.0]])


def test_logistic_learns_which_side_each_model_wins():
    """Per-model logistic regression on soft labels ranks the model that wins a region higher there."""
    rng = np.random.default_rng(0)
    left = rng.normal([-1, 0], 0.1, size=(40, 2))
    right = rng.normal([1, 0], 0.1, size=(40, 2))
    emb = np.vstack([left, right]) + [0, 3]  # keep every vector well away from the origin
    scores = np.vstack([np.tile([1.0, 0.2], (40, 1)), np.tile([0.0, 0.8], (40, 1))])
    pred = LogisticRouter(c=10.0).fit(emb, scores).predict(np.array([[-1.0, 3.0], [1.0, 3.0]]))
    assert pred[0, 0] > pred[0, 1] and pred[1, 1] > pred[1, 0]


def test_tune_picks_the_candidate_with_the_best_validation_area():
    """A kNN with k = 1 beats k = 60 on clear-cut, label-noise-free data, and tune picks it."""
    rng = np.random.default_rng(1)
    emb = rng.normal(size=(80, 4))
    scores = np.stack([(emb[:, 0] > 0).astype(float), np.ones(80)], axis=1)
    best, areas = tune(lambda v: KNNRouter(int(v)), (60, 1), emb, scores, np.array([1.0, 10.0]))
    assert best == 1 and areas[1] > areas[60]


# --- end to end, with the hash embedder -------------------------------------------------------

MODELS = [{"id": "small", "cost": 1.0, "size_mb": 100.0}, {"id": "big", "cost": 10.0, "size_mb": 900.0}]


@pytest.fixture(scope="module")
def trained():
    from cactus_router.embedders.hashing import HashEmbedder

    emb = HashEmbedder(64)
    train_rows = chat_and_math_rows(60)
    # Test prompts like the training ones (two-digit numbers), so all are in distribution: this
    # test is about the learned rule; the out-of-distribution policy has tests of its own.
    return train(train_rows, MODELS, embedder=emb, k=2, seed=0), train_rows, chat_and_math_rows(20, offset=60), emb


def test_evaluate_end_to_end(trained):
    """Every router is measured on the same rows; the clear-cut table is routed perfectly by the learned ones."""
    prof, train_rows, test_rows, emb = trained
    ev = evaluate(prof, test_rows, embedder=emb, train_rows=train_rows, cost_bias=0.3, latency_sample=5,
                  knn_k=3, logistic_c=1.0)
    point = ev.summary["operating_points"][0]
    assert point["cost_bias"] == 0.3
    routers = point["routers"]
    assert set(routers) == {"cactus-router", "knn", "logistic", "random", "always-cheapest", "always-most-expensive",
                            "best-single", "oracle"}
    assert routers["oracle"]["quality"] == 1.0 and routers["oracle"]["cost"] == pytest.approx(5.5)
    assert routers["always-cheapest"]["quality"] == 0.5 and routers["best-single"]["quality"] == 1.0
    for name in ("cactus-router", "knn"):
        assert routers[name]["oracle_agreement"] == 1.0
    # the summary agrees with the per-decision file
    ours = [d["choices"]["cactus-router"]["score"] for d in ev.decisions]
    assert np.mean(ours) == pytest.approx(routers["cactus-router"]["quality"])
    # single models at (0.1, 0.5) and (1.0, 1.0): flat to 0.1, then linear
    assert ev.summary["curves"]["single-models"]["area"] == pytest.approx(0.1 * 0.5 + 0.9 * (0.5 + 1.0) / 2)
    assert set(ev.summary["tasks"]) == {"chat", "math"}
    assert ev.summary["latency"]["sample"] == 5
    assert ev.summary["learned_baselines"]["training_rows"] == 60


def test_bootstrap_intervals_and_paired_differences(trained):
    """Every curve gets 95% intervals; the paired differences are the router's figure minus each baseline's."""
    prof, train_rows, test_rows, emb = trained
    kw = dict(embedder=emb, train_rows=train_rows, latency_sample=0, knn_k=3, logistic_c=1.0, bootstrap=200)
    ev = evaluate(prof, test_rows, **kw)
    curves, boot = ev.summary["curves"], ev.summary["bootstrap"]
    assert boot["resamples"] == 200 and set(boot["paired"]) == {"knn", "logistic", "random", "single-models"}
    for name, c in curves.items():
        lo, hi = c["ci95"]["area"]
        assert lo <= hi, name
    for name, paired in boot["paired"].items():
        for k in ("area", "best_quality"):
            assert paired[k]["difference"] == pytest.approx(curves["cactus-router"][k] - curves[name][k]), (name, k)
    # the router splits this clear-cut table by task, which no single model can: ahead on every resample
    single = boot["paired"]["single-models"]["area"]
    assert single["ci95"][0] > 0 and single["share_router_better"] == 1.0
    assert evaluate(prof, test_rows, **kw).summary["bootstrap"] == boot  # seeded
    table = markdown_table(ev.summary)
    assert "area [95% CI]" in table and "| single-models | +" in table
    none = evaluate(prof, test_rows, **{**kw, "bootstrap": 0}).summary
    assert none["bootstrap"] is None and "ci95" not in none["curves"]["cactus-router"]
    assert "95% CI" not in markdown_table(none)


def test_without_training_rows_the_learned_baselines_are_skipped_and_said_so(trained):
    """No training split: no kNN or logistic router, and a note says why."""
    prof, _, test_rows, emb = trained
    ev = evaluate(prof, test_rows, embedder=emb, latency_sample=0, sweep=True)
    assert "knn" not in ev.summary["curves"] and ev.summary["learned_baselines"] is None
    assert any("not run" in n for n in ev.summary["notes"])
    assert [p["cost_bias"] for p in ev.summary["operating_points"]] == [0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8,
                                                                         0.9, 1.0]
    assert "cactus-router@0.3" in ev.decisions[0]["choices"]


def test_outputs_and_charts(trained, tmp_path):
    """The files are written and consistent; every chart is a non-empty PNG; the report embeds them."""
    pytest.importorskip("matplotlib", reason="charts need the eval extra (matplotlib)")
    prof, train_rows, test_rows, emb = trained
    ev = evaluate(prof, test_rows, embedder=emb, train_rows=train_rows, latency_sample=5, knn_k=3, logistic_c=1.0)
    write_outputs(ev, tmp_path, report=True)
    with open(tmp_path / "agreement_matrix.csv") as fh:
        matrix = list(csv.reader(fh))
    assert matrix[0] == ["chosen \\ oracle", "small", "big"]
    assert sum(int(x) for row in matrix[1:] for x in row[1:]) == len(test_rows)
    with open(tmp_path / "deferral_curve.csv") as fh:
        curve = list(csv.DictReader(fh))
    assert {r["router"] for r in curve} >= {"cactus-router", "knn", "logistic", "oracle", "random", "single-models"}
    assert len(json.loads((tmp_path / "results.json").read_text())["decisions"]) == len(test_rows)
    assert json.loads((tmp_path / "summary.json").read_text())["rows"] == len(test_rows)
    for name in ("deferral_curves", "model_choices", "latency", "task_quality"):
        data = (tmp_path / f"{name}.png").read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000, name
    page = (tmp_path / "report.html").read_text()
    assert page.count("data:image/png;base64,") == 4 and "http" not in page.replace("<!doctype html>", "")
    assert "cactus-router" in markdown_table(ev.summary)


def test_charts_without_matplotlib_say_how_to_install_it(trained, tmp_path, monkeypatch):
    """Asking for charts without matplotlib is a one-line RouterError naming the extra."""
    prof, _, test_rows, emb = trained
    ev = evaluate(prof, test_rows, embedder=emb, latency_sample=0)
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    with pytest.raises(RouterError, match=r"cactus-router\[eval\]"):
        write_outputs(ev, tmp_path)
    write_outputs(ev, tmp_path, charts=False)
    assert (tmp_path / "summary.json").exists()


def _group():
    from cactus_router.cli import cli

    return cli


def test_eval_command(trained, tmp_path):
    """cactus-router eval prints the comparison table and writes the files; --sweep with --cost-bias is refused."""
    prof, train_rows, test_rows, _ = trained
    prof.save(tmp_path / "p.json")
    write_table(test_rows, tmp_path / "test.jsonl")
    write_table(train_rows, tmp_path / "train.jsonl")
    args = ["eval", str(tmp_path / "p.json"), str(tmp_path / "test.jsonl"), "--out", str(tmp_path / "out"),
            "--latency-sample", "3", "--no-charts"]
    res = CliRunner().invoke(_group(), [*args, "--train", str(tmp_path / "train.jsonl")])
    assert res.exit_code == 0, res.output
    assert "| knn |" in res.output and (tmp_path / "out" / "deferral_curve.csv").exists()
    res = CliRunner().invoke(_group(), [*args, "--sweep", "--cost-bias", "0.2"])
    assert res.exit_code == 2 and "not both" in res.output
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"prompt": "x", "scores": {"small": 1}}\n')
    res = CliRunner().invoke(_group(), ["eval", str(tmp_path / "p.json"), str(bad), "--no-charts"])
    assert res.exit_code == 1 and "bad.jsonl:1: no score for profile model(s) big" in res.output


def test_main_cli_has_the_evaluation_commands():
    """The console script offers eval, calibrate and add-model."""
    from cactus_router.cli import cli

    assert {"eval", "calibrate", "add-model"} <= set(cli.commands)
