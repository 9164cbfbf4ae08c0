"""Learned maps: a profile's optional predicted error per model for an embedding, used instead of
the cluster rates for the choice (docs/profile-format.md, ``train --method``)."""

from __future__ import annotations

from typing import Any

from ..errors import ProfileError
from ..ood._plain import mapping
from ._arrays import MAX_ROWS
from .ensemble import Ensemble
from .knn_prior import DEFAULT_MAX_ROWS, KNNPrior, cluster_errors, fit_knn_prior
from .logistic import Logistic, fit_logistic

#: A profile's map.
Map = KNNPrior | Logistic | Ensemble
#: The map classes by the ``method`` a profile names them with.
MAPS: dict[str, type[KNNPrior] | type[Logistic] | type[Ensemble]] = {
    c.name: c for c in (KNNPrior, Logistic, Ensemble)}
#: ``train --method`` values: ``auto`` picks by cross-validated area, ``cluster`` is the rule alone.
METHODS = ("auto", "cluster", *MAPS)


def map_from_dict(obj: Any, path: str, dim: int, n_models: int) -> Map:
    """The map a profile's ``map`` field holds (its ``method`` names the class).

    Raises:
        ProfileError: an unknown method or a malformed field, named by its JSON path.
    """
    method = mapping(obj, path).get("method")
    if not isinstance(method, str) or method not in MAPS:
        raise ProfileError(f"{path}.method must be one of {', '.join(map(repr, MAPS))}, got {method!r}")
    return MAPS[method].from_dict(obj, path, dim, n_models)


__all__ = ["DEFAULT_MAX_ROWS", "MAPS", "MAX_ROWS", "METHODS", "Ensemble", "KNNPrior", "Logistic", "Map",
           "cluster_errors", "fit_knn_prior", "fit_logistic", "map_from_dict"]
