"""The 9-cell oracle: the tier of a prompt from a medium and a large model's graded answers.

The matrix is data (``DEFAULT_MATRIX``, the one of the user's background document) and may be
replaced by a JSON file ``{medium_grade: {large_grade: tier}}`` naming all nine cells.
"""

from __future__ import annotations

import os
import reprlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from .._files import read_input
from .._json import loads_limited
from ..data import GRADES, RoutingRow
from ..errors import RoutingTableError
from .names import AMBIGUOUS, COMPLEX, STANDARD, check_tier

#: ``DEFAULT_MATRIX[medium_grade][large_grade]``: the medium model answering is enough (Standard);
#: only the large model answering is escalation (Complex, also when the medium one says it does
#: not know, or is wrong while the large one abstains: "I don't know" is safer than a wrong
#: answer); neither answering means escalation would not help (Ambiguous).
DEFAULT_MATRIX: Mapping[str, Mapping[str, str]] = MappingProxyType({
    "correct": MappingProxyType({"correct": STANDARD, "incorrect": STANDARD, "idk": STANDARD}),
    "incorrect": MappingProxyType({"correct": COMPLEX, "incorrect": AMBIGUOUS, "idk": COMPLEX}),
    "idk": MappingProxyType({"correct": COMPLEX, "incorrect": AMBIGUOUS, "idk": AMBIGUOUS}),
})
#: Largest oracle matrix file read (bytes): nine short cells.
MAX_MATRIX_BYTES = 64 * 1024


@dataclass(frozen=True)
class Oracle:
    """A 9-cell matrix: ``tier(medium_grade, large_grade)``. Build one with ``from_dict`` or ``load``."""

    matrix: Mapping[str, Mapping[str, str]] = field(default_factory=lambda: DEFAULT_MATRIX)

    @classmethod
    def from_dict(cls, obj: Any, what: str = "oracle matrix") -> Oracle:
        """An oracle from ``{medium_grade: {large_grade: tier}}`` with all nine cells.

        Raises:
            RoutingTableError: a grade or tier that is not one of the three, or a missing cell
                (the message names its JSON path).
        """
        if not isinstance(obj, Mapping):
            raise RoutingTableError(f"{what}: $ must be an object {{medium_grade: {{large_grade: tier}}}}")
        for key in (*obj, *(k for row in obj.values() if isinstance(row, Mapping) for k in row)):
            if key not in GRADES:
                raise RoutingTableError(f"{what}: unknown grade {reprlib.repr(key)}; grades are {', '.join(GRADES)}")
        cells: dict[str, dict[str, str]] = {}
        for medium in GRADES:
            row = obj.get(medium)
            if not isinstance(row, Mapping):
                raise RoutingTableError(f"{what}: $.{medium} must be an object {{large_grade: tier}}")
            cells[medium] = {}
            for large in GRADES:
                if large not in row:
                    raise RoutingTableError(f"{what}: $.{medium}.{large} is missing; the matrix needs all nine cells")
                cells[medium][large] = check_tier(row[large], f"{what}: $.{medium}.{large}", RoutingTableError)
        return cls(MappingProxyType({m: MappingProxyType(r) for m, r in cells.items()}))

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Oracle:
        """An oracle from a JSON file (see ``from_dict``)."""
        raw = read_input(path, "oracle matrix", RoutingTableError, MAX_MATRIX_BYTES)
        return cls.from_dict(loads_limited(raw, str(path), RoutingTableError), str(path))

    def tier(self, medium: str, large: str) -> str:
        """The tier of a prompt whose medium and large answers got these grades."""
        return self.matrix[medium][large]

    def to_dict(self) -> dict[str, dict[str, str]]:
        """The matrix as JSON data (what ``from_dict`` reads)."""
        return {m: dict(row) for m, row in self.matrix.items()}


def grade(row: RoutingRow, model: str, where: str) -> str | None:
    """A model's grade on a row: its ``grades`` entry, else its score when it is 1 (correct) or 0
    (incorrect); None when the row neither grades nor scores the model.

    Raises:
        RoutingTableError: the model's only label is a score strictly between 0 and 1, which says
            neither correct nor incorrect.
    """
    if row.grades is not None and model in row.grades:
        return row.grades[model]
    score = row.scores.get(model)
    if score is None:
        return None
    if score in (0, 1):
        return "correct" if score == 1 else "incorrect"
    raise RoutingTableError(f"{where}: scores[{model!r}] is {score:g}, neither 1 (correct) nor 0 (incorrect), and the "
                            f"row gives no grades[{model!r}]; add a grade or leave the row out (--skip)")


@dataclass(frozen=True)
class Label:
    """One row's tier and the grades it came from."""

    tier: str
    medium: str
    large: str


def label_rows(rows: Sequence[RoutingRow], medium: str, large: str, oracle: Oracle = Oracle(), *,
               locations: Sequence[str] | None = None, skip: bool = False) -> list[Label | None]:
    """The oracle's tier of every row, with the two grades behind it.

    Args:
        rows: labelled prompts; each must grade (or score 0/1) both models.
        medium, large: the two model ids the matrix compares.
        locations: where each row came from (``file:line``), for error messages.
        skip: give a row that cannot be labelled (a model neither graded nor scored, or only
            a fractional score) None instead of raising.

    Raises:
        RoutingTableError: the same model twice, a model no row scores or grades, or (without
            ``skip``) a row that cannot be labelled, named by its location.
    """
    if medium == large:
        raise RoutingTableError(f"the medium and large models must differ, got {medium!r} twice")
    where = list(locations) if locations is not None else [f"row {i + 1}" for i in range(len(rows))]
    known = {m for r in rows for m in (*r.scores, *(r.grades or ()))}
    for role, model in (("medium", medium), ("large", large)):
        if model not in known:
            raise RoutingTableError(f"{role} model {model!r} is not scored or graded by any row; the table has "
                                    f"{', '.join(sorted(known)[:8])}{', ...' if len(known) > 8 else ''}")
    out: list[Label | None] = []
    for row, loc in zip(rows, where):
        try:
            g_medium, g_large = grade(row, medium, loc), grade(row, large, loc)
            if g_medium is None or g_large is None:
                missing = medium if g_medium is None else large
                raise RoutingTableError(f"{loc}: the row neither scores nor grades {missing!r}; "
                                        "label it or leave the row out (--skip)")
        except RoutingTableError:
            if not skip:
                raise
            out.append(None)
            continue
        out.append(Label(oracle.tier(g_medium, g_large), g_medium, g_large))
    return out
