"""Validation of parsed profile JSON: every check names the JSON path of the first problem."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from .._json import free_form_problem
from .._native import MAX_CLUSTERS, MAX_DIM
from ..errors import ProfileError
from .model import (
    CAPABILITIES,
    MAX_CONTEXT_LENGTH,
    MAX_COST,
    MAX_SIZE_MB,
    MAX_TOKENS_PER_SEC,
    ModelInfo,
    RoutingDefaults,
)

#: Centroids are handed to the C core as float32: a larger component would become infinite.
F32_MAX = float(np.finfo(np.float32).max)


def kind(v: Any) -> str:
    return {dict: "an object", list: "an array", str: "a string", bool: "a boolean", type(None): "null"}.get(
        type(v), "a number"
    )


class Validator:
    """Validation helpers that name the JSON path of the first problem, raising ``error``."""

    def __init__(self, what: str, error: type[Exception] = ProfileError) -> None:
        self.what = what
        self.error = error

    def fail(self, path: str, msg: str) -> Exception:
        return self.error(f"{self.what}: {path} {msg}".replace(":  ", ": "))

    def obj(self, parent: Mapping[str, Any], key: str, path: str) -> dict[str, Any]:
        v = self.get(parent, key, path)
        if not isinstance(v, dict):
            raise self.fail(f"{path}.{key}", f"must be an object, got {kind(v)}")
        return v

    def get(self, parent: Mapping[str, Any], key: str, path: str) -> Any:
        if key not in parent:
            raise self.fail(path, f"is missing required key {key!r}")
        return parent[key]

    def string(self, v: Any, path: str) -> str:
        if not isinstance(v, str) or not v:
            raise self.fail(path, f"must be a non-empty string, got {kind(v)}")
        if free_form_problem(v, path):  # a lone surrogate could not be written back as UTF-8
            raise self.fail(path, "is not valid Unicode (a lone surrogate)")
        return v

    def number(self, v: Any, path: str, lo: float | None = None, hi: float | None = None) -> float:
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise self.fail(path, f"must be a number, got {kind(v)}")
        try:
            x = float(v)
        except OverflowError:  # an integer literal beyond float range, e.g. 10**400
            raise self.fail(path, "must be finite, got an integer too large for a float") from None
        if not math.isfinite(x):
            raise self.fail(path, "must be finite")
        if (lo is not None and x < lo) or (hi is not None and x > hi):
            raise self.fail(path, f"must be in [{lo}, {hi}], got {x}")
        return x

    def integer(self, v: Any, path: str, lo: int, hi: int) -> int:
        if isinstance(v, bool) or not isinstance(v, int):
            raise self.fail(path, f"must be an integer, got {kind(v)}")
        if not lo <= v <= hi:
            raise self.fail(path, f"must be in [{lo}, {hi}], got {v}")
        return v

    def array(self, v: Any, path: str, shape: tuple[int, ...], lo: float | None = None,
              hi: float | None = None, dtype: type = np.float64) -> np.ndarray:
        """A numeric array of exactly ``shape``; finite and within [lo, hi]."""
        if not isinstance(v, list):
            raise self.fail(path, f"must be an array, got {kind(v)}")
        try:
            a = np.array(v, dtype=np.float64)
        except (ValueError, TypeError, OverflowError):
            raise self.fail(path, f"must be a {'x'.join(map(str, shape))} array of numbers") from None
        if a.shape != shape:
            raise self.fail(path, f"must have shape {list(shape)}, got {list(a.shape)}")
        if has_non_number(v):
            raise self.fail(path, "must hold numbers only (no strings, booleans or nulls)")
        bad = ~np.isfinite(a)
        if lo is not None:
            bad |= a < lo
        if hi is not None:
            bad |= a > hi
        if bad.any():
            idx = "".join(f"[{i}]" for i in np.argwhere(bad)[0])
            raise self.fail(f"{path}{idx}", f"must be finite and in [{lo}, {hi}], got {a[bad][0]}")
        if dtype is np.int64 and (a != np.floor(a)).any():
            idx = "".join(f"[{i}]" for i in np.argwhere(a != np.floor(a))[0])
            raise self.fail(f"{path}{idx}", f"must be a whole number, got {a[a != np.floor(a)][0]}")
        return a.astype(dtype)

    def free_form(self, obj: Any, path: str) -> None:
        """A free-form part (provenance): bounded nesting, finite numbers, valid Unicode."""
        problem = free_form_problem(obj, path)
        if problem:
            raise self.error(f"{self.what}: {problem}")


def has_non_number(v: Any) -> bool:
    if isinstance(v, list):
        return any(has_non_number(x) for x in v) if v and isinstance(v[0], list) else any(
            isinstance(x, bool) or not isinstance(x, (int, float)) for x in v
        )
    return isinstance(v, bool) or not isinstance(v, (int, float))


def parse_routing(v: Validator, r: Mapping[str, Any], path: str, bias_key: str, ids: Sequence[str]) -> RoutingDefaults:
    lmin = v.number(r.get("lambda_min", 0.0), f"{path}.lambda_min", 0.0, 1e6)
    lmax = v.number(r.get("lambda_max", 2.0), f"{path}.lambda_max", 0.0, 1e6)
    if lmax < lmin:
        raise v.fail(f"{path}.lambda_max", f"must be >= lambda_min ({lmin}), got {lmax}")
    bias = v.number(r.get(bias_key, 0.5), f"{path}.{bias_key}", 0.0, 1.0)
    temperature = v.number(r.get("temperature", 0.0), f"{path}.temperature", 0.0, 10.0)
    ood = r.get("ood_threshold")
    ood = None if ood is None else v.number(ood, f"{path}.ood_threshold", -1.0, 1.0)
    fallback = r.get("fallback")
    if fallback is not None and fallback not in ids:
        raise v.fail(f"{path}.fallback", f"must be one of the profile's model ids, got {fallback!r}")
    return RoutingDefaults(lmin, lmax, bias, temperature, ood, fallback)


def parse_centroids(v: Validator, c: Mapping[str, Any], path: str, key: str) -> np.ndarray:
    raw = v.get(c, key, path)
    if not isinstance(raw, list) or not raw or not isinstance(raw[0], list):
        raise v.fail(f"{path}.{key}", "must be a non-empty array of arrays (K x D)")
    k, d = len(raw), len(raw[0])
    if not (1 <= k <= MAX_CLUSTERS and 1 <= d <= MAX_DIM):
        raise v.fail(f"{path}.{key}", f"has shape {k}x{d}, outside 1..{MAX_CLUSTERS} x 1..{MAX_DIM}")
    cent = v.array(raw, f"{path}.{key}", (k, d), -F32_MAX, F32_MAX)
    # A row must keep a direction as saved (6 decimals, see to_dict) and as float32 in the C core,
    # or a profile that loads would be saved as one that does not.
    zero = np.flatnonzero(~np.round(cent, 6).any(axis=1))
    if zero.size:
        raise v.fail(f"{path}.{key}[{zero[0]}]", "is a zero vector (at the 6 decimals profiles are saved with); "
                     "a centroid needs a direction")
    return cent  # kept as written, so a profile round-trips byte for byte; the C core normalises


def check_ids(v: Validator, models: Sequence[ModelInfo], path: str) -> None:
    seen: set[str] = set()
    for i, m in enumerate(models):
        if m.id in seen:
            raise v.fail(f"{path}[{i}].id", f"duplicates model id {m.id!r}; ids must be unique")
        seen.add(m.id)


def parse_caps(v: Validator, raw: Any, path: str) -> frozenset[str]:
    if not isinstance(raw, list) or not all(isinstance(c, str) for c in raw):
        raise v.fail(path, "must be an array of strings")
    unknown = sorted(set(raw) - CAPABILITIES)
    if unknown:
        raise v.fail(path, f"has unknown capability {unknown[0]!r} (known: {', '.join(sorted(CAPABILITIES))})")
    return frozenset(raw)




def model_facts(v: Validator, m: Any, p: str, *, model_list: bool = False) -> dict[str, Any]:
    """A model's facts (no rates) from its JSON object, checked against the one set of bounds:
    the keyword arguments of ``ModelInfo``. In a user's model list (``model_list``) a missing
    cost is the size in MB and a null fact is an absent one; a profile, which is written back
    byte for byte, has neither."""
    if not isinstance(m, dict):
        raise v.fail(p, f"must be an object, got {kind(m)}")
    if model_list:
        m = {key: val for key, val in m.items() if val is not None}
    cost_from_size = model_list
    model_id = v.string(v.get(m, "id", p), f"{p}.id")
    cost = m.get("cost", m.get("size_mb") if cost_from_size else None)
    if cost is None:
        raise v.fail(p, f"({model_id}) needs a 'cost'" + (" (or a 'size_mb' to use as cost)" if cost_from_size else ""))
    return {
        "id": model_id,
        "cost": v.number(cost, f"{p}.cost", 0.0, MAX_COST),
        "size_mb": v.number(m["size_mb"], f"{p}.size_mb", 0.0, MAX_SIZE_MB) if "size_mb" in m else None,
        "tokens_per_sec": v.number(m["tokens_per_sec"], f"{p}.tokens_per_sec", 0.0, MAX_TOKENS_PER_SEC)
        if "tokens_per_sec" in m else None,
        "context_length": v.integer(m["context_length"], f"{p}.context_length", 1, MAX_CONTEXT_LENGTH)
        if "context_length" in m else None,
        "capabilities": parse_caps(v, m.get("capabilities", ["text"]), f"{p}.capabilities"),
    }
