"""The steps of ``evaluate``, each on its own, and the layering: the report reads an evaluation, never the reverse."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from cr_factories import chat_and_math_rows
from test_evaluation import MODELS

import cactus_router.evaluation as evaluation_package
from cactus_router import ArgumentError, Router, RoutingTableError
from cactus_router.data import RoutingRow
from cactus_router.evaluation import ORACLE, RANDOM, ROUTER, SINGLES, Reference, eval_table, evaluate
from cactus_router.evaluation.baselines import KNNRouter, fit_learned
from cactus_router.evaluation.curves import RANDOM_GRID, trace_curves
from cactus_router.evaluation.decisions import decision_records
from cactus_router.evaluation.latency import measure_latency
from cactus_router.evaluation.points import operating_points
from cactus_router.evaluation.run import embed_evaluation, learned_baselines, training_split
from cactus_router.metrics import LAMBDA_GRID
from cactus_router.report import markdown_table, output_files
from cactus_router.training import train


@pytest.fixture(scope="module")
def setup():
    from cactus_router.embedders.hashing import HashEmbedder

    emb = HashEmbedder(64)
    train_rows, test_rows = chat_and_math_rows(60), chat_and_math_rows(20, offset=60)
    prof = train(train_rows, MODELS, embedder=emb, k=2, seed=0)
    router = Router(prof, emb)
    t = eval_table(test_rows, prof)
    vecs, _ = embed_evaluation(emb, test_rows, prof.dim, None)
    return prof, router, train_rows, test_rows, t, Reference.of(t), vecs


def test_operating_points_score_what_the_router_routes(setup):
    """The router's choices at a cost_bias are route_embeddings' models; random spends the router's cost."""
    prof, router, _, _, t, ref, vecs = setup
    order = np.random.default_rng(0).permutation(t.n)
    op = operating_points(router, vecs, t, ref, {}, [0.2, 0.9], order)
    assert [p["cost_bias"] for p in op.points] == [0.2, 0.9]
    for p in op.points:
        ours = np.asarray(router.route_embeddings(vecs, cost_bias=p["cost_bias"]).model_index)
        np.testing.assert_array_equal(op.choices_at[p["cost_bias"]][ROUTER], ours)
        assert p["lambda"] == prof.routing.lam(p["cost_bias"])
        routers = p["routers"]
        assert routers[RANDOM]["cost"] == pytest.approx(routers[ROUTER]["cost"], abs=9.0 / t.n)  # one prompt's swap
        assert set(routers) == {ROUTER, RANDOM, "always-cheapest", "always-most-expensive", "best-single", ORACLE}


def test_curves_span_every_lambda_and_end_at_the_extremes(setup):
    """One point per lambda for the router and the oracle, per mixing share for random, per model for singles."""
    _, router, _, _, t, ref, vecs = setup
    curves = trace_curves(router, vecs, t, ref, {}, np.random.default_rng(0).permutation(t.n))
    assert len(curves.points[ROUTER]) == len(curves.points[ORACLE]) == len(LAMBDA_GRID)
    assert [param for param, _ in curves.points[SINGLES]] == ["small", "big"]
    random = curves.points[RANDOM]
    assert len(random) == len(RANDOM_GRID)
    assert random[0][1] == curves.points[SINGLES][0][1] and random[-1][1] == curves.points[SINGLES][1][1]
    # at lambda 0 the oracle picks the best model on every row: the best quality there is
    assert curves.points[ORACLE][0][1].quality == 1.0


def test_embeddings_and_training_rows_are_checked_before_anything_is_fitted(setup):
    """Precomputed embeddings of the wrong shape, an all-overlapping or unscoring training split: one clear error."""
    prof, router, train_rows, test_rows, t, _, vecs = setup
    with pytest.raises(ArgumentError, match=r"embeddings must have shape \(20, 64\)"):
        embed_evaluation(router.embedder, test_rows, prof.dim, vecs[:5])
    with pytest.raises(RoutingTableError, match="no training rows left"):
        training_split(test_rows, test_rows, t.model_ids)
    only_small = [RoutingRow(r.prompt, {"small": 1.0}) for r in train_rows]
    with pytest.raises(RoutingTableError, match=r"no training row scores profile model\(s\) big"):
        training_split(only_small, test_rows, t.model_ids)
    kept, _ = training_split([*train_rows, *test_rows[:3]], test_rows, t.model_ids)
    assert len(kept) == len(train_rows)
    with pytest.raises(ArgumentError, match=r"train_embeddings must have shape \(60, 64\)"):
        learned_baselines(train_rows, test_rows, t, router.embedder, prof.dim, train_embeddings=vecs, knn_k=3,
                          logistic_c=1.0, seed=0)


