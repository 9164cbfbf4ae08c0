"""What a judge run measured: agreement, sizes chosen, savings, latency and token cost, and quality on labels.

Agreement compares two routers with each other; only labels (each model's score on each prompt)
say which of them chose well. Quality figures come from ``cactus_router.evaluation`` (the same
``point_metrics`` as ``eval``), on the prompts with a parsed judgement.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from ..data import RoutingRow
from ..evaluation import EvalTable, Reference, agreement_matrix, eval_table, point_metrics
from ..metrics import resample_counts
from ..profile import Profile
from .cache import Judgement
from .candidates import Candidates

ROUTER, JUDGE, LARGEST, ORACLE = "cactus-router", "judge", "always-largest", "oracle"
#: What every report says first.
NOT_QUALITY = ("Agreement with a judge is not quality: it counts how often cactus-router chose the same model as "
               "an LLM that was asked to choose. The judge can be wrong, and two routers can agree on a poor choice "
               "or differ between two good ones. Only labels (each model's measured score on each prompt) show "
               "quality.")


@dataclass(frozen=True)
class Outcome:
    """One run's per-prompt results, in prompt order."""

    prompts: tuple[str, ...]
    router: np.ndarray  # (n,) the index (in the candidates' order) cactus-router chose
    router_ms: np.ndarray  # (n,) wall time of Router.route per prompt, in ms
    judgements: tuple[Judgement, ...]
    judge: np.ndarray  # (n,) the judge's index, -1 where the reply was unparseable


def label_table(profile: Profile, rows: Sequence[RoutingRow], candidates: Candidates,
                source: str | os.PathLike[str] | None) -> EvalTable:
    """Labels as ``eval`` reads them, over the candidates in their order (every row must score each one).

    Raises:
        RoutingTableError: a row misses a candidate's score, or per-prompt costs are on some rows only.
    """
    by_id = {m.id: m for m in profile.models}
    sub = replace(profile, models=tuple(by_id[i] for i in candidates.ids),
                  routing=replace(profile.routing, fallback=None))
    t = eval_table(rows, sub, source=source)
    if candidates.step_basis == "size_mb":  # the list's sizes, which the prompt stated
        t = replace(t, size_mb=candidates.basis())
    return t


def _percentiles(x: np.ndarray) -> dict[str, float] | None:
    if not len(x):
        return None
    return {"p50": float(np.percentile(x, 50)), "p95": float(np.percentile(x, 95)),
            "p99": float(np.percentile(x, 99)), "mean": float(x.mean())}


def _interval(x: np.ndarray) -> list[float]:
    return [float(v) for v in np.quantile(x, [0.025, 0.975], method="inverted_cdf")]


def _resampled(per_row: Mapping[str, np.ndarray], resamples: int, seed: int) -> dict[str, np.ndarray]:
    """Each per-row figure's mean on every bootstrap resample of the rows (the same resamples for all)."""
    n = len(next(iter(per_row.values())))
    stacked = np.stack(list(per_row.values()), axis=1).astype(np.float64)
    means = np.concatenate([counts @ stacked / n for counts in resample_counts(n, resamples, seed)])
    return {name: means[:, j] for j, name in enumerate(per_row)}


def _usage(choices: np.ndarray, c: Candidates) -> dict[str, Any]:
    """The models a router chose: counts, steps, mean size and cost, savings against always-largest."""
    ids, steps = c.ids, c.steps()
    costs = np.array([m.cost for m in c.models])
    sizes = None if c.step_basis != "size_mb" else c.basis()
    out: dict[str, Any] = {
        "prompts": int(len(choices)),
        "counts": {ids[j]: int(k) for j, k in enumerate(np.bincount(choices, minlength=len(ids)))},
        "step_counts": {str(s): int(k) for s, k in enumerate(np.bincount(steps[choices], minlength=steps.max() + 1))},
        "mean_cost": float(costs[choices].mean()) if len(choices) else None,
        "mean_size_mb": None, "median_size_mb": None,
    }
    top = costs[c.largest]
    out["savings_vs_largest"] = {"cost": None if not len(choices) or top == 0 else 1.0 - out["mean_cost"] / top,
                                 "size_mb": None}
    if sizes is not None and len(choices):
        out["mean_size_mb"] = float(sizes[choices].mean())
        out["median_size_mb"] = float(np.median(sizes[choices]))
        if sizes[c.largest] > 0:
            out["savings_vs_largest"]["size_mb"] = 1.0 - out["mean_size_mb"] / float(sizes[c.largest])
    return out


def _judge_cost(judgements: Sequence[Judgement], prices: tuple[float, float] | None) -> dict[str, Any]:
    """Per prompt and in total: the judge's backend calls, tokens and (given prices) dollars."""
    def tokens(name: str) -> dict[str, Any]:
        values = [getattr(j, name) for j in judgements]
        known = np.array([v for v in values if v is not None], dtype=np.float64)
        return {"reported": int(len(known)), "total": int(known.sum()),
                "per_prompt": _percentiles(known)}

    out: dict[str, Any] = {"judgements": len(judgements), "calls": int(sum(j.calls for j in judgements)),
                           "prompt_tokens": tokens("prompt_tokens"),
                           "completion_tokens": tokens("completion_tokens"), "usd": None}
    if prices is not None and judgements:
        reported = [j for j in judgements if j.prompt_tokens is not None and j.completion_tokens is not None]
        usd = np.array([(j.prompt_tokens or 0) * prices[0] / 1e6 + (j.completion_tokens or 0) * prices[1] / 1e6
                        for j in reported])
        out["usd"] = {"price_per_million_tokens": {"input": prices[0], "output": prices[1]},
                      "priced_judgements": len(reported), "total": float(usd.sum()),
                      "per_prompt": _percentiles(usd)}
    return out


