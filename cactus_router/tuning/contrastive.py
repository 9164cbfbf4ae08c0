"""Contrastive fine-tuning of the default encoder on routing labels, exported to ONNX.

Two training prompts are positives when the same models answer them well: each prompt's label is
the set of models whose score is at least 0.5 (a prompt some model has no score for takes the
models it has). A batch's loss is the supervised contrastive loss (Khosla et al., 2020) of the
L2-normalised embeddings at a temperature: each prompt is pulled toward the batch's prompts with
its label and pushed from the others; prompts alone with their label in a batch are not anchors.
Training is seeded (torch's generator and the batch order) and runs on ``threads`` CPU threads;
the result is the same network, exported with the inputs and the pooled (batch, 384) output that
``MiniLML3Embedder`` runs, and written atomically only after onnxruntime has loaded it.
"""

from __future__ import annotations

import io
import os
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .._files import check_output, write_atomic
from ..errors import ArgumentError, EmbedderError, OutputError
from .network import _torch, build, onnx_weights

MIN_ROWS = 8


@dataclass(frozen=True)
class TuningReport:
    """What a tuning run did: rows, distinct labels, batches, the mean loss of each epoch, seconds."""

    rows: int
    labels: int
    batches: int
    losses: tuple[float, ...]
    seconds: float


def labels_of(scores: np.ndarray) -> np.ndarray:
    """(n,) int64: each row's set of models scoring >= 0.5, as a bit pattern (unscored: not in it)."""
    right = np.nan_to_num(np.asarray(scores, dtype=np.float64), nan=0.0) >= 0.5
    return np.asarray((right * (1 << np.arange(right.shape[1], dtype=np.int64))).sum(axis=1), dtype=np.int64)


def supcon_loss(z: Any, labels: Any, temperature: float) -> Any:
    """The supervised contrastive loss of unit rows ``z`` with integer ``labels`` (torch tensors)."""
    torch = _torch()
    n = z.shape[0]
    logits = z @ z.T / temperature
    self_mask = torch.eye(n, dtype=torch.bool)
    logits = logits.masked_fill(self_mask, -1e9)
    log_prob = logits - torch.logsumexp(logits, dim=1, keepdim=True)
    positive = (labels[:, None] == labels[None, :]) & ~self_mask
    counts = positive.sum(dim=1)
    anchors = counts > 0
    if not bool(anchors.any()):
        return (z * 0.0).sum()
    per_anchor = -(log_prob * positive).sum(dim=1)[anchors] / counts[anchors]
    return per_anchor.mean()


def _check(prompts: Sequence[str], scores: np.ndarray, epochs: int, batch: int, lr: float, temperature: float,
           threads: int) -> None:
    if len(prompts) != len(scores):
        raise ArgumentError(f"{len(prompts)} prompts but {len(scores)} score rows")
    if len(prompts) < MIN_ROWS:
        raise ArgumentError(f"tuning needs at least {MIN_ROWS} labelled prompts, got {len(prompts)}")
    for name, value, lo in (("epochs", epochs, 1), ("batch", batch, 2), ("threads", threads, 1)):
        if isinstance(value, bool) or not isinstance(value, int) or value < lo:
            raise ArgumentError(f"{name} must be an integer >= {lo}, got {value!r}")
    for name, fvalue in (("lr", lr), ("temperature", temperature)):
        if not (isinstance(fvalue, (int, float)) and np.isfinite(fvalue) and fvalue > 0):
            raise ArgumentError(f"{name} must be a finite number > 0, got {fvalue!r}")


