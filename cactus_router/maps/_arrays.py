"""The learned maps' stored arrays: base64 data of a fixed shape, checked on load and named by JSON path."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..errors import ProfileError
from ..ood._plain import decode_array, encode_array

__all__ = ["MAX_ROWS", "decode", "encode_array"]

#: Most rows a map's array may hold.
MAX_ROWS = 16384


def decode(obj: Any, path: str, dtype: str, shape: Sequence[int | None], axes: str) -> np.ndarray:
    """Validate and decode ``encode_array``'s output of ``shape`` (None: any size, at most MAX_ROWS).

    Raises:
        ProfileError: bad data (``decode_array``), or another shape, naming ``axes`` (``"rows, models"``).
    """
    a = decode_array(obj, path, len(shape), MAX_ROWS, dtype)
    if any(want is not None and got != want for got, want in zip(a.shape, shape)):
        expected = ", ".join("any" if s is None else str(s) for s in shape)
        raise ProfileError(f"{path} must have shape [{expected}] ({axes}), got {list(a.shape)}")
    return a
