"""Learned maps: a profile's optional predicted error per model for an embedding, used instead of
the cluster rates for the choice (docs/profile-format.md, ``train --method``)."""

from .knn_prior import DEFAULT_MAX_ROWS, MAX_ROWS, KNNPrior, cluster_errors, fit_knn_prior, map_from_dict

#: ``train --method`` values: ``auto`` picks by cross-validated area, ``cluster`` is the rule alone.
METHODS = ("auto", "cluster", KNNPrior.name)

__all__ = ["DEFAULT_MAX_ROWS", "KNNPrior", "MAX_ROWS", "METHODS", "cluster_errors", "fit_knn_prior", "map_from_dict"]