def tune_encoder(prompts: Sequence[str], scores: np.ndarray, out: str | os.PathLike[str], *, epochs: int = 2,
                 batch: int = 64, lr: float = 2e-5, temperature: float = 0.1, seed: int = 0, threads: int = 1
                 ) -> TuningReport:
    """Fine-tune paraphrase-MiniLM-L3-v2 (fp32) on ``prompts`` and their (n, M) ``scores`` and write
    the tuned ONNX model to ``out`` (load it with ``get_embedder("minilm-l3-tuned:" + out)``).

    Raises:
        ArgumentError: mismatched or too few rows, or a setting out of range.
        EmbedderError: PyTorch or onnx missing, or the base model missing or not as expected.
        OutputError: ``out`` cannot be written (checked before training).
    """
    _check(prompts, scores, epochs, batch, lr, temperature, threads)
    check_output(out)
    folder = Path(out).absolute().parent
    if not folder.is_dir() or not os.access(folder, os.W_OK | os.X_OK):
        raise OutputError(f"{os.fspath(out)}: its folder {str(folder)!r} is missing or not writable")
    torch = _torch()
    from ..embedders.minilm import check_weights
    from ..embedders.minilm_l3 import FP32_SHA256, PIN, MiniLML3Embedder, fp32_model_path

    base_path = fp32_model_path()
    check_weights(base_path, FP32_SHA256, PIN)
    tokenizer = MiniLML3Embedder(int8=False, threads=1)
    t0 = time.perf_counter()
    torch.set_num_threads(threads)
    torch.manual_seed(seed)
    net = build(onnx_weights(base_path))
    net.train()
    ids = tokenizer._ids(list(prompts))
    labels = torch.from_numpy(labels_of(scores))
    optimiser = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=0.0)
    order_rng = np.random.default_rng(seed)
    losses, batches = [], 0
    for _ in range(epochs):
        order, total, count = order_rng.permutation(len(ids)), 0.0, 0
        for start in range(0, len(order) - 1, batch):
            rows = order[start:start + batch]
            if len(rows) < 2:
                continue
            input_ids, mask = tokenizer._pad([ids[i] for i in rows])
            z = torch.nn.functional.normalize(net(torch.from_numpy(input_ids), torch.from_numpy(mask)), dim=1)
            loss = supcon_loss(z, labels[torch.from_numpy(rows)], temperature)
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            total, count, batches = total + float(loss.detach()), count + 1, batches + 1
        losses.append(total / max(count, 1))
    data = _export(net.eval(), tokenizer)
    try:
        write_atomic(out, data)
    except OSError as exc:
        raise OutputError(f"cannot write {os.fspath(out)}: {exc.strerror}") from None
    return TuningReport(len(ids), int(len(np.unique(labels.numpy()))), batches, tuple(losses),
                        time.perf_counter() - t0)


def _export(net: Any, tokenizer: Any) -> bytes:
    """The network as ONNX bytes with ``MiniLML3Embedder``'s inputs and one (batch, 384) output,
    checked by onnxruntime against the network on two prompts."""
    torch = _torch()
    ids = tokenizer._ids(["a prompt to trace the network with", "and a second, longer one to pad the first"])
    input_ids, mask = tokenizer._pad(ids)
    buffer = io.BytesIO()
    with torch.no_grad(), warnings.catch_warnings():
        # the TorchScript exporter (dynamo=False: the torch.export one needs onnxscript) warns that it is deprecated
        warnings.simplefilter("ignore", DeprecationWarning)
        want = net(torch.from_numpy(input_ids), torch.from_numpy(mask)).numpy()
        torch.onnx.export(net, (torch.from_numpy(input_ids), torch.from_numpy(mask)), buffer, dynamo=False,
                          input_names=["input_ids", "attention_mask"], output_names=["embedding"], opset_version=17,
                          dynamic_axes={"input_ids": {0: "batch", 1: "tokens"},
                                        "attention_mask": {0: "batch", 1: "tokens"}, "embedding": {0: "batch"}})
    data = buffer.getvalue()
    from ..embedders._ort import import_onnxruntime

    ort = import_onnxruntime()
    session = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    (got,) = session.run(["embedding"], {"input_ids": input_ids, "attention_mask": mask})
    if not np.allclose(got, want, atol=1e-4):
        raise EmbedderError(f"the exported model differs from the tuned network by {np.abs(got - want).max():.3g}")
    return data
