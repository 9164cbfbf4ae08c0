"""Parsing untrusted JSON with limits, and checking free-form JSON trees."""

from __future__ import annotations

import json
import math
from typing import Any

#: Largest profile file accepted (a K=1024, D=1024 profile is about 10 MB of JSON).
MAX_PROFILE_BYTES = 64 * 1024 * 1024
#: Deepest nesting accepted in a free-form part of a file (a profile's training provenance).
MAX_FREE_FORM_DEPTH = 32


def _no_constants(name: str) -> float:
    raise ValueError(f"{name} is not valid JSON")


class _DuplicateKey(ValueError):
    pass


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """An object whose keys are all distinct: with a duplicate, which value wins is unclear."""
    out = dict(pairs)
    if len(out) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _DuplicateKey(f"duplicate key {json.dumps(key)}")
            seen.add(key)
    return out


def loads_limited(data: bytes | str, what: str, error: type[Exception]) -> Any:
    """Parse JSON within the size limit, refusing duplicate keys; raise ``error`` naming ``what`` otherwise."""
    if len(data) > MAX_PROFILE_BYTES:
        raise error(f"{what}: larger than {MAX_PROFILE_BYTES // (1024 * 1024)} MB; not a profile")
    if isinstance(data, bytes):
        try:
            data = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise error(f"{what}: not UTF-8 text (byte {exc.start}); profiles are JSON files") from None
    try:
        # json's C scanner raises RecursionError on absurd nesting; the schema check that
        # follows rejects any nesting a profile does not have.
        return json.loads(data, parse_constant=_no_constants, object_pairs_hook=_unique_keys)
    except _DuplicateKey as exc:
        raise error(f"{what}: {exc}; every key of an object must be unique") from None
    except (ValueError, RecursionError) as exc:
        raise error(f"{what}: not valid JSON ({exc})") from None


def free_form_problem(obj: Any, path: str, max_depth: int = MAX_FREE_FORM_DEPTH) -> str | None:
    """Check a parsed free-form JSON tree; return "PATH problem" of the first problem, else None.

    Problems: nesting deeper than ``max_depth`` (later recursive code would hit RecursionError),
    a non-finite number (``1e400`` parses to inf, which could not be written back as JSON), or a
    string that is not valid Unicode (a lone surrogate from a ``\\ud800`` escape: not writable as UTF-8).
    """
    stack: list[tuple[Any, str, int]] = [(obj, path, 0)]
    while stack:
        node, where, depth = stack.pop()
        if isinstance(node, (dict, list)):
            if depth >= max_depth:
                return f"{where} is nested deeper than {max_depth} levels"
            items = node.items() if isinstance(node, dict) else enumerate(node)
            for key, child in items:
                if isinstance(key, str) and not is_unicode(key):
                    return f"{where} has a key that is not valid Unicode (a lone surrogate)"
                sub = member_path(where, str(key)) if isinstance(node, dict) else f"{where}[{key}]"
                stack.append((child, sub, depth + 1))
        elif isinstance(node, float) and not math.isfinite(node):
            return f"{where} must be a finite number"
        elif isinstance(node, str) and not is_unicode(node):
            return f"{where} is not valid Unicode (a lone surrogate)"
    return None


def member_path(where: str, key: str) -> str:
    """The JSON path of ``where``'s member ``key``: ``$.a.b`` for a plain name, else ``$.a["k\\n"]``,
    quoted and escaped so that a path from hostile data stays on one unambiguous line."""
    if key.isascii() and key.replace("_", "a").replace("-", "a").isalnum() and not key[:1].isdigit():
        return f"{where}.{key}"
    return f"{where}[{json.dumps(key)}]"


def is_unicode(s: str) -> bool:
    """Whether s encodes as UTF-8 (no lone surrogates)."""
    try:
        s.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
