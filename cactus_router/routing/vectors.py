"""The checks every vector passes on its way to the C core.

Shape, dtype and layout are checked here, before C reads a byte (a wrong width or a float64
buffer read as float32 would be out-of-bounds reads or garbage). Values (NaN, infinities, a zero
vector) are checked by C itself, which reports them as a status; ``value_error`` turns that
status into the caller's error, naming the embedder when one produced the vector.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import _native
from ..errors import ArgumentError, CoreError, EmbedderError, RouterError

_F32 = np.dtype(np.float32)


def _layout(a: np.ndarray, shape: tuple[int, ...]) -> tuple[np.ndarray | None, str]:
    """``a`` as a C-contiguous float32 array of ``shape``, or None and what is wrong with it."""
    if a.shape != shape:
        return None, f"shape {a.shape}, expected {shape}"
    if a.dtype == np.float32:
        return (a if a.flags.c_contiguous else np.ascontiguousarray(a)), ""
    if not np.issubdtype(a.dtype, np.floating):
        return None, f"dtype {a.dtype}, expected floating point (float32)"
    # Converted explicitly: a float64 buffer read as float32 would be garbage, not an error. A
    # value beyond float32's range becomes inf here, which C then refuses.
    with np.errstate(over="ignore"):
        return np.ascontiguousarray(a, dtype=np.float32), ""


def embedder_output(embedder: Any, out: Any, shape: tuple[int, ...]) -> np.ndarray:
    """What ``embedder`` returned, as a C-contiguous float32 array of ``shape``.

    Raises:
        EmbedderError: naming the embedder and what it returned.
    """
    if not isinstance(out, np.ndarray):
        raise EmbedderError(f"embedder {_name(embedder)!r} returned {type(out).__name__}, expected a NumPy array "
                            f"of shape {shape}")
    vec, problem = _layout(out, shape)
    if vec is None:
        raise EmbedderError(f"embedder {_name(embedder)!r} returned {problem}; fix the embedder or use one matching "
                            "the profile")
    return vec


def given_embeddings(x: Any, d: int, *, many: bool, what: str) -> np.ndarray:
    """A caller's embedding (shape (d,)) or embeddings (shape (n, d)), laid out for C.

    Raises:
        ArgumentError: naming what is wrong.
    """
    if type(x) is np.ndarray and x.dtype is _F32 and x.flags.c_contiguous and (
            x.shape == (d,) if not many else x.ndim == 2 and x.shape[1] == d):
        return x  # already laid out as C reads it: the common case, checked in a few attribute reads
    # (``is`` against the canonical float32 dtype; any other float32 dtype object takes the path below)
    try:
        a = np.asarray(x)
    except (TypeError, ValueError) as exc:
        raise ArgumentError(f"{what} must be an array of numbers: {exc}") from None
    shape = (a.shape[0] if a.ndim == 2 else 0, d) if many else (d,)
    vec, problem = _layout(a, shape)
    if vec is None:
        raise ArgumentError(f"{what} has {problem.replace('(0, ', '(n, ')}")
    return vec


def value_error(exc: CoreError, *, embedder: Any = None, what: str = "embedding") -> RouterError:
    """The caller's error for C refusing a vector's values; any other CoreError is returned as is."""
    if exc.status not in _native.VALUE_STATUSES:
        return exc
    problem = "NaN or infinite values" if exc.status == _native.STATUS_NONFINITE else "a zero vector"
    at = "" if exc.row is None else f" (row {exc.row})"
    if embedder is not None:
        return EmbedderError(f"embedder {_name(embedder)!r} returned {problem}{at}; fix the embedder")
    return ArgumentError(f"{what} has {problem}{at}")


def _name(embedder: Any) -> str:
    return str(getattr(embedder, "name", type(embedder).__name__))
