"""Models to train for: the Cactus on-device catalog, or a user's own model list (ModelInfo without rates)."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import Any

from .._files import read_input
from .._json import MAX_PROFILE_BYTES, loads_limited
from ..errors import RoutingTableError
from .model import ModelInfo
from .validate import Validator, model_facts


def model_from_dict(d: Any, where: str = "model") -> ModelInfo:
    """A model to train for from ``{"id", "cost"?, "size_mb"?, "tokens_per_sec"?,
    "context_length"?, "capabilities"?}``; the cost defaults to size_mb.

    Raises:
        RoutingTableError: a fact is missing, of the wrong type or out of bounds.
    """
    return ModelInfo(**model_facts(Validator(where, RoutingTableError), d, "$", model_list=True))


def cactus_catalog() -> list[ModelInfo]:
    """The Cactus on-device model catalog (cost = size in MB)."""
    text = (resources.files("cactus_router") / "_data" / "catalog.json").read_text(encoding="utf-8")
    return [model_from_dict(d, f"catalog[{i}]") for i, d in enumerate(json.loads(text))]


def load_models(source: str | os.PathLike[str] | Sequence[Any]) -> list[ModelInfo]:
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
    specs = [s if isinstance(s, ModelInfo) else model_from_dict(s, _where(where, i, s)) for i, s in enumerate(raw)]
    ids = [s.id for s in specs]
    dupes = sorted({i for i in ids if ids.count(i) > 1})
    if dupes:
        raise RoutingTableError(f"{where}: model id {dupes[0]!r} appears more than once")
    return specs


def _where(where: str, i: int, entry: Any) -> str:
    """``models.json[2] (gemma-270m)``: an entry's place in its list, and its id when it has one."""
    name = entry.get("id") if isinstance(entry, dict) else None
    return f"{where}[{i}]" + (f" ({name})" if isinstance(name, str) and name else "")
