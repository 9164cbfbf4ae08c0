"""RouteRequest: the knobs of one routing call, validated once."""

from __future__ import annotations

import numbers
import reprlib
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from ..errors import ArgumentError
from ..profile import CAPABILITIES


def _cost_bias(value: Any) -> float | None:
    if value is None:
        return None
    # numbers.Real admits NumPy's float32/float64/int scalars alike; bool is an int, not a knob.
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0.0 <= float(value) <= 1.0:
        raise ArgumentError(
            f"cost_bias must be a number in [0, 1] (0 = best quality, 1 = cheapest), got {reprlib.repr(value)}")
    return float(value)


def _strings(value: Any, name: str, example: str) -> tuple[str, ...]:
    if isinstance(value, (str, bytes)) or not isinstance(value, Collection):
        raise ArgumentError(f"{name} takes a collection of strings, e.g. {name}={example}; got {reprlib.repr(value)}")
    items = tuple(value)
    bad = [x for x in items if not isinstance(x, str)]
    if bad:
        raise ArgumentError(f"{name} takes strings only, got {reprlib.repr(bad[0])} ({type(bad[0]).__name__})")
    return tuple(sorted(set(items)))


def _max_size(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not float(value) >= 0.0:
        raise ArgumentError(f"max_size_mb must be a number >= 0, got {reprlib.repr(value)}")
    return float(value)


@dataclass(frozen=True, slots=True)
class RouteRequest:
    """What a caller asks of one routing call: the cost knob and the eligibility constraints.

    Build one with ``RouteRequest.of(...)`` (or pass the same keywords to any ``Router.route*``
    method); the constructor validates and normalises, so an invalid request cannot exist.

    Attributes:
        cost_bias: in [0, 1]; 0 = best expected quality regardless of cost, 1 = strongest preference
            for cheap models; None = the profile's default.
        require: capabilities the model must have (``"text"``, ``"tools"``, ``"vision"``, ``"embed"``),
            sorted and without duplicates.
        allow: only these model ids (e.g. the models present on this device), sorted; None = any.
        max_size_mb: only models whose size_mb is known and at most this.
    """

    cost_bias: float | None = None
    require: tuple[str, ...] = ()
    allow: tuple[str, ...] | None = None
    max_size_mb: float | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "cost_bias", _cost_bias(self.cost_bias))
        require = () if self.require is None else _strings(self.require, "require", "['vision']")
        unknown = sorted(set(require) - CAPABILITIES)
        if unknown:
            raise ArgumentError(f"unknown capability {unknown[0]!r}; known: {', '.join(sorted(CAPABILITIES))}")
        object.__setattr__(self, "require", require)
        if self.allow is not None:
            object.__setattr__(self, "allow", _strings(self.allow, "allow", "['gemma-270m']"))
        object.__setattr__(self, "max_size_mb", _max_size(self.max_size_mb))

    @classmethod
    def of(cls, request: RouteRequest | None = None, *, cost_bias: Any = None, require: Collection[str] | None = (),
           allow: Collection[str] | None = None, max_size_mb: Any = None) -> RouteRequest:
        """A request from keywords, or ``request`` itself (which then excludes the keywords).

        Raises:
            ArgumentError: a knob is invalid, or both a request and keywords were given.
        """
        if request is not None:
            if not isinstance(request, RouteRequest):
                raise ArgumentError(f"request must be a RouteRequest, got {type(request).__name__}")
            if cost_bias is not None or require or allow is not None or max_size_mb is not None:
                raise ArgumentError("pass either a RouteRequest or the keywords cost_bias/require/allow/max_size_mb, "
                                    "not both")
            return request
        if cost_bias is None and not require and allow is None and max_size_mb is None:
            return _UNCONSTRAINED
        return cls(cost_bias, require, allow, max_size_mb)  # type: ignore[arg-type]

    @property
    def constraints(self) -> tuple[tuple[str, ...], tuple[str, ...] | None, float | None]:
        """The eligibility part of the request: what the eligibility mask depends on."""
        return self.require, self.allow, self.max_size_mb

    def describe(self) -> str:
        """The constraints in words, as error messages name them."""
        parts = []
        if self.require:
            parts.append(f"require={list(self.require)}")
        if self.allow is not None:
            parts.append(f"allow={list(self.allow)}")
        if self.max_size_mb is not None:
            parts.append(f"max_size_mb={self.max_size_mb:g}")
        return ", ".join(parts) or "no constraint"

    def to_dict(self) -> dict[str, Any]:
        """The request as JSON data (the keys that are set)."""
        out: dict[str, Any] = {}
        if self.cost_bias is not None:
            out["cost_bias"] = self.cost_bias
        if self.require:
            out["require"] = list(self.require)
        if self.allow is not None:
            out["allow"] = list(self.allow)
        if self.max_size_mb is not None:
            out["max_size_mb"] = self.max_size_mb
        return out


_UNCONSTRAINED = RouteRequest()
