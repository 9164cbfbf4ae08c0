"""Training: error rates from labels, determinism, K selection, the routing-table reader."""

from __future__ import annotations

import json

import numpy as np
import pytest
from cr_factories import chat_and_math_rows

from cactus_router import Router, RoutingTableError
from cactus_router.data import RoutingRow, drop_overlap, read_table, write_table
from cactus_router.training import error_rates, train

MODELS = [{"id": "small", "cost": 1.0}, {"id": "big", "cost": 10.0}]


def test_error_rates_by_hand():
    """Rates are 1 - mean score per cluster; counts skip missing scores; empty clusters take the global rate."""
    labels = np.array([0, 0, 1, 1, 1])
    scores = np.array([[1.0, 0.0], [0.0, 0.0], [1.0, 1.0], [1.0, np.nan], [0.5, 1.0]])
    rates, counts = error_rates(labels, scores, k=3)
    np.testing.assert_allclose(rates[0], [0.5, 1.0])
    np.testing.assert_allclose(rates[1], [0.5 / 3, 0.0])
    np.testing.assert_array_equal(counts, [[2, 2], [3, 2], [0, 0]])
    np.testing.assert_allclose(rates[2], [(0 + 1 + 0 + 0 + 0.5) / 5, 2 / 4])


def test_smoothing_shrinks_toward_the_global_rate():
    """With s pseudo-rows a cluster's rate moves toward the model's global rate."""
    labels = np.array([0, 1, 1, 1])
    scores = np.array([[1.0], [0.0], [0.0], [0.0]])
    rates, _ = error_rates(labels, scores, k=2, smoothing=2.0)
    assert rates[0, 0] == pytest.approx((0.0 + 2 * 0.75) / 3)


def test_train_learns_which_model_each_kind_needs(hash_embedder):
    """On a clear-cut table the trained profile sends maths to the big model and chat to the small one."""
    prof = train(chat_and_math_rows(), MODELS, embedder=hash_embedder, k=2, smoothing=0, temperature=0, seed=0)
    r = Router(prof, hash_embedder)
    assert r.route("integrate x^3 dx and differentiate sin(5x)", cost_bias=0.2).model == "big"
    assert r.route("hello friend number 99, how are you today?", cost_bias=0.2).model == "small"
    assert prof.cluster_sizes.sum() == 60 and prof.training["k"] == 2


def test_train_is_deterministic(hash_embedder):
    """The same rows and seed give byte-identical profiles."""
    a = train(chat_and_math_rows(), MODELS, embedder=hash_embedder, k=3, seed=7).to_json()
    b = train(chat_and_math_rows(), MODELS, embedder=hash_embedder, k=3, seed=7).to_json()
    assert a == b


def test_auto_settings_are_chosen_by_cross_validated_area(hash_embedder):
    """K, smoothing and temperature "auto" pick the best mean CV area and record every candidate."""
    prof = train(chat_and_math_rows(80), MODELS, embedder=hash_embedder, seed=0)
    areas = prof.training["cv_area"]
    chosen = f"k={prof.k},smoothing={prof.training['smoothing']:g},temperature={prof.routing.temperature:g}"
    assert len(areas) > 10 and areas[chosen] >= max(areas.values()) - 1e-4
    assert prof.training["selection"]["auto"] == ("k", "smoothing", "temperature")


def test_training_learns_an_ood_threshold_and_cluster_tasks(hash_embedder):
    """The profile gets a similarity threshold from held-out rows and per-cluster task counts."""
    prof = train(chat_and_math_rows(), MODELS, embedder=hash_embedder, k=2, smoothing=0, temperature=0)
    assert -1.0 <= prof.routing.ood_threshold <= 1.0
    assert sum(sum(t.values()) for t in prof.cluster_tasks) == 60
    assert {task for t in prof.cluster_tasks for task in t} == {"chat", "math"}


def test_progress_is_reported(hash_embedder):
    """progress(done, total) ends at total."""
    seen = []
    train(chat_and_math_rows(), MODELS, embedder=hash_embedder, k=2, progress=lambda d, t: seen.append((d, t)))
    assert seen[-1] == (60, 60)


