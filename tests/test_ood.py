"""cactus_router.ood: the topic detector (fit, calibration, plain data, validation) and the script check."""

from __future__ import annotations

import base64
import copy
import json
import re
from pathlib import Path

import numpy as np
import pytest

from cactus_router.data import read_table
from cactus_router.errors import ArgumentError, ProfileError
from cactus_router.ood import (
    UNSEEN_TOPIC,
    UNSUPPORTED_SCRIPT,
    OODChecks,
    ScriptCheck,
    TopicDetector,
    fit_neighbours,
    fit_topic,
)

DATA = Path(__file__).resolve().parent / "data"
ROOT = Path(__file__).resolve().parent.parent
D = 32


def sphere_clusters(n: int, centres: np.ndarray, spread: float, seed: int) -> np.ndarray:
    """``n`` unit vectors scattered around the given unit centres."""
    rng = np.random.default_rng(seed)
    x = centres[rng.integers(len(centres), size=n)] + spread * rng.standard_normal((n, centres.shape[1]))
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


@pytest.fixture(scope="module")
def centres() -> np.ndarray:
    c = np.random.default_rng(0).standard_normal((4, D))
    return c / np.linalg.norm(c, axis=1, keepdims=True)


@pytest.fixture(scope="module")
def store(centres: np.ndarray) -> TopicDetector:
    return fit_topic(sphere_clusters(900, centres[:3], 0.05, 1), store_size=64, k=5, clusters=3, seed=0)


def foreign() -> list[str]:
    return [ln.split("\t", 1)[1] for ln in (DATA / "foreign_prompts.txt").read_text(encoding="utf-8").splitlines()
            if ln.strip() and not ln.startswith("#")]


def test_calibration_flags_about_the_target_share_of_new_in_distribution_prompts(store, centres):
    """Fresh prompts from the training distribution are flagged at about the calibrated 1%."""
    fresh = sphere_clusters(4000, centres[:3], 0.05, 2)
    assert 0.002 <= float(np.mean(store.unseen(fresh))) <= 0.03


def test_prompts_far_from_every_training_cluster_are_unseen(store, centres):
    """Prompts around a cluster the training prompts never came from are all flagged."""
    assert store.unseen(sphere_clusters(300, centres[3:], 0.05, 3)).all()


