"""Tiers: a router's answer as Standard, Complex or Ambiguous, and the oracle that labels them.

A tier says what a prompt needs, not which model answers it: a policy map in the profile turns
the tier into a model, so model assignments change without retraining (docs/tiers.md).

- ``oracle``: the 9-cell matrix over a medium and a large model's graded answers.
- ``labels``: tier label files (TIERS.jsonl), one line per routing-table row.
"""

from ..data import GRADES
from .labels import TierLabels, read_labels, write_labels
from .names import AMBIGUOUS, COMPLEX, SEVERITY, STANDARD, TIERS, check_tier, most_severe
from .oracle import DEFAULT_MATRIX, Label, Oracle, grade, label_rows

__all__ = [
    "AMBIGUOUS",
    "COMPLEX",
    "DEFAULT_MATRIX",
    "GRADES",
    "SEVERITY",
    "STANDARD",
    "TIERS",
    "TierLabels",
    "Label",
    "Oracle",
    "check_tier",
    "grade",
    "label_rows",
    "most_severe",
    "read_labels",
    "write_labels",
]
