"""Calibration (the cost_bias that meets a budget) and add-model (a new model without re-clustering)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from test_evaluation import _group  # the evaluation commands on a group (cli.py wires them for users)

from cactus_router import Profile, ProfileError, Router, RouterError, RoutingTableError
from cactus_router.data import RoutingRow, drop_overlap, read_table, write_table
from cactus_router.embedders.hashing import HashEmbedder
from cactus_router.training import (
    Target,
    add_model,
    calibrate,
    embed_rows,
    error_rates,
    fit_kmeans,
    read_prompts,
    routing_figures,
    train,
)

ROOT = Path(__file__).resolve().parent.parent
LLMROUTER = ROOT / "data" / "llmrouter"


@pytest.mark.parametrize("text, metric, limit", [
    ("mean_size_mb<=500", "mean_size_mb", 500.0),
    ("mean size_mb <= 500", "mean_size_mb", 500.0),
    ("largest_share<=30%", "largest_share", 0.3),
    ("cost<=1e-1", "mean_cost", 0.1),
])
def test_target_parsing(text, metric, limit):
    """Targets read as METRIC<=NUMBER, with spaces, aliases and a percentage for the share."""
    assert Target.parse(text) == Target(metric, pytest.approx(limit))


@pytest.mark.parametrize("text", ["mean_cost>=3", "quality<=0.5", "mean_cost<=30%", "mean_cost<="])
def test_bad_targets_are_refused(text):
    """Anything but a known metric, '<=' and a number is a ValueError."""
    with pytest.raises(ValueError):
        Target.parse(text)


MODELS = [{"id": "tiny", "cost": 100.0, "size_mb": 100.0}, {"id": "mid", "cost": 400.0, "size_mb": 400.0},
          {"id": "large", "cost": 1600.0, "size_mb": 1600.0}]


def _rows(n, offset=0):
    """Three kinds of prompt: each needs a bigger model than the last."""
    kinds = [("hello there friend {i}, how are you?", {"tiny": 1.0, "mid": 1.0, "large": 1.0}),
             ("summarise the history of city number {i} in one line", {"tiny": 0.0, "mid": 1.0, "large": 1.0}),
             ("prove theorem {i} about prime gaps rigorously", {"tiny": 0.0, "mid": 0.2, "large": 1.0})]
    return [RoutingRow(kinds[i % 3][0].format(i=i), kinds[i % 3][1]) for i in range(offset, offset + n)]


@pytest.fixture(scope="module")
def small_profile():
    return train(_rows(90), MODELS, embedder=HashEmbedder(64), k=3, seed=0)


def test_calibrate_picks_the_lowest_cost_bias_that_meets_the_target(small_profile):
    """The target holds at the chosen cost_bias and fails one grid step below it."""
    prompts = [r.prompt for r in _rows(30, offset=500)]
    result = calibrate(small_profile, prompts, ["mean_size_mb<=600"], embedder=HashEmbedder(64))
    assert result.figures["mean_size_mb"] <= 600 and result.cost_bias > 0
    router = Router(small_profile, HashEmbedder(64))
    below = router.route_many(prompts, cost_bias=result.cost_bias - 0.001).model_index
    assert routing_figures(small_profile, np.asarray(below))["mean_size_mb"] > 600
    assert result.profile.routing.cost_bias == result.cost_bias
    assert list(result.profile.training["calibration"]["targets"]) == ["mean_size_mb<=600"]
    # the updated profile routes at the calibrated bias by default
    again = Router(result.profile, HashEmbedder(64)).route_many(prompts)
    assert routing_figures(small_profile, np.asarray(again.model_index)) == result.figures


def test_unreachable_and_unmeasurable_targets(small_profile):
    """A budget no cost_bias meets is a RouterError; a size budget needs sizes on every model."""
    prompts = [r.prompt for r in _rows(12)]
    with pytest.raises(RouterError, match="no cost_bias in \\[0, 1\\] meets mean_cost<=50"):
        calibrate(small_profile, prompts, ["mean_cost<=50"], embedder=HashEmbedder(64))
    unsized = train(_rows(30), [dict(m, size_mb=None) for m in MODELS], embedder=HashEmbedder(64), k=3)
    with pytest.raises(ProfileError, match="size_mb"):
        calibrate(unsized, prompts, ["mean_size_mb<=500"], embedder=HashEmbedder(64))


def test_calibration_holds_on_held_out_rows_of_the_dev_data():
    """Calibrated on half the LLMRouter test prompts, the budget holds on the other half (within 2 standard errors)."""
    test = read_table(LLMROUTER / "test.json")
    train_rows = drop_overlap(read_table(LLMROUTER / "train.json"), test)[:1500]
    models = sorted({m for r in train_rows for m in r.scores})
    prices = json.loads((LLMROUTER / "default_llm.json").read_text())
    specs = [{"id": m, "cost": (prices[m]["input_price"] + prices[m]["output_price"]) / 2} for m in models]
    prof = train(train_rows, specs, embedder=HashEmbedder(64), k=8, seed=0)
    order = np.random.default_rng(0).permutation(len(test))
    calib = [test[i].prompt for i in order[: len(test) // 2]]
    held = [test[i].prompt for i in order[len(test) // 2 :]]
    costs = np.array([s["cost"] for s in specs])
    for target in ("mean_cost<=0.3", "largest_share<=5%"):
        result = calibrate(prof, calib, [target], embedder=HashEmbedder(64))
        goal = Target.parse(target)
        assert result.figures[goal.metric] <= goal.limit
        chosen = np.asarray(Router(result.profile, HashEmbedder(64)).route_many(held).model_index)
        got = routing_figures(prof, chosen)[goal.metric]
        per_prompt = costs[chosen] if goal.metric == "mean_cost" else (chosen == np.argmax(costs)).astype(float)
        se = per_prompt.std(ddof=1) / np.sqrt(len(held))
        assert got <= goal.limit + 2 * se, (target, got, se)


def test_read_prompts_text_and_jsonl(tmp_path):
    """Prompts come one per line, or from JSONL objects' 'prompt'; a bad JSONL line is named."""
    (tmp_path / "p.txt").write_text("first\n\nsecond\n")
    assert read_prompts(tmp_path / "p.txt") == ["first", "second"]
    (tmp_path / "p.jsonl").write_text('{"prompt": "a"}\n{"prompt": "b", "scores": {}}\n{"text": "c"}\n')
    with pytest.raises(RoutingTableError, match="p.jsonl:3"):
        read_prompts(tmp_path / "p.jsonl")


