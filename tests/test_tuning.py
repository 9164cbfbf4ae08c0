"""The routing-tuned encoder (cactus_router.tuning): the PyTorch network against onnxruntime, a tiny
tuning run exported and loaded as an embedder, the loss, and bad inputs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from cr_factories import make_profile

from cactus_router import Router
from cactus_router.data import read_table, score_matrix
from cactus_router.embedders import get_embedder
from cactus_router.errors import ArgumentError, EmbedderError, OutputError

torch = pytest.importorskip("torch", reason="needs PyTorch: pip install 'cactus-router[tune]'")
pytest.importorskip("onnx", reason="needs onnx: pip install 'cactus-router[tune]'")

from cactus_router.embedders.minilm_l3 import MiniLML3Embedder, fp32_model_path  # noqa: E402
from cactus_router.tuning import labels_of, supcon_loss, tune_encoder  # noqa: E402
from cactus_router.tuning.network import build, onnx_weights  # noqa: E402

DATA = Path(__file__).resolve().parent.parent / "data" / "llmrouter"
PROMPTS = ["What is the capital of France?", "Write a python function that sorts a list of numbers.",
           "hi", "Prove that the square root of 2 is irrational, step by step, without skipping any step."]


@pytest.fixture(scope="module")
def rows():
    table = read_table(DATA / "train.json", queries=DATA / "default_query_train.jsonl")[:48]
    models = sorted({m for r in table for m in r.scores})
    return [r.prompt for r in table], score_matrix(table, models)


@pytest.fixture(scope="module")
def tuned(rows, tmp_path_factory):
    out = tmp_path_factory.mktemp("tuned") / "tuned.onnx"
    report = tune_encoder(rows[0][:32], rows[1][:32], out, epochs=1, batch=16, lr=1e-4)
    return out, report


def test_the_network_reproduces_the_onnx_export():
    base = MiniLML3Embedder(int8=False, threads=1)
    net = build(onnx_weights(fp32_model_path())).eval()
    input_ids, mask = base._pad(base._ids(PROMPTS))
    with torch.no_grad():
        got = net(torch.from_numpy(input_ids), torch.from_numpy(mask)).numpy()
    assert np.abs(got - base._run(base._ids(PROMPTS))).max() < 1e-5


def test_a_tuned_file_loads_as_its_own_embedder(tuned):
    out, report = tuned
    assert report.rows == 32 and report.batches == 2 and len(report.losses) == 1
    emb, base = get_embedder(f"minilm-l3-tuned:{out}"), get_embedder("minilm-l3:fp32")
    assert emb.name == "paraphrase-minilm-l3-v2-tuned" and emb.dim == 384
    a, b = emb.embed_many(PROMPTS), base.embed_many(PROMPTS)
    assert np.allclose(np.linalg.norm(a, axis=1), 1.0, atol=1e-5)
    assert 1e-4 < np.abs(a - b).max() and emb.fingerprint != base.fingerprint
    assert np.allclose(emb.embed_many(PROMPTS[:1]), a[:1], atol=1e-6)  # alone and in a padded batch


def test_a_profile_of_the_tuned_encoder_refuses_the_base_one(tuned):
    tuned_emb = get_embedder(f"minilm-l3-tuned:{tuned[0]}")
    prof = make_profile(k=3, d=384, m=2, seed=0, embedder=tuned_emb)
    assert Router(prof, tuned_emb).route("hi").model in prof.model_ids
    with pytest.raises(EmbedderError):
        Router(prof, get_embedder("minilm-l3:fp32"))


def test_the_loss_falls_on_a_batch_it_trains_on(rows, tmp_path):
    report = tune_encoder(rows[0][:16], rows[1][:16], tmp_path / "t.onnx", epochs=4, batch=16, lr=1e-4)
    assert report.batches == 4 and report.losses[-1] < report.losses[0]


def test_supcon_prefers_embeddings_grouped_by_label():
    labels = torch.tensor([0, 0, 1, 1, 2, 2])
    grouped = torch.nn.functional.normalize(torch.eye(3).repeat_interleave(2, dim=0) + 0.01, dim=1)
    mixed = torch.nn.functional.normalize(torch.eye(3).repeat(2, 1) + 0.01, dim=1)
    assert float(supcon_loss(grouped, labels, 0.1)) < float(supcon_loss(mixed, labels, 0.1))
    assert float(supcon_loss(grouped, torch.tensor([0, 1, 2, 3, 4, 5]), 0.1)) == 0.0  # no positives: no anchors


def test_labels_are_the_sets_of_models_right():
    scores = np.array([[1.0, 0.0, np.nan], [0.9, 0.2, 0.7], [0.0, 0.0, 0.0]])
    assert labels_of(scores).tolist() == [1, 5, 0]


def test_bad_inputs_are_typed_errors_and_write_nothing(rows, tmp_path):
    prompts, scores = rows
    out = tmp_path / "out.onnx"
    with pytest.raises(ArgumentError, match="at least 8"):
        tune_encoder(prompts[:4], scores[:4], out)
    with pytest.raises(ArgumentError, match="prompts but"):
        tune_encoder(prompts[:10], scores[:9], out)
    with pytest.raises(ArgumentError, match="epochs"):
        tune_encoder(prompts[:10], scores[:10], out, epochs=0)
    with pytest.raises(OutputError, match="missing or not writable"):
        tune_encoder(prompts[:10], scores[:10], tmp_path / "no" / "such" / "out.onnx")
    with pytest.raises(OutputError):
        tune_encoder(prompts[:10], scores[:10], tmp_path)  # a directory
    assert list(tmp_path.iterdir()) == []


def test_a_missing_or_foreign_model_file_is_an_embedder_error(tmp_path):
    with pytest.raises(EmbedderError, match="no model file"):
        get_embedder(f"minilm-l3-tuned:{tmp_path / 'none.onnx'}")
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not an onnx model")
    with pytest.raises(EmbedderError):
        get_embedder(f"minilm-l3-tuned:{bad}")
    with pytest.raises(EmbedderError, match="not an ONNX model"):
        onnx_weights(bad)