def test_table_models_cost_their_mean_per_prompt_cost(hash_embedder):
    """models="table": every scored model, in id order, at its mean cost over the rows that give one."""
    rows = [RoutingRow(r.prompt, r.scores, r.task, costs={"small": 1.0 + i % 3, "big": 10.0 * (1 + i % 2)})
            for i, r in enumerate(chat_and_math_rows())]
    rows[0] = RoutingRow(rows[0].prompt, rows[0].scores, rows[0].task, costs={"big": 10.0})  # no cost for small
    prof = train(rows, "table", embedder=hash_embedder, k=2, seed=0)
    assert prof.model_ids == ("big", "small")
    assert prof.models[0].cost == pytest.approx(np.mean([10.0 * (1 + i % 2) for i in range(60)]))
    assert prof.models[1].cost == pytest.approx(np.mean([1.0 + i % 3 for i in range(1, 60)]))
    assert Router(prof, hash_embedder).route("integrate x^3 dx and differentiate sin(5x)", cost_bias=0.2).model == "big"


def test_table_models_without_costs_is_an_error(hash_embedder):
    """models="table" on rows that give no cost for a model names it and says what to do."""
    rows = [RoutingRow(r.prompt, r.scores, r.task, costs={"big": 10.0}) for r in chat_and_math_rows()]
    with pytest.raises(RoutingTableError, match=r"no row gives one for 'small'; add costs, or pass a model list"):
        train(rows, "table", embedder=hash_embedder, k=2)
    huge = [RoutingRow(r.prompt, r.scores, r.task, costs={"big": 1e13, "small": 1.0}) for r in chat_and_math_rows()]
    too_big = r"mean of the rows' costs \(big\): \$\.cost must be in \[0\.0, 1000000000000\.0\]"
    with pytest.raises(RoutingTableError, match=too_big):
        train(huge, "table", embedder=hash_embedder, k=2)  # a profile could not hold it


@pytest.mark.parametrize(
    "models, k, message",
    [
        ([{"id": "small", "cost": 1}, {"id": "ghost", "cost": 2}], 2, "no training row scores model"),
        (MODELS, 500, "more than the 60 training rows"),
        ([{"id": "small"}], 2, "needs a 'cost'"),
        ([{"id": "small", "cost": 1}, {"id": "small", "cost": 2}], 2, "appears more than once"),
    ],
)
def test_train_errors(hash_embedder, models, k, message):
    """Bad model lists and impossible K are RoutingTableError."""
    with pytest.raises(RoutingTableError, match=message):
        train(chat_and_math_rows(), models, embedder=hash_embedder, k=k)


def test_read_table_round_trip(tmp_path):
    """write_table then read_table gives the same rows, even with U+2028 inside a prompt."""
    rows = [RoutingRow("line\u2028separator", {"a": 0.5}, "t", "id1", {"a": 2.0}), RoutingRow("two", {"a": 1}, None)]
    write_table(rows, tmp_path / "t.jsonl")
    assert read_table(tmp_path / "t.jsonl") == rows


@pytest.mark.parametrize(
    "line, message",
    [
        ("{", "t.jsonl:2: not valid JSON"),
        ('{"prompt": "", "scores": {"a": 1}}', "t.jsonl:2: 'prompt' must be a non-empty string"),
        ('{"prompt": "p", "scores": {"a": 2}}', r"t.jsonl:2: scores\['a'\] must be a number in \[0, 1\]"),
        ('{"prompt": "p", "scores": {}}', "t.jsonl:2: 'scores' must be a non-empty object"),
        ('{"prompt": "p", "scores": {"a": 1}, "costs": {"a": -1}}', r"costs\['a'\] must be a number >= 0"),
        ("[1]", "t.jsonl:2: a row must be a JSON object"),
    ],
)
def test_bad_rows_name_their_line(tmp_path, line, message):
    """A bad row is RoutingTableError with file:line."""
    (tmp_path / "t.jsonl").write_text(json.dumps({"prompt": "ok", "scores": {"a": 1}}) + "\n" + line + "\n")
    with pytest.raises(RoutingTableError, match=message):
        read_table(tmp_path / "t.jsonl")


def test_llmrouter_layout_and_task_join(tmp_path):
    """The LLMRouter {"question", "scores"} list reads as rows; the query file supplies tasks."""
    (tmp_path / "d.json").write_text(json.dumps([{"question": "q1", "scores": {"a": 1.0}, "cluster_id": 0}]))
    (tmp_path / "q.jsonl").write_text(json.dumps({"task_name": "mmlu", "query": "q1"}) + "\n")
    rows = read_table(tmp_path / "d.json", queries=tmp_path / "q.jsonl")
    assert rows == [RoutingRow("q1", {"a": 1.0}, "mmlu")]


def test_drop_overlap():
    """Train rows whose prompt is in test are dropped."""
    train_rows = [RoutingRow("a", {"m": 1}), RoutingRow("b", {"m": 1})]
    assert drop_overlap(train_rows, [RoutingRow("b", {"m": 0})]) == [train_rows[0]]
