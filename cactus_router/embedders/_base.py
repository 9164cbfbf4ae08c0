"""The Embedder interface, prompt checks and the embedder fingerprint."""

from __future__ import annotations

import abc
import functools
import hashlib
from collections.abc import Callable, Sequence
from typing import Protocol, runtime_checkable

import numpy as np

from ..errors import ArgumentError, EmbedderError, PromptError

#: Fixed texts whose embeddings identify an embedding space (see ``fingerprint``).
PROBE_TEXTS: tuple[str, ...] = (
    "What is the capital of France?",
    "Write a Python function that returns the n-th Fibonacci number.",
    "Solve for x: 3x + 7 = 22.",
    "Summarise the plot of Hamlet in two sentences.",
)

#: Probe embeddings must agree at least this well (cosine) for two embedders to be "the same".
PROBE_MIN_COSINE = 0.99


def check_prompt(text: object) -> str:
    """Return ``text`` if it is routable, else raise PromptError saying why."""
    if not isinstance(text, str):
        raise PromptError(
            f"prompt must be str, not {type(text).__name__}; decode bytes with .decode('utf-8') first"
        )
    if not text.strip():
        raise PromptError("prompt is empty or whitespace only; pass the text to route")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise PromptError(
            f"prompt is not valid Unicode (lone surrogate at index {exc.start}); "
            "decode it with errors='replace' first"
        ) from None
    return text


def l2_normalise(vectors: np.ndarray, dtype: type = np.float32) -> np.ndarray:
    """Return rows scaled to unit L2 norm, as ``dtype`` (zero rows stay zero). The one place the
    package normalises: embeddings, probe vectors, K-means centroids (float64), baselines."""
    out: np.ndarray = np.asarray(vectors, dtype=dtype)
    norms = np.linalg.norm(out, axis=-1, keepdims=True)
    unit: np.ndarray = out / np.maximum(norms, dtype(1e-12))
    return unit


def fingerprint_digest(name: str, probes: np.ndarray) -> str:
    """Short digest of an embedder's name and its probe embeddings rounded to 2 decimals."""
    rounded = np.round(np.asarray(probes, dtype=np.float64), 2) + 0.0  # +0.0 folds -0.0 into 0.0
    h = hashlib.sha256(name.encode("utf-8"))
    h.update(np.ascontiguousarray(rounded).tobytes())
    return "sha256:" + h.hexdigest()[:16]


@runtime_checkable
class Embedder(Protocol):
    """What the router needs of an embedder: a named, fixed-dimension, L2-normalised map."""

    @property
    def name(self) -> str: ...

    @property
    def dim(self) -> int: ...

    @property
    def fingerprint(self) -> str: ...

    def probe_embeddings(self) -> np.ndarray: ...

    def embed(self, text: str) -> np.ndarray: ...

    def embed_many(self, texts: Sequence[str]) -> np.ndarray: ...


class BaseEmbedder(abc.ABC):
    """Shared behaviour of the bundled embedders; subclasses implement ``_embed_batch``.

    Subclasses set ``name``, ``dim`` and ``max_input`` (a description of their truncation rule).
    """

    name: str
    dim: int
    max_input: str

    @abc.abstractmethod
    def _embed_batch(self, texts: list[str]) -> np.ndarray:
        """Embed checked prompts; return an (n, dim) array (normalisation is done here after)."""

    def embed(self, text: str) -> np.ndarray:
        """Embed one prompt into an L2-normalised float32 vector of length ``dim``."""
        vec: np.ndarray = self.embed_many([text])[0]
        return vec

    def embed_many(self, texts: Sequence[str]) -> np.ndarray:
        """Embed prompts into an L2-normalised float32 array of shape (n, dim)."""
        if isinstance(texts, (str, bytes)):
            raise PromptError("embed_many takes a sequence of prompts, not one string")
        checked = [check_prompt(t) for t in texts]
        if not checked:
            return np.zeros((0, self.dim), dtype=np.float32)
        raw = np.asarray(self._embed_batch(checked), dtype=np.float32)
        if raw.shape != (len(checked), self.dim):
            raise EmbedderError(
                f"embedder {self.name!r} returned shape {raw.shape}, expected ({len(checked)}, {self.dim})"
            )
        if not np.isfinite(raw).all():
            raise EmbedderError(f"embedder {self.name!r} returned NaN or infinite values")
        return l2_normalise(raw)

    @functools.cached_property
    def _probes(self) -> np.ndarray:
        return self.embed_many(list(PROBE_TEXTS))

    def probe_embeddings(self) -> np.ndarray:
        """Embeddings of PROBE_TEXTS, which identify this embedding space."""
        return self._probes.copy()

    @property
    def fingerprint(self) -> str:
        """Digest of this embedder's name and probe embeddings (see ``fingerprint_digest``)."""
        return fingerprint_digest(self.name, self._probes)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, dim={self.dim})"


class CallableEmbedder(BaseEmbedder):
    """Wraps a user's function ``texts -> array (n, dim)`` as an Embedder.

    Args:
        fn: maps a list of prompts to an array of shape (n, dim); need not normalise.
        name: a stable name for the embedding space (recorded in profiles).
        dim: the embedding dimension.
    """

    max_input = "whatever the wrapped function accepts"

    def __init__(self, fn: Callable[[list[str]], np.ndarray], *, name: str, dim: int) -> None:
        if not callable(fn):
            raise ArgumentError("fn must be callable: texts -> array of shape (n, dim)")
        if not isinstance(dim, int) or dim < 1:
            raise ArgumentError(f"dim must be a positive int, got {dim!r}")
        self._fn = fn
        self.name = name
        self.dim = dim

    def _embed_batch(self, texts: list[str]) -> np.ndarray:
        return self._fn(texts)
