"""paraphrase-MiniLM-L3-v2 as a PyTorch module, built from the weights of its ONNX export.

The ONNX file (``embedders.minilm_l3.fp32_model_path``) holds a 3-layer BERT (384 wide, 12 heads,
1,536 in the feed-forward layer, GELU by erf, LayerNorm eps 1e-12) and mean-pools its last hidden
state over the attention mask. Its embeddings and LayerNorm weights keep their PyTorch names; its
18 projection matrices are ``onnx::MatMul_*`` initialisers stored (in, out), six a layer in the
order query, key, value, attention output, intermediate, output. ``MiniLM.from_onnx`` reads them
and ``tests/test_tuning.py`` checks the module against onnxruntime on the same file.
"""

from __future__ import annotations

import math
import os
import re
from typing import Any

import numpy as np

from ..errors import EmbedderError

LAYERS, WIDTH, HEADS, EPS = 3, 384, 12, 1e-12
_PREFIX = "model.0.auto_model."
_PROJECTIONS = ("query", "key", "value", "attention_out", "intermediate", "output")


def _torch() -> Any:
    try:
        import torch
    except ImportError:
        raise EmbedderError("tuning the encoder needs PyTorch: pip install 'cactus-router[tune]' "
                            "(torch==2.13.0, the CPU build)") from None
    return torch


def onnx_weights(path: str | os.PathLike[str]) -> dict[str, np.ndarray]:
    """The export's initialisers by name, projections renamed ``layer.{i}.{what}.weight`` (in, out).

    Raises:
        EmbedderError: ``onnx`` is missing, or the file is not this model's export.
    """
    try:
        import onnx
        from onnx import numpy_helper
    except ImportError:
        raise EmbedderError("reading the encoder's weights needs onnx: pip install 'cactus-router[tune]'") from None
    try:
        graph = onnx.load(os.fspath(path)).graph
    except Exception as exc:  # onnx raises its own untyped errors
        raise EmbedderError(f"{os.fspath(path)} is not an ONNX model: {exc}") from None
    named = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
    matmuls = sorted((k for k in named if k.startswith("onnx::MatMul_")), key=lambda k: int(re.sub(r"\D", "", k)))
    if len(matmuls) != LAYERS * len(_PROJECTIONS) or f"{_PREFIX}embeddings.word_embeddings.weight" not in named:
        raise EmbedderError(f"{os.fspath(path)} is not the paraphrase-MiniLM-L3-v2 export this tuning expects")
    out = {k[len(_PREFIX):]: v for k, v in named.items() if k.startswith(_PREFIX)}
    for i, key in enumerate(matmuls):
        out[f"layer.{i // len(_PROJECTIONS)}.{_PROJECTIONS[i % len(_PROJECTIONS)]}.weight"] = named[key]
    return out


def build(weights: dict[str, np.ndarray]) -> Any:
    """The module (``torch.nn.Module``): ``forward(input_ids, attention_mask)`` -> (batch, 384)
    mean-pooled hidden states, as the export computes them."""
    torch = _torch()
    nn = torch.nn

    def tensor(name: str) -> Any:
        return nn.Parameter(torch.from_numpy(np.array(weights[name], dtype=np.float32)))

    class Layer(nn.Module):  # type: ignore[name-defined,misc]  # torch is imported at run time
        def __init__(self, i: int) -> None:
            super().__init__()
            p = f"encoder.layer.{i}."
            self.w = nn.ParameterDict({w: tensor(f"layer.{i}.{w}.weight") for w in _PROJECTIONS})
            self.b = nn.ParameterDict({
                "query": tensor(p + "attention.self.query.bias"), "key": tensor(p + "attention.self.key.bias"),
                "value": tensor(p + "attention.self.value.bias"),
                "attention_out": tensor(p + "attention.output.dense.bias"),
                "intermediate": tensor(p + "intermediate.dense.bias"), "output": tensor(p + "output.dense.bias")})
            self.ln = nn.ParameterDict({
                "w1": tensor(p + "attention.output.LayerNorm.weight"),
                "b1": tensor(p + "attention.output.LayerNorm.bias"),
                "w2": tensor(p + "output.LayerNorm.weight"), "b2": tensor(p + "output.LayerNorm.bias")})

        def project(self, x: Any, what: str) -> Any:
            return x @ self.w[what] + self.b[what]

        def forward(self, x: Any, bias: Any) -> Any:
            n, t, _ = x.shape
            heads = [self.project(x, w).view(n, t, HEADS, WIDTH // HEADS).transpose(1, 2)
                     for w in ("query", "key", "value")]
            att = torch.softmax(heads[0] @ heads[1].transpose(-1, -2) / math.sqrt(WIDTH // HEADS) + bias, dim=-1)
            ctx = (att @ heads[2]).transpose(1, 2).reshape(n, t, WIDTH)
            x = nn.functional.layer_norm(x + self.project(ctx, "attention_out"), (WIDTH,), self.ln["w1"], self.ln["b1"],
                                         eps=EPS)
            hidden = nn.functional.gelu(self.project(x, "intermediate"))
            return nn.functional.layer_norm(x + self.project(hidden, "output"), (WIDTH,), self.ln["w2"], self.ln["b2"],
                                            eps=EPS)

    class MiniLM(nn.Module):  # type: ignore[name-defined,misc]
        def __init__(self) -> None:
            super().__init__()
            self.words = tensor("embeddings.word_embeddings.weight")
            self.positions = tensor("embeddings.position_embeddings.weight")
            self.types = tensor("embeddings.token_type_embeddings.weight")
            self.ln_w, self.ln_b = tensor("embeddings.LayerNorm.weight"), tensor("embeddings.LayerNorm.bias")
            self.layers = nn.ModuleList(Layer(i) for i in range(LAYERS))

        def forward(self, input_ids: Any, attention_mask: Any) -> Any:
            t = input_ids.shape[1]
            x = self.words[input_ids] + self.positions[:t][None] + self.types[0][None, None]
            x = nn.functional.layer_norm(x, (WIDTH,), self.ln_w, self.ln_b, eps=EPS)
            mask = attention_mask.to(x.dtype)
            bias = ((1.0 - mask) * -1e4)[:, None, None, :]
            for layer in self.layers:
                x = layer(x, bias)
            return (x * mask[:, :, None]).sum(dim=1) / mask.sum(dim=1, keepdim=True).clamp(min=1e-9)

    return MiniLM()
