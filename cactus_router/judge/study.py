"""A judge run from end to end: route every prompt, ask the judge what the cache lacks, measure, write the files."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..data import RoutingRow, read_table
from ..errors import BackendConfigError, GenerationError, JudgeCacheError
from ..generation import BackendConfig, SamplingParams
from ..profile import Profile
from ..routing import Router
from ..training import read_prompts
from .ask import RateLimiter, ask_all, preflight
from .cache import CACHE_NAME, Judgement, JudgementCache
from .candidates import Candidates
from .figures import Outcome, figures, label_table
from .prompt import JudgeConfig, prompt_sha256, system_message
from .report import write_outputs

#: Progress callback: ``progress(stage, done, total)``.
StageProgress = Callable[[str, int, int], None]
#: Routes made before the timed ones: the first calls pay one-off costs (allocations, caches).
WARM_UP = 3


@dataclass(frozen=True)
class JudgeSettings:
    """The knobs of a judge run.

    Args:
        cost_bias: the router's operating point (None: the profile's).
        concurrency: judgements in flight at once.
        rate: most judgement requests started per second.
        max_tokens: cap on each judgement's reply (a thinking model spends some of it before replying).
        json_object: ask for JSON mode where the backend has it.
        bootstrap: resamples for the 95% intervals (0: none).
        seed: of the resamples.
        prices: the judge's USD per million input and output tokens, for a dollar figure (None: none).
    """

    cost_bias: float | None = None
    concurrency: int = 4
    rate: float = 2.0
    max_tokens: int = 256
    json_object: bool = True
    bootstrap: int = 1000
    seed: int = 0
    prices: tuple[float, float] | None = None


@dataclass
class JudgeRun:
    """What a run measured (``summary``, as summary.json), its per-prompt results and the files written."""

    summary: dict[str, Any]
    results: list[dict[str, Any]]
    written: list[Path] = field(default_factory=list)


def read_judge_prompts(path: str | os.PathLike[str]) -> tuple[list[str], list[RoutingRow] | None]:
    """The prompts of PROMPTS, and its labelled rows when it is a routing table (rows with "scores").

    A text file (one prompt a line) or JSONL of ``{"prompt"}`` objects has no labels; JSONL rows
    carrying ``"scores"``, or an LLMRouter JSON list, are read as a routing table.

    Raises:
        RoutingTableError: unreadable, empty, or a bad row (named by its line).
    """
    prompts = read_prompts(path)  # reports an unreadable or empty file, and reads the unlabelled forms
    head = Path(path).read_text(encoding="utf-8").lstrip()
    if head.startswith("{"):
        try:
            first = json.loads(head.split("\n", 1)[0])
        except ValueError:
            first = None
        labelled = isinstance(first, dict) and "scores" in first
    else:
        labelled = head.startswith("[")
    if labelled:
        rows = read_table(path)
        return [r.prompt for r in rows], rows
    return prompts, None


def _route(router: Router, prompts: Sequence[str], c: Candidates, cost_bias: float,
           progress: StageProgress | None) -> tuple[np.ndarray, np.ndarray]:
    """cactus-router's choice (candidate index) for every prompt, and each Router.route call's wall time."""
    index = {m: j for j, m in enumerate(c.ids)}
    for p in prompts[:WARM_UP]:
        router.route(p, cost_bias=cost_bias, allow=c.ids)
    chosen, ms = np.empty(len(prompts), dtype=np.int64), np.empty(len(prompts))
    for i, p in enumerate(prompts):
        t0 = time.perf_counter()
        d = router.route(p, cost_bias=cost_bias, allow=c.ids)
        ms[i] = (time.perf_counter() - t0) * 1e3
        chosen[i] = index[d.model]
        if progress is not None and (i + 1 == len(prompts) or (i + 1) % 100 == 0):
            progress("routing", i + 1, len(prompts))
    return chosen, ms


def judge_config(backends: BackendConfig, backend: str, c: Candidates, s: JudgeSettings) -> JudgeConfig:
    """The config of this run's judgements (its hash keys the cache)."""
    spec = backends.specs.get(backend)
    if spec is None:
        raise BackendConfigError(f"no backend is configured for the judge {backend!r} (configured: "
                                 f"{', '.join(backends.models)})")
    endpoint = {k: spec.options[k] for k in ("base_url", "served_model", "model_path") if k in spec.options}
    params = SamplingParams(temperature=0.0, max_tokens=s.max_tokens, json_object=s.json_object)
    return JudgeConfig(backend, spec.backend, endpoint, system_message(c), params)


