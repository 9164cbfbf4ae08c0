"""train's out-of-distribution setting: --ood auto|centroid|topic|none, and the leave-tasks-out choice."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from cactus_router import Profile
from cactus_router.cli import cli
from cactus_router.data import RoutingRow
from cactus_router.errors import ArgumentError
from cactus_router.training import train
from cactus_router.training.ood import auroc, leave_tasks_out

MODELS = [{"id": "small", "cost": 1.0}, {"id": "big", "cost": 10.0}]
TOPICS = {
    "chat": "hello friend number {i}, how are you today and how is the family?",
    "math": "integrate x^{i} dx and differentiate sin({i}x) with respect to x",
    "code": "write a python function number {i} that sorts a list of strings",
    "geo": "which river flows through city {i} and what is the capital of its country",
}


def _rows(n_per_task: int = 40) -> list[RoutingRow]:
    """Four tasks of templated prompts; the small model is right on chat and geo only."""
    return [RoutingRow(text.format(i=i), {"small": float(task in ("chat", "geo")), "big": 1.0}, task)
            for i in range(n_per_task) for task, text in TOPICS.items()]


def test_auroc_by_hand():
    """AUROC is the share of (inside, outside) pairs ordered right, ties counted half."""
    assert auroc(np.array([3.0, 4.0]), np.array([1.0, 2.0])) == 1.0
    assert auroc(np.array([1.0, 3.0]), np.array([2.0, 2.0])) == 0.5
    assert auroc(np.array([2.0]), np.array([2.0])) == 0.5


def test_none_stores_no_check(hash_embedder):
    """--ood none: no similarity threshold and no "ood" field."""
    prof = train(_rows(), MODELS, embedder=hash_embedder, k=2, seed=0, ood="none")
    assert prof.routing.ood_threshold is None and prof.ood is None
    assert prof.training["ood"] == {"mode": "none"}


def test_centroid_keeps_todays_threshold(hash_embedder):
    """--ood centroid: the similarity threshold only (the hash embedder gets no script check)."""
    prof = train(_rows(), MODELS, embedder=hash_embedder, k=2, seed=0, ood="centroid")
    assert prof.routing.ood_threshold is not None and prof.ood is None
    assert prof.training["ood"]["similarity_threshold"] == prof.routing.ood_threshold


def test_topic_replaces_the_threshold_and_saves_what_it_routes_with(hash_embedder, tmp_path):
    """--ood topic: a topic check instead of the threshold; the saved profile routes like the trained one."""
    prof = train(_rows(), MODELS, embedder=hash_embedder, k=2, seed=0, ood="topic")
    assert prof.routing.ood_threshold is None and prof.ood is not None and prof.ood.topic is not None
    prof.save(tmp_path / "p.json")
    back = Profile.load(tmp_path / "p.json")
    assert back.to_json() == prof.to_json()
    x = hash_embedder.embed_many([r.prompt for r in _rows(5)])
    assert np.array_equal(back.ood.topic.familiarity(x), prof.ood.topic.familiarity(x))


def test_auto_records_both_measures_and_follows_them(hash_embedder):
    """--ood auto measures both scores leave tasks out and keeps the topic check only if it wins."""
    prof = train(_rows(), MODELS, embedder=hash_embedder, k=2, seed=0)
    facts = prof.training["ood"]
    assert facts["mode"] == "auto" and facts["auto"]["groups"] == 4
    topic_won = facts["auto"]["topic"] > facts["auto"]["centroid"]
    assert facts["auto"]["chose"] == ("topic" if topic_won else "centroid")
    assert (prof.ood is not None) == topic_won and (prof.routing.ood_threshold is None) == topic_won


def test_leave_tasks_out_measures_each_group(hash_embedder):
    """Each of the four held-out groups gets an AUROC per score, in [0, 1]."""
    rows = _rows()
    x = hash_embedder.embed_many([r.prompt for r in rows])
    areas = leave_tasks_out(x, [r.task for r in rows], 2, 0)
    assert areas is not None and len(areas["centroid"]) == len(areas["topic"]) == 4
    assert all(0.0 <= a <= 1.0 for a in areas["centroid"] + areas["topic"])


def test_auto_without_enough_tasks_keeps_the_threshold_and_says_why(hash_embedder):
    """With two tasks there is nothing to hold out: auto keeps the similarity threshold."""
    rows = [r for r in _rows() if r.task in ("chat", "math")]
    prof = train(rows, MODELS, embedder=hash_embedder, k=2, seed=0)
    assert prof.routing.ood_threshold is not None and prof.ood is None
    assert "fewer than 3 tasks" in prof.training["ood"]["auto"]


def test_an_unknown_mode_is_refused_before_embedding(hash_embedder):
    """A misspelt mode is an ArgumentError naming the choices."""
    with pytest.raises(ArgumentError, match="auto, centroid, topic, none"):
        train(_rows(), MODELS, embedder=hash_embedder, ood="mahalanobis")


def test_cli_train_takes_ood(tmp_path):
    """`train --ood none` writes a profile without checks; a bad value is a usage error."""
    table = tmp_path / "t.jsonl"
    table.write_text("".join(json.dumps({"prompt": r.prompt, "scores": r.scores, "task": r.task}) + "\n"
                             for r in _rows(20)), encoding="utf-8")
    models = tmp_path / "m.json"
    models.write_text(json.dumps(MODELS), encoding="utf-8")
    out = tmp_path / "p.json"
    res = CliRunner().invoke(cli, ["train", str(table), "-m", str(models), "-e", "hash:64", "--k", "2",
                                    "--ood", "none", "-o", str(out)])
    assert res.exit_code == 0, res.output
    assert Profile.load(out).ood is None and Profile.load(out).routing.ood_threshold is None
    bad = CliRunner().invoke(cli, ["train", str(table), "--ood", "maybe", "-o", str(out)])
    assert bad.exit_code == 2 and "--ood" in bad.output