def _quality(t: EvalTable, o: Outcome, ok: np.ndarray, resamples: int, seed: int) -> dict[str, Any]:
    """The quality each router's choices reach on the labelled prompts with a parsed judgement."""
    sub = replace(t, scores=t.scores[ok], costs=t.costs[ok], tasks=tuple(np.array(t.tasks, dtype=object)[ok]))
    ref = Reference.of(sub)
    chosen = {ROUTER: o.router[ok], JUDGE: o.judge[ok], LARGEST: np.full(sub.n, ref.largest), ORACLE: ref.oracle}
    out: dict[str, Any] = {
        "rows": sub.n, "scores_binary": sub.binary, "cost_source": sub.cost_source,
        "routers": {name: point_metrics(c, sub, ref) for name, c in chosen.items()},
        "oracle": "per row, the cheapest model reaching the row's best score",
    }
    rows = np.arange(sub.n)
    diff = sub.scores[rows, chosen[ROUTER]] - sub.scores[rows, chosen[JUDGE]]
    paired: dict[str, Any] = {"difference": float(diff.mean())}
    if resamples:
        means = _resampled({"d": diff}, resamples, seed)["d"]
        paired.update(ci95=_interval(means), share_router_better=float(np.mean(means > 0)))
    out["router_minus_judge"] = paired
    return out


def figures(c: Candidates, o: Outcome, *, labels: EvalTable | None = None, bootstrap: int = 1000, seed: int = 0,
            prices: tuple[float, float] | None = None) -> dict[str, Any]:
    """Every figure of a judge run, as summary.json holds them.

    Agreement, the confusion matrix, the judge's and the router's size distributions and the
    quality comparison use the prompts whose judgement parsed; unparseable replies are counted.
    """
    ok = o.judge >= 0
    n_ok = int(ok.sum())
    steps = c.steps()
    same = (o.router[ok] == o.judge[ok]).astype(np.float64)
    near = (np.abs(steps[o.router[ok]] - steps[o.judge[ok]]) <= 1).astype(np.float64)
    agreement: dict[str, Any] = {"rows": n_ok, "step_basis": c.step_basis,
                                 "exact": float(same.mean()) if n_ok else None,
                                 "within_one_step": float(near.mean()) if n_ok else None}
    if n_ok and bootstrap:
        boot = _resampled({"exact": same, "within_one_step": near}, bootstrap, seed)
        agreement["ci95"] = {k: _interval(v) for k, v in boot.items()}
    problems = Counter(j.problem for j in o.judgements if j.problem is not None)
    judge_s = np.array([j.seconds for j in o.judgements], dtype=np.float64)
    router_p = _percentiles(o.router_ms)
    judge_ms = _percentiles(judge_s * 1e3)
    out: dict[str, Any] = {
        "statement": NOT_QUALITY,
        "prompts": len(o.prompts),
        "judged": n_ok,
        "unparseable": len(o.prompts) - n_ok,
        "problems": dict(problems.most_common()),
        "candidates": [{"id": m.id, "size_mb": m.size_mb, "cost": m.cost, "capabilities": sorted(m.capabilities),
                        "error_rate": m.error_rate, "labelled": m.labelled, "step": int(s)}
                       for m, s in zip(c.models, steps)],
        "left_out": list(c.left_out),
        "largest": c.ids[c.largest],
        "agreement": agreement,
        "confusion": {"rows": ROUTER, "columns": JUDGE, "models": list(c.ids),
                      "counts": agreement_matrix(o.router[ok], o.judge[ok], len(c.ids)).tolist()},
        "choices": {ROUTER: _usage(o.router[ok], c), JUDGE: _usage(o.judge[ok], c),
                    f"{ROUTER} (every prompt)": _usage(o.router, c)},
        "latency_ms": {ROUTER: router_p, JUDGE: judge_ms,
                       "judge_over_router_median": None if router_p is None or judge_ms is None
                       or router_p["p50"] <= 0 else judge_ms["p50"] / router_p["p50"]},
        "judge_cost": _judge_cost(o.judgements, prices),
        "quality": None if labels is None or not n_ok else _quality(labels, o, ok, bootstrap, seed),
        "bootstrap": {"resamples": bootstrap, "seed": seed,
                      "method": "the prompts with a parsed judgement resampled with replacement; ci95: 2.5th and "
                                "97.5th percentiles"} if bootstrap else None,
    }
    return out


__all__ = ["JUDGE", "LARGEST", "NOT_QUALITY", "ORACLE", "ROUTER", "Outcome", "figures", "label_table"]
