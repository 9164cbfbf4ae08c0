"""Evaluating a profile on labelled prompts: the router's metrics and every baseline beside it.

``evaluate`` returns an ``Evaluation``; ``cactus_router.report`` turns one into tables, charts and
files (this package never imports it).
"""

from .curves import RANDOM_GRID, curve_metrics
from .names import BEST_SINGLE, CHEAPEST, ORACLE, PRICIEST, RANDOM, ROUTER, SINGLES
from .points import SWEEP_BIASES, agreement_matrix, point_metrics, random_matched
from .run import Evaluation, StageProgress, evaluate
from .table import EvalTable, Reference, eval_table, oracle_choices

__all__ = [
    "BEST_SINGLE",
    "CHEAPEST",
    "ORACLE",
    "PRICIEST",
    "RANDOM",
    "RANDOM_GRID",
    "ROUTER",
    "SINGLES",
    "SWEEP_BIASES",
    "EvalTable",
    "Evaluation",
    "Reference",
    "StageProgress",
    "agreement_matrix",
    "curve_metrics",
    "eval_table",
    "evaluate",
    "oracle_choices",
    "point_metrics",
    "random_matched",
]
