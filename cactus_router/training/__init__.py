"""Training: profiles from labelled prompts, and the two ways to adjust one without retraining.

- ``train`` (fit.py): embed, cluster, estimate per-cluster error rates; ``auto`` settings chosen
  by cross-validated deferral area (select.py), routed through the same Pipeline as ``route``.
- ``calibrate`` and ``add_model`` (calibrate.py): move the cost knob to meet a target, or add a
  model's rates to an existing profile from its labelled prompts.
"""

from .calibrate import AddedModel, Calibration, Target, add_model, calibrate, read_prompts, routing_figures
from .fit import TABLE_MODELS, table_models, train
from .rates import embed_rows, error_rates, fit_kmeans, tier_counts
from .select import (
    K_CANDIDATES,
    OOD_QUANTILE,
    SELECTION_LAMBDAS,
    SMOOTHING_CANDIDATES,
    TEMPERATURE_CANDIDATES,
    Selection,
    candidate_profile,
    cv_folds,
    deferral_area,
    select,
)

__all__ = [
    "K_CANDIDATES",
    "OOD_QUANTILE",
    "SELECTION_LAMBDAS",
    "SMOOTHING_CANDIDATES",
    "TABLE_MODELS",
    "TEMPERATURE_CANDIDATES",
    "AddedModel",
    "Calibration",
    "Selection",
    "Target",
    "add_model",
    "calibrate",
    "candidate_profile",
    "cv_folds",
    "deferral_area",
    "embed_rows",
    "error_rates",
    "fit_kmeans",
    "read_prompts",
    "routing_figures",
    "select",
    "table_models",
    "tier_counts",
    "train",
]
