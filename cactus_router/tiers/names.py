"""The three tier names, and the order in which tiers are severe."""

from __future__ import annotations

import reprlib
from collections.abc import Iterable

STANDARD, COMPLEX, AMBIGUOUS = "Standard", "Complex", "Ambiguous"
#: The tiers in the order a profile stores their counts.
TIERS = (STANDARD, COMPLEX, AMBIGUOUS)
#: How much a tier says about a prompt, least first: Complex asks for the large model, Ambiguous
#: says neither model is expected to answer. When rules disagree, the most severe tier wins.
SEVERITY = {STANDARD: 0, COMPLEX: 1, AMBIGUOUS: 2}


def check_tier(value: object, field: str, error: type[Exception]) -> str:
    """``value`` if it is one of the three tier names, else ``error`` naming ``field``."""
    if not isinstance(value, str) or value not in SEVERITY:
        raise error(f"{field} must be one of {', '.join(TIERS)}, got {reprlib.repr(value)}")
    return value


def most_severe(tiers: Iterable[str]) -> str:
    """The most severe of ``tiers`` (at least one)."""
    return max(tiers, key=SEVERITY.__getitem__)
