"""Choosing a profile's out-of-distribution checks: ``train --ood auto|centroid|topic|none``.

``auto`` measures, leave tasks out on the training rows, which unseen-topic score tells prompts of
held-out tasks from held-out prompts of the seen tasks better (AUROC): the nearest-centroid
similarity (``routing.ood_threshold``) or ``cactus_router.ood.TopicDetector``. The tasks are
shuffled (``seed``) into groups (3 when there are 3 tasks, else 4); each group in turn is unseen:
both scores are fitted on 70% of the other tasks' rows (at most MAX_FIT) and scored on the other
30% and on the group's rows (at most MAX_SCORED each). The topic check wins when its mean AUROC
over the groups is higher (to 3 decimals). Without 3 tasks there is nothing to hold out and
``auto`` keeps the similarity threshold. The script check is added whatever the choice (but
``none``) when the embedder reads the MiniLM vocabulary.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import ArgumentError
from ..ood import SCRIPT_CHECK_EMBEDDERS, OODChecks, ScriptCheck, fit_topic
from .rates import fit_kmeans

MODES = ("auto", "centroid", "topic", "none")
#: Rows the scores are fitted on, and rows scored on each side, per held-out group.
MAX_FIT = 4000
MAX_SCORED = 1500
MIN_TASKS = 3


@dataclass(frozen=True)
class OODChoice:
    """What training chose: the checks to store (None: none), whether to keep the similarity
    threshold, and the evidence for the profile's ``training.ood``."""

    checks: OODChecks | None
    similarity_threshold: bool
    facts: dict[str, Any]


def auroc(inside: np.ndarray, outside: np.ndarray) -> float:
    """P(an outside score is below an inside one), ties counted half (Mann-Whitney)."""
    from scipy.stats import rankdata

    ranks = rankdata(np.r_[inside, outside])
    n_in, n_out = len(inside), len(outside)
    return float((ranks[:n_in].sum() - n_in * (n_in + 1) / 2) / (n_in * n_out))


def leave_tasks_out(vectors: np.ndarray, tasks: list[str | None], k: int, seed: int
                    ) -> dict[str, list[float]] | None:
    """Per held-out group of tasks, the AUROC of the centroid similarity (K = ``k``) and of the
    topic check; None with fewer than MIN_TASKS tasks."""
    names = sorted({t for t in tasks if t})
    if len(names) < MIN_TASKS:
        return None
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(names))
    groups = [[names[i] for i in g] for g in np.array_split(order, 3 if len(names) == 3 else 4)]
    labels = np.array([t or "" for t in tasks])
    out: dict[str, list[float]] = {"centroid": [], "topic": []}
    for group in groups:
        unseen = np.isin(labels, group)
        seen = rng.permutation(np.flatnonzero(~unseen & (labels != "")))
        cut = int(0.7 * len(seen))
        fit, inside = seen[:cut][:MAX_FIT], seen[cut:][:MAX_SCORED]
        outside = rng.permutation(np.flatnonzero(unseen))[:MAX_SCORED]
        if len(fit) < 60 or len(inside) < 10 or len(outside) < 10:
            continue
        cent, _ = fit_kmeans(vectors[fit], min(k, len(fit)), seed)
        sim = (vectors @ cent.T).max(axis=1)
        out["centroid"].append(auroc(sim[inside], sim[outside]))
        det = fit_topic(vectors[fit], seed=seed)
        out["topic"].append(auroc(det.familiarity_reference(vectors[inside]),
                                  det.familiarity_reference(vectors[outside])))
    return out if out["topic"] else None


def choose_ood(vectors: np.ndarray, tasks: list[str | None], mode: str, *, k: int, seed: int, embedder: str
               ) -> OODChoice:
    """The checks ``mode`` asks for (``auto``: see the module docstring).

    Raises:
        ArgumentError: an unknown mode, or ``topic`` with too few rows to fit the check.
    """
    if mode not in MODES:
        raise ArgumentError(f"ood must be one of {', '.join(MODES)}, got {mode!r}")
    if mode == "none":
        return OODChoice(None, False, {"mode": "none"})
    facts: dict[str, Any] = {"mode": mode}
    topic = mode == "topic"
    if mode == "auto":
        areas = leave_tasks_out(vectors, tasks, k, seed)
        if areas is None:
            facts["auto"] = f"kept the similarity threshold: fewer than {MIN_TASKS} tasks to hold out"
        else:
            means = {name: round(float(np.mean(a)), 3) for name, a in areas.items()}
            topic = means["topic"] > means["centroid"]
            facts["auto"] = {"measure": "mean AUROC, leave tasks out on the training rows",
                             "groups": len(areas["topic"]), "centroid": means["centroid"], "topic": means["topic"],
                             "chose": "topic" if topic else "centroid"}
    detector = None
    if topic:
        detector = fit_topic(vectors, seed=seed)
        detector = type(detector).from_dict(detector.to_dict())  # what the saved profile will hold
    script = ScriptCheck() if embedder in SCRIPT_CHECK_EMBEDDERS else None
    checks = None if detector is None and script is None else OODChecks(detector, script)
    return OODChoice(checks, not topic, facts)