# --- add-model ------------------------------------------------------------------------------

def test_add_model_reproduces_a_full_retrain():
    """Given the same labels, a model added to a profile gets exactly the rates and counts a full retrain gives it."""
    emb = HashEmbedder(64)
    rows = _rows(90)
    full = train(rows, MODELS, embedder=emb, k=3, seed=0)
    without = train([RoutingRow(r.prompt, {m: s for m, s in r.scores.items() if m != "large"}) for r in rows],
                    MODELS[:2], embedder=emb, k=3, seed=0)
    np.testing.assert_array_equal(full.centroids, without.centroids)
    # the premise: the router's nearest-centroid assignment is K-means' own on these rows
    vectors = embed_rows(emb, [r.prompt for r in rows])
    _, labels = fit_kmeans(vectors, 3, 0)
    np.testing.assert_array_equal(Router(without, emb).route_embeddings(vectors).cluster, labels)

    added = add_model(without, rows, "large", 1600.0, size_mb=1600.0, embedder=emb)
    new, ref = added.profile.models[-1], full.models[-1]
    assert added.rows == 90 and new.id == "large" and new.size_mb == 1600.0
    np.testing.assert_array_equal(new.error_rates, ref.error_rates)
    np.testing.assert_array_equal(new.counts, ref.counts)
    assert added.profile.model_ids == full.model_ids
    np.testing.assert_array_equal(added.profile.centroids, without.centroids)