def test_fit_learned_tunes_only_what_is_not_given(setup):
    """A given k or C is used as is (no validation areas); a missing one is tuned over its candidates."""
    _, router, train_rows, _, t, _, _ = setup
    vecs, _ = embed_evaluation(router.embedder, train_rows, router.profile.dim, None)
    scores = np.array([[r.scores[m] for m in t.model_ids] for r in train_rows])
    models, info = fit_learned(vecs, scores, t.model_costs, knn_k=3, logistic_c=None, seed=0)
    assert isinstance(models["knn"], KNNRouter) and models["knn"].k == 3
    assert info["knn"] == {"k": 3, "validation_area_by_k": {}}
    assert set(info["logistic"]["validation_area_by_C"]) == {"0.1", "1.0", "10.0"}


def test_latency_times_the_sample_and_each_learned_baseline(setup):
    """Each sampled prompt is timed through Router.route and each baseline's pick; no sample, no figures."""
    _, router, _, test_rows, t, _, vecs = setup
    prompts = [r.prompt for r in test_rows]
    knn = {"knn": KNNRouter(3).fit(vecs, t.scores)}
    latency, ms = measure_latency(router, prompts, vecs, np.arange(4), knn, t.model_costs, 0.5, None)
    assert latency["sample"] == 4 and set(ms) == {"embed", "score", "total", "score:knn"}
    assert all(len(v) == 4 for v in ms.values())
    assert latency["batch"] == {"rows": t.n, "score_ms_per_prompt": latency["batch"]["score_ms_per_prompt"],
                                "embed_ms_per_prompt": None}
    assert measure_latency(router, prompts, vecs, np.arange(0), knn, t.model_costs, 0.5, None) == ({}, {})


def test_decision_records_label_swept_points(setup):
    """With a sweep, each router's choice is kept per cost_bias; the fixed baselines appear once."""
    _, router, _, test_rows, t, ref, vecs = setup
    op = operating_points(router, vecs, t, ref, {}, [0.0, 0.5], np.arange(t.n))
    records = decision_records(test_rows, t, ref, op.choices_at, op.batches[0.5], 0.5, sweep=True)
    assert set(records[0]["choices"]) == {f"{ROUTER}@0", f"{ROUTER}@0.5", f"{RANDOM}@0", f"{RANDOM}@0.5",
                                          "always-cheapest", "always-most-expensive", "best-single", ORACLE}
    assert records[3]["cluster"] == int(op.batches[0.5].cluster[3])


def test_the_report_reads_a_summary_as_data(setup):
    """The markdown table of summary.json read back equals the table of the live summary; the files need no charts."""
    prof, router, train_rows, test_rows, _, _, _ = setup
    ev = evaluate(prof, test_rows, embedder=router.embedder, train_rows=train_rows, latency_sample=0, knn_k=3,
                  logistic_c=1.0, bootstrap=50)
    files = output_files(ev, charts=False)
    assert list(files) == ["results.json", "summary.json", "agreement_matrix.csv", "deferral_curve.csv"]
    assert markdown_table(json.loads(files["summary.json"])) == markdown_table(ev.summary)


def _imports(path: Path, package: str) -> set[str]:
    """Every module ``path`` imports, anywhere in it (lazy imports too), as absolute names."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = package.split(".")[: len(package.split(".")) - node.level + 1] if node.level else []
            mod = ".".join([*base, *([node.module] if node.module else [])])
            out |= {mod} | {f"{mod}.{a.name}" for a in node.names}
    return out


def test_nothing_in_the_evaluation_imports_the_report():
    """No evaluation module imports cactus_router.report, even lazily, and importing the evaluation loads none."""
    folder = Path(evaluation_package.__file__).parent
    for path in folder.glob("*.py"):
        bad = {m for m in _imports(path, "cactus_router.evaluation") if m.startswith("cactus_router.report")}
        assert not bad, f"{path.name} imports {bad}"
    code = ("import sys, cactus_router.evaluation; "
            "print(sorted(m for m in sys.modules if m.startswith('cactus_router.report') or m == 'matplotlib'))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
