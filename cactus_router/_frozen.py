"""Read-only array fields for frozen dataclasses (a leaf module: the profile, the maps and the
out-of-distribution checks all freeze their learned arrays with it)."""

from __future__ import annotations

from typing import Any

import numpy as np


def freeze_arrays(obj: Any, **dtypes: Any) -> None:
    """Replace a frozen dataclass's array fields by read-only copies: learned state is immutable."""
    for name, dtype in dtypes.items():
        value = getattr(obj, name)
        if value is not None:
            a = np.array(value, dtype=dtype)
            a.setflags(write=False)
            object.__setattr__(obj, name, a)
