"""The checks every vector passes before it reaches the C core: shape, dtype, layout, values."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import ArgumentError, EmbedderError


def _problem(a: np.ndarray, shape: tuple[int, ...]) -> tuple[np.ndarray | None, str]:
    """``a`` as a C-contiguous float32 array of ``shape``, or None and what is wrong with it."""
    if a.shape != shape:
        return None, f"shape {a.shape}, expected {shape}"
    if not np.issubdtype(a.dtype, np.floating):
        return None, f"dtype {a.dtype}, expected floating point (float32)"
    # Converted explicitly: a float64 buffer read as float32 would be garbage, not an error.
    with np.errstate(over="ignore"):  # a float64 beyond float32's range becomes inf, refused below
        out = np.ascontiguousarray(a, dtype=np.float32)
    if not np.isfinite(out).all():
        return None, "NaN or infinite values" + ("" if a.dtype == np.float32 else " (as float32)")
    zero = ~out.reshape(-1, shape[-1]).any(axis=1)
    if zero.any():
        return None, "a zero vector" + (f" at row {int(np.argmax(zero))}" if len(shape) == 2 else "")
    return out, ""


def embedder_output(embedder: Any, out: Any, shape: tuple[int, ...]) -> np.ndarray:
    """What ``embedder`` returned, checked to be ``shape`` finite non-zero floats, as float32.

    Raises:
        EmbedderError: naming the embedder and what it returned.
    """
    name = getattr(embedder, "name", type(embedder).__name__)
    if not isinstance(out, np.ndarray):
        raise EmbedderError(f"embedder {name!r} returned {type(out).__name__}, expected a NumPy array of shape {shape}")
    vec, problem = _problem(out, shape)
    if vec is None:
        raise EmbedderError(f"embedder {name!r} returned {problem}; fix the embedder or use one matching the profile")
    return vec


def given_embeddings(x: Any, d: int, *, many: bool, what: str) -> np.ndarray:
    """A caller's embedding (shape (d,)) or embeddings (shape (n, d)), checked like an embedder's.

    Raises:
        ArgumentError: naming what is wrong.
    """
    try:
        a = np.asarray(x)
    except (TypeError, ValueError) as exc:
        raise ArgumentError(f"{what} must be an array of numbers: {exc}") from None
    shape = (a.shape[0] if a.ndim == 2 else 0, d) if many else (d,)
    vec, problem = _problem(a, shape)
    if vec is None:
        raise ArgumentError(f"{what} has {problem.replace('(0, ', '(n, ')}")
    return vec