def _ask(backends: BackendConfig, config: JudgeConfig, pending: list[tuple[str, str]], c: Candidates,
         cache: JudgementCache, s: JudgeSettings, progress: StageProgress | None) -> dict[str, Any]:
    """Preflight, then every pending judgement into the cache; returns the preflight's figures."""
    generator = backends.generator(config.backend)  # a missing key fails here, before any request
    pre = preflight(generator, config.backend, config.params.json_object)
    limiter = RateLimiter(s.rate)
    done = [0]

    def record(j: Judgement) -> None:
        cache.append(j)
        done[0] += 1

    try:
        ask_all(generator, config, pending, c.ids, concurrency=s.concurrency, limiter=limiter, record=record,
                progress=None if progress is None else (lambda d, n: progress("judging", d, n)))
    except GenerationError as exc:
        raise GenerationError(f"judge backend {config.backend!r}: {exc}; the {done[0]} judgements made before it "
                              f"are cached in {cache.path}: run again to resume") from None
    return {"seconds": pre.seconds, "prompt_tokens": pre.prompt_tokens, "calls": pre.calls}


def run_judge(profile: Profile, prompts: Sequence[str], backends: BackendConfig, backend: str,
              out_dir: str | os.PathLike[str], *, candidates: Candidates, rows: Sequence[RoutingRow] | None = None,
              embedder: str | None = None, settings: JudgeSettings = JudgeSettings(),
              provenance: Mapping[str, Any] | None = None, progress: StageProgress | None = None) -> JudgeRun:
    """Route ``prompts`` with ``profile``, ask the judge ``backend`` about each, and write the report.

    Judgements already in ``out_dir``/judgements.jsonl under the same judge config are reused,
    so a rerun asks only what is missing (and nothing at all when every prompt is judged).

    Raises:
        RoutingTableError: labelled ``rows`` missing a candidate's score.
        BackendConfigError: the backend is not configured, or its key's variable is not set.
        GenerationError: the preflight or a judgement failed (the judgements made are kept).
        JudgeCacheError: the cache is damaged.
    """
    labels = None if rows is None else label_table(profile, rows, candidates, (provenance or {}).get("prompts_file"))
    config = judge_config(backends, backend, candidates, settings)
    router = Router.load(profile, embedder=embedder)
    cost_bias = profile.routing.cost_bias if settings.cost_bias is None else settings.cost_bias
    chosen, router_ms = _route(router, prompts, candidates, cost_bias, progress)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    cache = JudgementCache(out / CACHE_NAME)
    hashes = [prompt_sha256(p) for p in prompts]
    pending = list({h: p for h, p in zip(hashes, prompts) if cache.get(h, config.sha256) is None}.items())
    pre = _ask(backends, config, pending, candidates, cache, settings, progress) if pending else None
    done = tuple(_cached(cache, h, config.sha256) for h in hashes)
    index = {m: k for k, m in enumerate(candidates.ids)}
    judge = np.array([-1 if j.model is None else index[j.model] for j in done], dtype=np.int64)
    outcome = Outcome(tuple(prompts), chosen, router_ms, done, judge)
    summary = {**dict(provenance or {}), **figures(candidates, outcome, labels=labels, bootstrap=settings.bootstrap,
                                                   seed=settings.seed, prices=settings.prices)}
    summary.update(cost_bias=cost_bias, embedder=router.embedder.name, judge=config.to_dict(),
                   run={"asked": len(pending), "from_cache": len(set(hashes)) - len(pending),
                        "cut_tail": cache.cut_tail, "preflight": pre})
    results = [_result(i, p, h, candidates.ids[int(chosen[i])], float(router_ms[i]), j, rows)
               for i, (p, h, j) in enumerate(zip(prompts, hashes, done))]
    return JudgeRun(summary, results, write_outputs(out, summary, results))


def _cached(cache: JudgementCache, sha: str, config_sha: str) -> Judgement:
    j = cache.get(sha, config_sha)
    if j is None:  # ask_all records every job or raises; this would be a bug, not bad data
        raise JudgeCacheError(f"{cache.path}: no judgement of prompt {sha[:12]} after asking for it")
    return j


def _result(i: int, prompt: str, sha: str, ours: str, ms: float, j: Judgement,
            rows: Sequence[RoutingRow] | None) -> dict[str, Any]:
    judge: dict[str, Any] = {"model": j.model}
    if j.model is None:
        judge.update(problem=j.problem, reply=j.reply, finish_reason=j.finish_reason)
    entry: dict[str, Any] = {"row": i, "prompt_sha256": sha, "prompt": prompt,
                             "cactus_router": {"model": ours, "ms": round(ms, 4)}, "judge": judge}
    if rows is not None:
        entry["scores"] = dict(rows[i].scores)
    return entry


__all__ = ["JudgeRun", "JudgeSettings", "StageProgress", "judge_config", "read_judge_prompts", "run_judge"]
