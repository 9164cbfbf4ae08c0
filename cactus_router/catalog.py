"""Model specs for training: the Cactus on-device catalog, or a user's own model list."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from ._files import read_input
from ._json import MAX_PROFILE_BYTES, loads_limited
from .errors import RoutingTableError
from .profile import CAPABILITIES


@dataclass(frozen=True)
class ModelSpec:
    """A model to route to, before training: id, cost and optional facts (no error rates yet).

    For the Cactus catalog the cost is the model's size in MB: on a device, memory and load time
    grow with size, and tokens/s falls with it.
    """

    id: str
    cost: float
    size_mb: float | None = None
    tokens_per_sec: float | None = None
    context_length: int | None = None
    capabilities: frozenset[str] = frozenset({"text"})

    @classmethod
    def from_dict(cls, d: Any, where: str = "model") -> ModelSpec:
        """Validate a ``{"id", "cost"?, "size_mb"?, ...}`` object; cost defaults to size_mb."""
        if not isinstance(d, dict) or not isinstance(d.get("id"), str) or not d["id"]:
            raise RoutingTableError(f"{where}: must be an object with a non-empty string 'id'")
        cost = d.get("cost", d.get("size_mb"))
        for key, val in (("cost", cost), ("size_mb", d.get("size_mb")), ("tokens_per_sec", d.get("tokens_per_sec"))):
            if val is not None and (isinstance(val, bool) or not isinstance(val, (int, float)) or not 0 <= val < 1e12):
                raise RoutingTableError(f"{where} ({d['id']}): {key} must be a number in [0, 1e12), got {val!r}")
        if cost is None:
            raise RoutingTableError(f"{where} ({d['id']}): needs a 'cost' (or a 'size_mb' to use as cost)")
        caps = d.get("capabilities", ["text"])
        if not isinstance(caps, list) or not all(isinstance(c, str) for c in caps) or not set(caps) <= CAPABILITIES:
            raise RoutingTableError(
                f"{where} ({d['id']}): capabilities must be a list drawn from {sorted(CAPABILITIES)}")
        ctx = d.get("context_length")
        if ctx is not None and (isinstance(ctx, bool) or not isinstance(ctx, int) or ctx < 1):
            raise RoutingTableError(f"{where} ({d['id']}): context_length must be a positive integer")
        return cls(
            id=d["id"],
            cost=float(cost),
            size_mb=None if d.get("size_mb") is None else float(d["size_mb"]),
            tokens_per_sec=None if d.get("tokens_per_sec") is None else float(d["tokens_per_sec"]),
            context_length=ctx,
            capabilities=frozenset(caps),
        )


def cactus_catalog() -> list[ModelSpec]:
    """The Cactus on-device model catalog (cost = size in MB)."""
    text = (resources.files("cactus_router") / "_data" / "catalog.json").read_text(encoding="utf-8")
    return [ModelSpec.from_dict(d, f"catalog[{i}]") for i, d in enumerate(json.loads(text))]


def load_models(source: str | os.PathLike[str] | Sequence[Any]) -> list[ModelSpec]:
    """Model specs from ``"cactus"`` (the catalog), a JSON file holding a list, or a list of dicts.

    Raises:
        RoutingTableError: the file is not a regular file of at most 64 MB of JSON, or a bad entry.
    """
    if isinstance(source, str) and source == "cactus":
        return cactus_catalog()
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        data = read_input(path, "model list", RoutingTableError, MAX_PROFILE_BYTES)
        raw = loads_limited(data, str(path), RoutingTableError)
        where = str(path)
    else:
        raw, where = list(source), "models"
    if not isinstance(raw, list) or not raw:
        raise RoutingTableError(f"{where}: a model list must be a non-empty JSON array of objects")
    specs = [s if isinstance(s, ModelSpec) else ModelSpec.from_dict(s, f"{where}[{i}]") for i, s in enumerate(raw)]
    ids = [s.id for s in specs]
    dupes = sorted({i for i in ids if ids.count(i) > 1})
    if dupes:
        raise RoutingTableError(f"{where}: model id {dupes[0]!r} appears more than once")
    return specs