def test_add_model_with_smoothing_and_few_labels():
    """Few labels: the rates are error_rates() over the nearest-centroid assignment with the given smoothing."""
    emb = HashEmbedder(64)
    prof = train(_rows(90), MODELS[:2], embedder=emb, k=3, seed=0)
    labels = [RoutingRow(r.prompt, {"large": r.scores["large"]}) for r in _rows(9, offset=300)]
    added = add_model(prof, labels, "large", 1600.0, embedder=emb, smoothing=2.0)
    clusters = Router(prof, emb).route_many([r.prompt for r in labels]).cluster
    rates, counts = error_rates(np.asarray(clusters), np.array([[r.scores["large"]] for r in labels]), 3, 2.0)
    np.testing.assert_allclose(added.profile.models[-1].error_rates, rates[:, 0])
    np.testing.assert_array_equal(added.profile.models[-1].counts, counts[:, 0])
    assert added.profile.training["added_models"][0]["rows"] == 9


def test_add_model_refusals(small_profile):
    """An existing id, labels that never score the model, and a bad capability are refused."""
    with pytest.raises(ProfileError, match="already has model 'mid'"):
        add_model(small_profile, _rows(3), "mid", 1.0, embedder=HashEmbedder(64))
    with pytest.raises(RoutingTableError, match="no row scores model 'new'"):
        add_model(small_profile, _rows(3), "new", 1.0, embedder=HashEmbedder(64))
    with pytest.raises(ValueError, match="capability"):
        add_model(small_profile, _rows(3), "new", 1.0, capabilities=["telepathy"], embedder=HashEmbedder(64))


# --- commands -------------------------------------------------------------------------------

def test_calibrate_and_add_model_commands(small_profile, tmp_path):
    """calibrate writes the cost_bias into the profile; add-model writes a profile with one more model."""
    path = tmp_path / "p.json"
    small_profile.save(path)
    (tmp_path / "prompts.txt").write_text("\n".join(r.prompt for r in _rows(30, offset=500)) + "\n")
    res = CliRunner().invoke(_group(), ["calibrate", str(path), str(tmp_path / "prompts.txt"),
                                        "--target", "largest_share<=20%", "--json"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.output)
    assert doc["achieved"]["largest_share"] <= 0.2
    assert Profile.load(path).routing.cost_bias == doc["cost_bias"]
    res = CliRunner().invoke(_group(), ["calibrate", "default", str(tmp_path / "prompts.txt"), "-t", "mean_cost<=1"])
    assert res.exit_code == 2 and "bundled profile" in res.output
    res = CliRunner().invoke(_group(), ["calibrate", str(path), str(tmp_path / "prompts.txt"), "-t", "speed<=1"])
    assert res.exit_code == 2 and "unknown metric" in res.output

    labels = [RoutingRow(r.prompt, {"xl": r.scores["large"]}) for r in _rows(30)]
    write_table(labels, tmp_path / "labels.jsonl")
    res = CliRunner().invoke(_group(), ["add-model", str(path), "--model", "xl", "--cost", "3000", "--size-mb", "3000",
                                        "--labels", str(tmp_path / "labels.jsonl"), "-o", str(tmp_path / "q.json")])
    assert res.exit_code == 0, res.output
    assert Profile.load(tmp_path / "q.json").model_ids == ("tiny", "mid", "large", "xl")
    res = CliRunner().invoke(_group(), ["add-model", str(path), "--model", "mid", "--cost", "1",
                                        "--labels", str(tmp_path / "labels.jsonl")])
    assert res.exit_code == 1 and "already has model" in res.output and len(res.output.strip().splitlines()) == 1
