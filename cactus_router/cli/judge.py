"""``cactus-router judge``: cactus-router's choices against an LLM judge's, with the report (cactus_router.judge)."""

from __future__ import annotations

import json
import math
import os
from typing import Any

import click

from ..errors import RouterError


class _Command(click.Command):
    """Turns every RouterError (and file errors) into a one-line message and exit code 1, as the main group does."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (RouterError, OSError) as exc:
            raise click.ClickException(" ".join(str(exc).split())) from None


class _Progress:
    """Progress on stderr, one line per stage redrawn in place; ``close`` ends a line an error left open."""

    def __init__(self) -> None:
        self.open = False

    def __call__(self, stage: str, done: int, total: int) -> None:
        click.echo(f"\r{stage}: {done}/{total}", nl=done >= total, err=True)
        self.open = done < total

    def close(self) -> None:
        if self.open:
            click.echo("", err=True)
            self.open = False


def _finite(ctx: click.Context, param: click.Parameter, value: float | None) -> float | None:
    """FloatRange lets NaN and infinity through for open ranges: refuse them."""
    if value is not None and not math.isfinite(value):
        raise click.BadParameter(f"must be a finite number, got {value}")
    return value


@click.command("judge", cls=_Command)
@click.argument("profile")
@click.argument("prompts", type=click.Path(exists=True, dir_okay=False))
@click.option("--backend", "-b", required=True, metavar="NAME",
              help="The judge: a model id of the backend config (docs/backends.md).")
@click.option("--backends", "config", default="backends.toml", show_default=True, envvar="CACTUS_ROUTER_BACKENDS",
              type=click.Path(dir_okay=False), help="The backend config (TOML); also $CACTUS_ROUTER_BACKENDS.")
@click.option("--models", "-m", default=None,
              help="The candidates: 'cactus' (the catalog) or a JSON file of {id, cost, size_mb?, capabilities?}; "
                   "those the profile routes to are kept [default: the profile's models].")
@click.option("--output", "-o", "out", default=None, type=click.Path(file_okay=False),
              help="Directory for judgements.jsonl (the cache), summary.json, report.md, results.json and "
                   "agreement_matrix.csv [default: judge-results].")
@click.option("--out", "out_alias", default=None, hidden=True, type=click.Path(file_okay=False))
@click.option("--cost-bias", type=click.FloatRange(0.0, 1.0), default=None, callback=_finite,
              help="The router's operating point (default: the profile's cost_bias).")
@click.option("--embedder", "-e", default=None, help="The router's embedder (default: the one the profile records).")
@click.option("--concurrency", default=4, show_default=True, type=click.IntRange(1, 64),
              help="Judgements in flight at once.")
@click.option("--rate", default=2.0, show_default=True, type=click.FloatRange(min=0.0, min_open=True),
              callback=_finite, help="Most judgement requests started per second.")
@click.option("--max-tokens", default=256, show_default=True, type=click.IntRange(min=1),
              help="Cap on each reply (thinking models spend part of it before they answer).")
@click.option("--no-json-mode", is_flag=True, help="Do not send response_format (for servers that refuse it).")
@click.option("--price-input", type=click.FloatRange(min=0.0), default=None, callback=_finite,
              help="The judge's USD per million input tokens, for a dollar figure (with --price-output).")
@click.option("--price-output", type=click.FloatRange(min=0.0), default=None, callback=_finite,
              help="The judge's USD per million output tokens.")
@click.option("--bootstrap", default=1000, show_default=True, type=click.IntRange(min=0),
              help="Resamples for the 95% intervals (0: none).")
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--json", "as_json", is_flag=True, help="Print summary.json to stdout instead of the report.")
def judge(profile: str, prompts: str, backend: str, config: str, models: str | None, out: str | None,
          out_alias: str | None, cost_bias: float | None, embedder: str | None, concurrency: int, rate: float,
          max_tokens: int, no_json_mode: bool, price_input: float | None, price_output: float | None,
          bootstrap: int, seed: int, as_json: bool) -> None:
    """Route PROMPTS with PROFILE and ask an LLM judge which candidate should answer each; report both.

    PROMPTS: one prompt a line, JSONL of {"prompt"}, or a routing table with "scores" (then the
    quality each router's choices reach is reported too). Agreement with a judge is not quality.
    """
    from ..generation import load_backends
    from ..judge import CACHE_NAME, JudgeSettings, build_candidates, markdown, read_judge_prompts, run_judge
    from ..profile import Profile

    out = out or out_alias or "judge-results"  # --out: the spelling of the issue, kept as a hidden alias
    if (price_input is None) != (price_output is None):
        raise click.UsageError("give both --price-input and --price-output, or neither")
    prices = None if price_input is None or price_output is None else (price_input, price_output)
    backends = load_backends(config)
    prof = Profile.load(profile)
    candidates = build_candidates(prof, models)
    if candidates.left_out:
        click.echo(f"models the profile does not route to, left out: {', '.join(candidates.left_out)}", err=True)
    texts, rows = read_judge_prompts(prompts)
    settings = JudgeSettings(cost_bias=cost_bias, concurrency=concurrency, rate=rate, max_tokens=max_tokens,
                             json_object=not no_json_mode, bootstrap=bootstrap, seed=seed, prices=prices)
    progress = _Progress()
    try:
        run = run_judge(prof, texts, backends, backend, out, candidates=candidates, rows=rows, embedder=embedder,
                        settings=settings, provenance={"profile": profile, "prompts_file": prompts,
                                                       "backend_config": config},
                        progress=progress)
    finally:
        progress.close()
    if run.summary["run"]["cut_tail"]:
        click.echo("the cache's last line was cut off by an interrupted run: dropped, and that prompt asked again",
                   err=True)
    click.echo(json.dumps(run.summary) if as_json else markdown(run.summary))
    click.echo(f"wrote {', '.join(p.name for p in run.written)} and the cache {CACHE_NAME} in {out}{os.sep} "
               f"({run.summary['run']['asked']} judgements asked, {run.summary['run']['from_cache']} from the cache)",
               err=True)


__all__ = ["judge"]
