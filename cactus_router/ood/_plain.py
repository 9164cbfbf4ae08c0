"""Plain-data helpers of the out-of-distribution checks and the learned maps: validation with JSON
paths, arrays as base64."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from typing import Any

import numpy as np

from ..errors import ArgumentError, ProfileError

#: Largest array side a check may store (rows or dimension).
MAX_SIDE = 65536


def unit(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit L2 norm (zero rows stay zero)."""
    out: np.ndarray = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
    return out


def as_matrix(embeddings: Any, dim: int) -> np.ndarray:
    """A finite float32 (n, dim) array, or ArgumentError."""
    x = np.asarray(embeddings, dtype=np.float32)
    if x.ndim == 1:
        x = x[None, :]
    if x.ndim != 2 or x.shape[1] != dim:
        raise ArgumentError(f"embeddings must have shape (n, {dim}), got {np.shape(embeddings)}")
    if not np.isfinite(x).all():
        raise ArgumentError("embeddings must be finite")
    return x


def mapping(obj: Any, path: str) -> Mapping[str, Any]:
    if not isinstance(obj, Mapping):
        raise ProfileError(f"{path} must be an object, got {type(obj).__name__}")
    return obj


def number(v: Any, path: str, lo: float, hi: float) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not lo <= v <= hi:
        raise ProfileError(f"{path} must be a number in [{lo:g}, {hi:g}], got {v!r}")
    return float(v)


def integer(v: Any, path: str, lo: int, hi: int) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
        raise ProfileError(f"{path} must be an integer in [{lo}, {hi}], got {v!r}")
    return v


def numbers(v: Any, path: str, n: int | None, lo: float, hi: float) -> np.ndarray:
    """A JSON list of numbers (of length ``n`` when given) as float64."""
    if not isinstance(v, list) or (n is not None and len(v) != n):
        raise ProfileError(f"{path} must be a list of {n if n is not None else 'some'} numbers")
    return np.array([number(x, f"{path}[{i}]", lo, hi) for i, x in enumerate(v)], dtype=np.float64)


#: Array dtypes the plain data may hold, by name: little-endian bytes.
DTYPES = {"float16": "<f2", "float32": "<f4"}


def encode_f16(a: np.ndarray) -> dict[str, Any]:
    """``{"dtype": "float16", "shape": [...], "base64": ...}``: little-endian float16 bytes."""
    return encode_array(a, "float16")


def decode_f16(obj: Any, path: str, ndim: int, max_rows: int) -> np.ndarray:
    """``decode_array`` of float16 data."""
    return decode_array(obj, path, ndim, max_rows, "float16")


def encode_array(a: np.ndarray, dtype: str) -> dict[str, Any]:
    """``{"dtype": dtype, "shape": [...], "base64": ...}``: little-endian bytes of a ``DTYPES`` dtype."""
    data = np.ascontiguousarray(a, dtype=DTYPES[dtype]).tobytes()
    return {"dtype": dtype, "shape": list(a.shape), "base64": base64.b64encode(data).decode("ascii")}


def decode_array(obj: Any, path: str, ndim: int, max_rows: int, dtype: str) -> np.ndarray:
    """Validate and decode ``encode_array``'s output of ``ndim`` dimensions (the first at most ``max_rows``).

    Raises:
        ProfileError: a bad dtype, shape, base64 text, byte count, or a non-finite value.
    """
    d = mapping(obj, path)
    if d.get("dtype") != dtype:
        raise ProfileError(f"{path}.dtype must be {dtype!r}, got {d.get('dtype')!r}")
    shape = d.get("shape")
    if not isinstance(shape, list) or len(shape) != ndim:
        raise ProfileError(f"{path}.shape must be a list of {ndim} integers, got {shape!r}")
    dims = [integer(s, f"{path}.shape[{i}]", 1, max_rows if i == 0 else MAX_SIDE) for i, s in enumerate(shape)]
    code = np.dtype(DTYPES[dtype])
    size = code.itemsize * int(np.prod(dims))
    text = d.get("base64")
    if not isinstance(text, str) or len(text) > 4 * (size + 2) // 3 + 4:
        raise ProfileError(f"{path}.base64 must be a string of {size} bytes in base64")
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise ProfileError(f"{path}.base64 is not valid base64") from None
    if len(raw) != size:
        raise ProfileError(f"{path}.base64 holds {len(raw)} bytes; shape {dims} of {dtype} needs {size}")
    a = np.frombuffer(raw, dtype=code).reshape(dims).astype(code.newbyteorder("="))
    if not np.isfinite(a).all():
        raise ProfileError(f"{path} holds a NaN or infinite value")
    return a
