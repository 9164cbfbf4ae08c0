"""Ranking: the eligible models best first with their scores, built into pairs only when read."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, overload

_NEW = object.__new__


class Ranking(Sequence[tuple[str, float]]):
    """An immutable sequence of ``(model_id, score)``, best first.

    Routing keeps the C core's model indices and scores and makes the pairs on first use: most
    callers read ``Decision.model`` and never the ranking. Compares equal to any sequence of the
    same pairs (a tuple included).
    """

    __slots__ = ("_ids", "_order", "_scores", "_pairs")

    def __init__(self, ids: Sequence[str], order: Sequence[int], scores: Sequence[float]) -> None:
        self._ids = ids
        self._order = order
        self._scores = scores
        self._pairs: tuple[tuple[str, float], ...] | None = None

    @staticmethod
    def indexed_by(ids: Sequence[str], order: Sequence[int], scores: Sequence[float]) -> Ranking:
        """``Ranking(ids, order, scores)`` without ``__init__``, for the path run on every route."""
        r: Ranking = _NEW(Ranking)
        r._ids = ids
        r._order = order
        r._scores = scores
        r._pairs = None
        return r

    @classmethod
    def of(cls, pairs: Sequence[tuple[str, float]]) -> Ranking:
        """A ranking from ``(model_id, score)`` pairs, best first."""
        r = cls((), (), ())
        r._pairs = tuple((str(m), float(s)) for m, s in pairs)
        return r

    def pairs(self) -> tuple[tuple[str, float], ...]:
        """The ranking as a tuple of pairs."""
        if self._pairs is None:
            ids = self._ids
            self._pairs = tuple(zip(map(ids.__getitem__, self._order), self._scores))
        return self._pairs

    def indexed(self, index_of: dict[str, int]) -> tuple[Sequence[int], Sequence[float]]:
        """The model indices (by ``index_of``) and scores, best first, without building pairs."""
        if self._pairs is None:
            return self._order, self._scores
        return [index_of[m] for m, _ in self._pairs], [s for _, s in self._pairs]

    def __len__(self) -> int:
        return len(self._pairs) if self._pairs is not None else len(self._order)

    @overload
    def __getitem__(self, i: int) -> tuple[str, float]: ...

    @overload
    def __getitem__(self, i: slice) -> tuple[tuple[str, float], ...]: ...

    def __getitem__(self, i: Any) -> Any:
        return self.pairs()[i]

    def __iter__(self) -> Iterator[tuple[str, float]]:
        return iter(self.pairs())

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Ranking):
            return self.pairs() == other.pairs()
        if isinstance(other, Sequence) and not isinstance(other, (str, bytes)):
            return self.pairs() == tuple(tuple(p) for p in other)
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self.pairs())

    def __repr__(self) -> str:
        return repr(self.pairs())
