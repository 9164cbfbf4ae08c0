"""The optional tier fields of a v1 profile: ``tiers``, ``policy_map`` and ``policies``.

A profile without them is read and written exactly as before, byte for byte.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Any

import numpy as np

from ..errors import ProfileError
from ..tiers import TIERS, check_tier
from ..tiers.rules import KeywordRule, Rule, parse_rule
from .model import CAPABILITIES, TierCounts, TierRule
from .validate import Validator

#: The most models one tier's list in a policy map may name.
MAX_MAP_MODELS = 256
#: The most rules a profile's ``policies`` list may hold.
MAX_RULES = 32


def parse_tiers(v: Validator, raw: Any, k: int) -> TierCounts:
    """``$.tiers``: ``{"counts"?: K x 3 integers, "smoothing"?: number, "rule"?: {"margin", "ambiguous_error"}}``."""
    if not isinstance(raw, dict):
        raise v.fail("$.tiers", "must be an object {counts?, smoothing?, rule?}")
    for key in raw:
        if key not in ("counts", "smoothing", "rule"):
            raise v.fail(f"$.tiers.{key}", "is not a field of tiers (its fields: counts, smoothing, rule)")
    counts = None
    if "counts" in raw:
        counts = v.array(raw["counts"], "$.tiers.counts", (k, len(TIERS)), 0, 2**53, dtype=np.int64)
    smoothing = v.number(raw.get("smoothing", 0.0), "$.tiers.smoothing", 0.0, 1e6)
    rule = None
    if "rule" in raw:
        r = raw["rule"]
        if not isinstance(r, dict) or set(r) - {"margin", "ambiguous_error"}:
            raise v.fail("$.tiers.rule", "must be an object {margin?, ambiguous_error?} of numbers in [0, 1]")
        rule = TierRule(v.number(r.get("margin", TierRule.margin), "$.tiers.rule.margin", 0.0, 1.0),
                        v.number(r.get("ambiguous_error", TierRule.ambiguous_error), "$.tiers.rule.ambiguous_error",
                                 0.0, 1.0))
    return TierCounts(counts, smoothing, rule)


def policy_map_dict(policy_map: Mapping[str, Sequence[str]]) -> dict[str, list[str]]:
    """The map as JSON data, its tiers in ``TIERS`` order (so equal maps give equal bytes)."""
    return {t: list(policy_map[t]) for t in TIERS if t in policy_map}


def tiers_dict(t: TierCounts) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if t.counts is not None:
        out["counts"] = [[int(x) for x in row] for row in t.counts]
    if t.smoothing:
        out["smoothing"] = t.smoothing
    if t.rule is not None:
        out["rule"] = {"margin": t.rule.margin, "ambiguous_error": t.rule.ambiguous_error}
    return out


def parse_policy_map(v: Validator, raw: Any, ids: Sequence[str]) -> Mapping[str, tuple[str, ...]]:
    """``$.policy_map``: ``{tier: [model id, ...]}``, each list non-empty, without repeats, of the profile's models."""
    if not isinstance(raw, dict) or not raw:
        raise v.fail("$.policy_map", "must be a non-empty object {tier: [model ids, first eligible wins]}")
    out: dict[str, tuple[str, ...]] = {}
    for tier, models in raw.items():
        check_tier(tier, f"{v.what}: $.policy_map key", ProfileError)
        out[tier] = check_map_list(models, ids, lambda msg, t=tier: v.fail(f"$.policy_map.{t}", msg))
    return MappingProxyType(out)


def check_map_list(models: Any, ids: Sequence[str], fail: Any) -> tuple[str, ...]:
    """One tier's list of a policy map, checked against the profile's model ids (``fail(msg)`` raises)."""
    if not isinstance(models, (list, tuple)) or not 1 <= len(models) <= MAX_MAP_MODELS \
            or not all(isinstance(m, str) for m in models):
        raise fail(f"must be an array of 1 to {MAX_MAP_MODELS} model ids")
    unknown = [m for m in models if m not in ids]
    if unknown:
        raise fail(f"names {unknown[0]!r}, which is not a model of the profile")
    if len(set(models)) != len(models):
        raise fail("names a model twice")
    return tuple(models)


def parse_policies(v: Validator, raw: Any, ids: Sequence[str]) -> tuple[Rule, ...]:
    """``$.policies``: an array of rule objects (``cactus_router.tiers.rules``)."""
    if not isinstance(raw, list) or len(raw) > MAX_RULES:
        raise v.fail("$.policies", f"must be an array of at most {MAX_RULES} rule objects")
    rules = tuple(parse_rule(r, f"$.policies[{i}]", v.fail, ids, CAPABILITIES) for i, r in enumerate(raw))
    names = [r.name for r in rules]
    for i, name in enumerate(names):
        if name in names[:i]:
            raise v.fail(f"$.policies[{i}].name", f"repeats rule {name!r}; give each rule once")
    return rules


def check_tier_fields(tiers: TierCounts | None, policy_map: Mapping[str, Sequence[str]] | None,
                      policies: Sequence[Rule], ids: Sequence[str], k: int) -> None:
    """What a Profile built in code must satisfy too (``from_dict`` checks it with JSON paths)."""
    if tiers is not None and tiers.counts is not None and tiers.counts.shape != (k, len(TIERS)):
        raise ProfileError(f"tiers.counts must have shape [{k}, {len(TIERS)}], got {list(tiers.counts.shape)}")
    for tier, models in (policy_map or {}).items():
        check_tier(tier, "policy_map key", ProfileError)
        check_map_list(models, ids, lambda msg, t=tier: ProfileError(f"policy_map.{t} {msg}"))
    for r in policies:
        if isinstance(r, KeywordRule):
            for e in r.entries:
                if e.model is not None and e.model not in ids:
                    raise ProfileError(f"keyword rule names model {e.model!r}, which is not a model of the profile")