def test_stored_data_is_bounded_float16(store):
    """The detector keeps `store_size` float16 unit vectors, K float16 means and one float16
    Cholesky triangle, whatever the number of training rows."""
    nb, maha = store.neighbours, store.mahalanobis
    assert nb.vectors.shape == (64, D) and nb.vectors.dtype == np.float16
    assert np.allclose(np.linalg.norm(nb.vectors.astype(np.float32), axis=1), 1.0, atol=1e-2)
    assert maha.means.shape == (3, D) and maha.factor.shape == (D * (D + 1) // 2,)
    assert store.nbytes == 64 * D * 2 + D * 4 + 3 * D * 2 + D * (D + 1) + 2 * 8 * 257


def test_fewer_rows_than_the_store_size_are_kept_as_they_are(centres):
    """With fewer training rows than `size`, the store holds exactly those rows (centred)."""
    x = sphere_clusters(40, centres[:3], 0.05, 4)
    assert fit_neighbours(x, size=64, k=3).vectors.shape == (40, D)


def test_fit_is_deterministic(centres):
    """The same rows and seed give the same stored data and threshold."""
    x = sphere_clusters(300, centres[:3], 0.05, 5)
    a, b = (fit_topic(x, store_size=32, clusters=3, seed=7) for _ in range(2))
    assert a.to_dict() == b.to_dict()


def test_plain_data_round_trip_through_json(store, centres):
    """to_dict survives JSON and from_dict restores the same arrays, threshold and familiarity."""
    back = TopicDetector.from_dict(json.loads(json.dumps(store.to_dict())))
    assert np.array_equal(back.neighbours.vectors, store.neighbours.vectors)
    assert np.array_equal(back.mahalanobis.factor, store.mahalanobis.factor)
    assert back.threshold == round(store.threshold, 6) and back.fpr == store.fpr
    probe = sphere_clusters(50, centres, 0.05, 6)
    assert np.allclose(back.familiarity(probe), store.familiarity(probe), atol=1e-5)


def _truncate(d: dict) -> None:
    d["neighbours"]["vectors"]["base64"] = d["neighbours"]["vectors"]["base64"][:-8]


def _not_unit(d: dict) -> None:
    half = np.frombuffer(base64.b64decode(d["neighbours"]["vectors"]["base64"]), dtype="<f2") * 0.5
    d["neighbours"]["vectors"]["base64"] = base64.b64encode(half.astype("<f2").tobytes()).decode()


def _zero_diagonal(d: dict) -> None:
    tri = np.frombuffer(base64.b64decode(d["mahalanobis"]["factor"]["base64"]), dtype="<f2").copy()
    tri[0] = 0.0
    d["mahalanobis"]["factor"]["base64"] = base64.b64encode(tri.astype("<f2").tobytes()).decode()


NB, MA = "$.ood.topic.neighbours", "$.ood.topic.mahalanobis"


@pytest.mark.parametrize(("mutate", "where"), [
    (lambda d: d.update(kind="centroids"), "$.ood.topic.kind"),
    (lambda d: d.update(threshold=1.5), "$.ood.topic.threshold"),
    (lambda d: d.update(threshold=float("nan")), "$.ood.topic.threshold"),
    (lambda d: d.update(fpr=0.9), "$.ood.topic.fpr"),
    (lambda d: d.update(grids=d["grids"][:1]), "$.ood.topic.grids"),
    (lambda d: d["grids"][0].reverse(), "$.ood.topic.grids[0]"),
    (lambda d: d["grids"][1].__setitem__(3, None), "$.ood.topic.grids[1][3]"),
    (lambda d: d["neighbours"].update(k=0), f"{NB}.k"),
    (lambda d: d["neighbours"].update(k=65), f"{NB}.k"),
    (lambda d: d["neighbours"].update(k=True), f"{NB}.k"),
    (lambda d: d["neighbours"].update(centre=d["neighbours"]["centre"][:-1]), f"{NB}.centre"),
    (lambda d: d["neighbours"]["centre"].__setitem__(0, "x"), f"{NB}.centre[0]"),
    (lambda d: d["neighbours"]["vectors"].update(dtype="float32"), f"{NB}.vectors.dtype"),
    (lambda d: d["neighbours"]["vectors"].update(shape=[64]), f"{NB}.vectors.shape"),
    (lambda d: d["neighbours"]["vectors"].update(shape=[5000, D]), f"{NB}.vectors.shape[0]"),
    (lambda d: d["neighbours"]["vectors"].update(base64="!!!"), f"{NB}.vectors.base64"),
    (_truncate, f"{NB}.vectors.base64"),
    (_not_unit, f"{NB}.vectors row"),
    (lambda d: d["neighbours"].pop("vectors"), f"{NB}.vectors"),
    (lambda d: d["mahalanobis"]["means"].update(shape=[3, D + 1]), f"{MA}.means.base64"),
    (lambda d: d["mahalanobis"]["factor"].update(shape=[D], base64=""), f"{MA}.factor.base64"),
    (_zero_diagonal, f"{MA}.factor"),
    (lambda d: d.pop("mahalanobis"), MA),
])
def test_validator_names_the_bad_field(store, mutate, where):
    """Every malformed field is refused with a ProfileError (a ValueError) naming its path."""
    d = copy.deepcopy(store.to_dict())
    mutate(d)
    with pytest.raises(ProfileError, match=f"^{re.escape(where)}") as info:
        TopicDetector.from_dict(d)
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize("kwargs", [{"store_size": 0}, {"store_size": 5000}, {"k": 0}, {"k": 65, "store_size": 64},
                                    {"fpr": 0.0}, {"folds": 1}, {"store_size": True}, {"clusters": 0}])
def test_fit_refuses_bad_arguments(centres, kwargs):
    """Out-of-range fitting arguments raise ArgumentError."""
    with pytest.raises(ArgumentError):
        fit_topic(sphere_clusters(100, centres[:3], 0.05, 8), **kwargs)


def test_fit_refuses_too_few_rows(centres):
    """A table too small to fit and calibrate over the folds is refused, not fitted on nothing."""
    with pytest.raises(ArgumentError, match="too few"):
        fit_topic(sphere_clusters(20, centres[:3], 0.05, 9))


def test_familiarity_refuses_the_wrong_width(store):
    """Embeddings of another width are an ArgumentError, not a broadcast."""
    with pytest.raises(ArgumentError, match=f"\\(n, {D}\\)"):
        store.familiarity(np.ones((2, D + 1), dtype=np.float32))


def test_script_check_flags_every_foreign_prompt():
    """Every Chinese, Arabic and Russian prompt the project wrote is an unsupported script."""
    texts = foreign()
    assert len(texts) == 90 and ScriptCheck().unsupported(texts).all()


def test_script_check_leaves_english_prompts_alone():
    """Everyday English prompts and the LLMRouter test prompts (maths, code, science) pass."""
    everyday = [ln for ln in (DATA / "everyday_prompts.txt").read_text(encoding="utf-8").splitlines()
                if ln.strip() and not ln.startswith("#")]
    bench = [r.prompt for r in read_table(ROOT / "data" / "llmrouter" / "test.json")]
    assert not ScriptCheck().unsupported(everyday).any()
    assert ScriptCheck().unsupported(bench).sum() <= 1


@pytest.mark.parametrize(("text", "lo", "hi"), [
    ("What is 2 + 2?", 0.0, 0.0),
    ("12 + 7 = ?", 0.0, 0.0),
    ("Translate to English: 今天天气很好", 0.2, 0.35),
    ("今天天气很好", 1.0, 1.0),
    ("Привет, как дела?", 0.5, 1.0),
])
def test_unreadable_share_of_known_prompts(text, lo, hi):
    """The unreadable share is 0 for English and digits, 1 for Han text, in between for a mix."""
    assert lo <= ScriptCheck().unreadable_share([text])[0] <= hi


def test_long_prompts_are_read_from_their_ends_only():
    """A 1 MB prompt is clipped like the embedder clips it: English ends pass."""
    text = "Explain this. " + "中" * 1_000_000 + " Thank you for your help with this question."
    share = ScriptCheck().unreadable_share([text])[0]
    assert 0.9 < share <= 1.0  # the 2,048 characters kept from each end are nearly all Han


def test_checks_give_the_script_reason_first(store, centres):
    """A prompt failing both checks is an unsupported script; far embeddings alone are an unseen topic."""
    checks = OODChecks(store, ScriptCheck())
    far = sphere_clusters(2, centres[3:], 0.05, 10)
    near = sphere_clusters(1, centres[:1], 0.01, 11)
    emb = np.vstack([far, near])
    assert checks.reasons(["今天天气很好", "What is 2 + 2?", "What is 2 + 2?"], emb) == [
        UNSUPPORTED_SCRIPT, UNSEEN_TOPIC, None]
    assert checks.reasons(None, emb) == [UNSEEN_TOPIC, UNSEEN_TOPIC, None]


def test_checks_round_trip_and_refuse_unknown_keys(store):
    """OODChecks' plain data survives JSON; an unknown key is a ProfileError naming it."""
    checks = OODChecks(store, ScriptCheck(0.4))
    back = OODChecks.from_dict(json.loads(json.dumps(checks.to_dict())))
    assert back.script == ScriptCheck(0.4) and back.topic.to_dict() == store.to_dict()
    with pytest.raises(ProfileError, match="'mahalanobis'"):
        OODChecks.from_dict({**checks.to_dict(), "mahalanobis": {}})
    with pytest.raises(ProfileError, match=r"\$\.ood\.script\.threshold"):
        OODChecks.from_dict({"script": {"kind": "wordpiece-coverage", "vocabulary": "bert-base-uncased",
                                        "threshold": 2}})
