"""The tier part of ``evaluate``, for a profile with tier counts: label the rows with the 9-cell
oracle, route them as the tier router and as the cluster rule, and score both (``tiers``).

The tier router is the profile routed through its tier policy with a policy map: the profile's own
for the tiers it names, else Standard -> medium, Complex -> large, Ambiguous -> medium (the user's
document: when both models fail, escalating does not help). The cluster rule is the profile
without any map. The pair (medium, large) is the one the tier counts were trained on
(``training.tiers``), or the one a label file of the rows names.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

import numpy as np

from ..data import RoutingRow, row_locations
from ..errors import ArgumentError, RoutingTableError
from ..metrics import LAMBDA_GRID
from ..profile import Profile
from ..routing import Router
from ..routing.policies.tier import tier_probabilities
from ..tiers import AMBIGUOUS, COMPLEX, STANDARD, TIERS, TierLabels, label_rows
from .curves import sweep_router
from .table import EvalTable
from .tiers import (
    ALWAYS_LARGE,
    ALWAYS_MEDIUM,
    CLUSTER_CURVE,
    CLUSTER_RULE,
    PAIR_ORACLE,
    TIER_ROUTER,
    TIER_THRESHOLD,
    TierRows,
    pair_oracle,
    threshold_curve,
    tier_figures,
)


def has_tier_counts(profile: Profile) -> bool:
    """Whether ``evaluate`` reports tiers for this profile (it has per-cluster tier counts)."""
    return profile.tiers is not None and profile.tiers.counts is not None


def tier_pair(profile: Profile, labels: TierLabels | None) -> tuple[str, str]:
    """The (medium, large) pair the tiers are measured against.

    Raises:
        ArgumentError: labels given for a profile without tier counts, labels of another pair than
            the one the profile was trained on, a pair model the profile does not have, or no pair
            known (a profile built in code without ``training.tiers`` and no labels).
    """
    if labels is not None and not has_tier_counts(profile):
        raise ArgumentError("tier labels given, but the profile has no tier counts; train it with --tiers")
    trained = profile.training.get("tiers")
    trained = trained if isinstance(trained, Mapping) else None
    pair = None if trained is None else (trained.get("medium"), trained.get("large"))
    if labels is not None:
        if pair is not None and pair != (labels.medium, labels.large):
            raise ArgumentError(f"the tier labels compare {labels.medium!r} and {labels.large!r}, but the profile's "
                                f"tiers were trained on {pair[0]!r} and {pair[1]!r}; label DATA with that pair")
        pair = (labels.medium, labels.large)
    if pair is None or not all(isinstance(m, str) for m in pair):
        raise ArgumentError("the profile has tier counts but does not record the pair they were trained on "
                            "(training.tiers); give the rows' tier labels (eval --tiers TIERS.jsonl)")
    for role, m in zip(("medium", "large"), pair):
        if m not in profile.model_ids:
            raise ArgumentError(f"the tiers' {role} model {m!r} is not a model of the profile")
    return str(pair[0]), str(pair[1])


def check_tier_input(profile: Profile, labels: TierLabels | None, n_rows: int) -> None:
    """What ``evaluate`` checks before it embeds anything: ``tier_pair`` for a profile with tier
    counts or given labels, and one label per row.

    Raises:
        ArgumentError: see ``tier_pair``.
        RoutingTableError: not one label per evaluation row.
    """
    if labels is not None and len(labels.tiers) != n_rows:
        raise RoutingTableError(f"{len(labels.tiers)} tier labels for {n_rows} evaluation rows; label the same "
                                "table (label-tiers DATA ...)")
    if has_tier_counts(profile) or labels is not None:
        tier_pair(profile, labels)


def tier_map(profile: Profile, medium: str, large: str) -> dict[str, tuple[str, ...]]:
    """The tier router's policy map: the profile's own lists, the pair's defaults for the other tiers."""
    out: dict[str, tuple[str, ...]] = {STANDARD: (medium,), COMPLEX: (large,), AMBIGUOUS: (medium,)}
    out.update(profile.policy_map or {})
    return {t: out[t] for t in TIERS}


def _truth(rows: Sequence[RoutingRow], labels: TierLabels | None, medium: str, large: str,
           source: str | None) -> np.ndarray:
    if labels is None:
        found = label_rows(rows, medium, large, locations=row_locations(source, len(rows)), skip=True)
        tiers = [None if x is None else x.tier for x in found]
    else:
        tiers = list(labels.tiers)
    return np.array([-1 if x is None else TIERS.index(x) for x in tiers], dtype=np.int64)


def evaluate_tiers(profile: Profile, router: Router, emb: np.ndarray, t: EvalTable, rows: Sequence[RoutingRow],
                   primary: float, labels: TierLabels | None, resamples: int, seed: int,
                   source: str | None = None) -> dict[str, Any]:
    """The summary's ``tiers`` entry (see ``tiers.tier_figures``), with the pair, the map and how
    the labels were made. ``router`` is the evaluation's router (its embedder is reused).

    Raises:
        ArgumentError: see ``tier_pair``.
    """
    medium, large = tier_pair(profile, labels)
    truth = _truth(rows, labels, medium, large, source)
    at = replace(profile.routing, cost_bias=primary)
    mapping = tier_map(profile, medium, large)
    mapped = Router(replace(profile, routing=at, policy_map=mapping), router.embedder, allow_embedder_mismatch=True)
    batch = mapped.route_embeddings(emb)
    predicted = np.array([TIERS.index(x) if x is not None else -1 for x in batch.tiers], dtype=np.int64)
    probabilities = tier_probabilities(profile, np.asarray(batch.cluster), np.asarray(batch.in_distribution), emb)
    plain = replace(profile, routing=at, policy_map=None)
    cluster = np.asarray(Router(plain, router.embedder, allow_embedder_mismatch=True).route_embeddings(emb).model_index,
                         dtype=np.int64)
    swept, top = sweep_router(plain, router.embedder)
    cluster_curve = [np.asarray(swept.route_embeddings(emb, cost_bias=float(lam) / top).model_index, dtype=np.int64)
                     for lam in LAMBDA_GRID]
    ids = list(t.model_ids)
    index = {tier: ids.index(models[0]) for tier, models in mapping.items()}
    thresholds, threshold_choices = threshold_curve(probabilities, index)
    m, lg = ids.index(medium), ids.index(large)
    r = TierRows(t.scores, t.costs, m, lg, truth, predicted,
                 points={TIER_ROUTER: np.asarray(batch.model_index, dtype=np.int64), ALWAYS_MEDIUM: np.full(t.n, m),
                         ALWAYS_LARGE: np.full(t.n, lg), CLUSTER_RULE: cluster,
                         PAIR_ORACLE: pair_oracle(t.scores, t.costs, m, lg)},
                 curves={CLUSTER_CURVE: cluster_curve, TIER_THRESHOLD: threshold_choices})
    figures = tier_figures(r, resamples, seed)
    return {"medium": medium, "large": large,
            "labels": "the 9-cell oracle over the rows" if labels is None else "the tier label file given",
            "policy_map": {k: list(v) for k, v in mapping.items()}, "cost_bias": primary,
            "thresholds": [None if not np.isfinite(x) else x for x in thresholds], **figures,
            "resamples": resamples, "seed": seed}
