"""The zero-dependency hash embedder, implemented in the C core."""

from __future__ import annotations

import numpy as np

from .. import _native
from ..errors import ArgumentError
from ._base import BaseEmbedder

DEFAULT_DIM = 512


class HashEmbedder(BaseEmbedder):
    """Signed feature hashing of byte 1- to 4-grams and words, L2-normalised (microseconds).

    Always available, deterministic on every platform; a lexical, not semantic, embedding.

    Args:
        dim: number of hash buckets (the embedding dimension).
    """

    max_input = f"{_native.HASH_MAX_BYTES} UTF-8 bytes (first and last halves kept)"

    def __init__(self, dim: int = DEFAULT_DIM) -> None:
        if isinstance(dim, bool) or not isinstance(dim, int) or not 1 <= dim <= 65536:
            raise ArgumentError(f"dim must be an int in [1, 65536], got {dim!r}")
        self.dim = dim
        self.name = "hash-ngram-v1"

    def _embed_batch(self, texts: list[str]) -> np.ndarray:
        return np.stack([_native.hash_embed(t, self.dim) for t in texts])
