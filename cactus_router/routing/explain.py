"""Explanations: why a prompt was routed as it was, term by term."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from .decision import Decision

if TYPE_CHECKING:
    from .pipeline import Pipeline
    from .request import RouteRequest


@dataclass(frozen=True)
class ModelTerm:
    """One model's part in a decision: its rate in the cluster and how its score was made."""

    model: str
    cluster_error_rate: float
    cluster_count: int
    cost: float
    expected_error: float | None
    cost_term: float | None
    score: float | None


@dataclass(frozen=True)
class Explanation:
    """Why a prompt was routed as it was (see ``Router.explain``).

    Attributes:
        decision: the Decision itself (``decision.applied``: the policies that changed it).
        cluster_size: training prompts in the chosen cluster.
        cluster_tasks: the tasks of those training prompts with their counts, most common first
            (empty when the profile was trained without tasks).
        nearest_clusters: the closest clusters as ``(cluster, similarity)``, best first.
        lam: the lambda used; temperature: the soft-assignment temperature; ood_threshold: the
            profile's out-of-distribution threshold.
        terms: every model, those in the deciding ranking first and in its order (ineligible
            ones with no score); their expected errors are those of the ranking that chose.
    """

    decision: Decision
    cluster_size: int
    cluster_tasks: tuple[tuple[str, int], ...]
    nearest_clusters: tuple[tuple[int, float], ...]
    lam: float
    temperature: float
    ood_threshold: float | None
    terms: tuple[ModelTerm, ...]

    def __str__(self) -> str:
        d = self.decision
        lines = [f"model {d.model}" + ("" if d.in_distribution else " (out of distribution: fallback)")]
        ood = "" if self.ood_threshold is None else f", out-of-distribution below {self.ood_threshold:.3f}"
        lines.append(f"cluster {d.cluster}: {self.cluster_size} training prompts, similarity {d.similarity:.3f}, "
                     f"margin {d.margin:.3f}{ood}")
        if self.cluster_tasks:
            lines.append("  its training tasks: " + ", ".join(f"{t} {n}" for t, n in self.cluster_tasks))
        lines.append("  nearest clusters: " + ", ".join(f"{c} ({s:.3f})" for c, s in self.nearest_clusters))
        if d.tier is not None:
            p = "" if d.tier_probability is None else f" (probability {d.tier_probability:.3f})"
            lines.append(f"  tier {d.tier}{p}")
        for a in d.applied:
            lines.append(f"  policy {a.policy}: {a.reason}")
        if not d.in_distribution:
            mix = "the ranking the policy used"
        elif self.temperature:
            mix = f"softmax mix over clusters at temperature {self.temperature:g}"
        else:
            mix = "cluster rate"
        lines.append(f"score = expected error ({mix}) + lambda {self.lam:g} x normalised cost")
        lines.append(f"  {'model':<34}{'rate':>7}{'count':>7}{'cost':>10}{'exp.err':>9}{'cost term':>10}{'score':>8}")
        for t in self.terms:
            head = f"  {t.model:<34}{t.cluster_error_rate:>7.3f}{t.cluster_count:>7}{t.cost:>10g}"
            if t.score is None or t.expected_error is None or t.cost_term is None:
                lines.append(head + "   not eligible")
            else:
                lines.append(head + f"{t.expected_error:>9.3f}{t.cost_term:>10.3f}{t.score:>8.3f}")
        return "\n".join(lines)


def explain(pipeline: Pipeline, vec: np.ndarray, request: RouteRequest, embed_ms: float,
            top_clusters: int, prompt: str | None = None) -> Explanation:
    """Route one checked embedding through ``pipeline`` and explain the decision term by term."""
    decision = pipeline.decide(vec, request, embed_ms, prompt)
    profile = pipeline.profile
    scorer = pipeline.scorer
    _, lam = pipeline.knobs(request)
    eligible = list(scorer.eligibility(request).indices)
    costs = scorer.costs[eligible]
    span = float(costs.max() - costs.min())
    c = decision.cluster
    models = {m.id: m for m in profile.models}
    terms = []
    for model_id, score in decision.ranking:
        m = models[model_id]
        cost_term = lam * ((m.cost - float(costs.min())) / span if span > 0 else 0.0)
        terms.append(ModelTerm(m.id, float(m.error_rates[c]), int(m.counts[c]), m.cost, score - cost_term,
                               cost_term, score))
    ranked = {t.model for t in terms}
    terms += [ModelTerm(m.id, float(m.error_rates[c]), int(m.counts[c]), m.cost, None, None, None)
              for m in profile.models if m.id not in ranked]
    sims = scorer.similarities(vec)
    order = np.argsort(-sims, kind="stable")[:top_clusters]
    tasks = profile.cluster_tasks[c] if profile.cluster_tasks else {}
    return Explanation(
        decision, int(profile.cluster_sizes[c]), tuple(sorted(tasks.items(), key=lambda kv: (-kv[1], kv[0]))),
        tuple((int(i), float(sims[i])) for i in order), lam, scorer.temperature, profile.routing.ood_threshold,
        tuple(terms),
    )
