"""The ensemble map: the mean predicted quality of the cluster rule (the profile's own), a logistic
map and a knn-prior map, the last two stored as their data."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import ProfileError
from ..ood._plain import mapping
from .knn_prior import KNNPrior
from .logistic import Logistic

#: The stored members' methods, in their order in ``members`` (the cluster rule is the profile's).
MEMBERS = (Logistic.name, KNNPrior.name)


@dataclass(frozen=True)
class Ensemble:
    """The ensemble map, stored as data.

    Attributes:
        logistic: the logistic member.
        knn: the knn-prior member (its prior the profile's cluster rule, as on its own).
    """

    logistic: Logistic
    knn: KNNPrior
    name = "ensemble"

    def __post_init__(self) -> None:
        shapes = {(self.logistic.dim, self.logistic.n_models), (self.knn.dim, self.knn.n_models)}
        if len(shapes) > 1:
            raise ProfileError(f"the ensemble's members disagree on the dimension and models: {sorted(shapes)}")

    @property
    def dim(self) -> int:
        return self.logistic.dim

    @property
    def n_models(self) -> int:
        return self.logistic.n_models

    def errors(self, x: np.ndarray, prior: np.ndarray) -> np.ndarray:
        """(n, M) the mean of the three members' predicted errors, given the cluster rule's (n, M) errors."""
        return np.asarray((prior + self.logistic.errors(x, prior) + self.knn.errors(x, prior)) / 3.0)

    def with_model(self, x: np.ndarray, scores: np.ndarray, cluster_quality: Callable[[np.ndarray], np.ndarray]
                   ) -> Ensemble:
        """The map with one more model (``add-model``): each member's ``with_model``."""
        return Ensemble(self.logistic.with_model(x, scores, cluster_quality),
                        self.knn.with_model(x, scores, cluster_quality))

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON data: the members' own ``to_dict``, in ``MEMBERS`` order."""
        return {"method": self.name, "members": [self.logistic.to_dict(), self.knn.to_dict()]}

    @classmethod
    def from_dict(cls, obj: Any, path: str, dim: int, n_models: int) -> Ensemble:
        """Validate and load ``to_dict``'s output for ``dim``-dimensional embeddings and ``n_models`` models.

        Raises:
            ProfileError: a missing or malformed field, named by its JSON path.
        """
        members = mapping(obj, path).get("members")
        if not isinstance(members, list) or len(members) != len(MEMBERS):
            raise ProfileError(f"{path}.members must be a list of {len(MEMBERS)} maps ({', '.join(MEMBERS)})")
        for i, (member, want) in enumerate(zip(members, MEMBERS)):
            got = mapping(member, f"{path}.members[{i}]").get("method")
            if got != want:
                raise ProfileError(f"{path}.members[{i}].method must be {want!r}, got {got!r}")
        return cls(Logistic.from_dict(members[0], f"{path}.members[0]", dim, n_models),
                   KNNPrior.from_dict(members[1], f"{path}.members[1]", dim, n_models))
