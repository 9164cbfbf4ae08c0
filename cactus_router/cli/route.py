"""The commands that read a profile and route with it: route, info, models, convert."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from typing import Any

import click
import numpy as np

from ..errors import PromptError
from ..info import profile_summary
from ..profile import Profile
from ..routing import Decision
from ._common import (
    MAX_STDIN_LINE,
    embedder_option,
    follow_symlinks_option,
    json_option,
    load_router,
    not_nan,
    out,
    profile_option,
)


def _stdin_prompts() -> Iterator[tuple[int, str]]:
    """Non-blank stdin lines with their line numbers, decoded strictly as UTF-8."""
    if sys.stdin is None:
        raise click.ClickException("stdin is closed; pipe the prompts into 'route -', one per line")
    stream = sys.stdin.buffer
    number = 0
    while True:
        try:
            raw = stream.readline(MAX_STDIN_LINE + 1)
        except OSError as exc:
            raise click.ClickException(f"cannot read stdin: {exc.strerror or exc}") from None
        if not raw:
            return
        number += 1
        if len(raw) > MAX_STDIN_LINE and not raw.endswith(b"\n"):
            raise click.ClickException(f"stdin line {number}: longer than {MAX_STDIN_LINE} bytes; one prompt a line")
        try:
            text = raw.decode("utf-8").rstrip("\r\n")
        except UnicodeDecodeError as exc:
            raise click.ClickException(f"stdin line {number}: not valid UTF-8 (byte {exc.start + 1})") from None
        if text.strip():
            yield number, text


def _echo_decision(d: Decision) -> None:
    out(d.model)
    if not d.in_distribution:
        out("  out of distribution: fallback (" + "; ".join(a.reason for a in d.applied) + ")")
    elif d.applied:
        out("  policies: " + "; ".join(f"{a.policy}: {a.reason}" for a in d.applied))
    out(
        f"  cluster {d.cluster} (similarity {d.similarity:.3f}, margin {d.margin:.3f}); "
        f"expected error {d.expected_error:.3f}, cost {d.cost:g}, score {d.score:.3f} at cost_bias {d.cost_bias:g}"
    )
    if d.tier is not None:
        out(f"  tier {d.tier}" + ("" if d.tier_probability is None else f" (probability {d.tier_probability:.3f})"))
    out("  ranking: " + ", ".join(f"{m} {s:.3f}" for m, s in d.ranking))
    out(f"  embedding {d.embed_ms:.2f} ms, scoring {d.score_ms * 1e3:.1f} us")


@click.command()
@click.argument("prompt", required=False)
@profile_option
@embedder_option
@click.option("--cost-bias", type=click.FloatRange(0.0, 1.0), default=None, callback=not_nan,
              help="0 = best quality regardless of cost, 1 = strongest preference for cheap models "
              "(default: the profile's).")
@click.option("--require", multiple=True, metavar="CAP", help="Capability the model must have (repeatable).")
@click.option("--allow", multiple=True, metavar="ID", help="Only route to these model ids (repeatable).")
@click.option("--max-size-mb", type=click.FloatRange(min=0.0), default=None, help="Memory cap for the model.")
@click.option("--explain", is_flag=True, help="Say why: the cluster, its training tasks, every model's terms.")
@json_option
@click.option("--engine", type=click.Choice(["local", "ray"]), default="local", show_default=True,
              help="'ray': route the --input file on a Ray cluster into the --output Parquet folder.")
@click.option("--input", "input_path", type=click.Path(exists=True, dir_okay=False), default=None,
              help="With --engine ray: prompts as JSONL or Parquet.")
@click.option("--output", "-o", type=click.Path(), default=None, help="With --engine ray: the Parquet folder.")
@click.option("--address", default=None, help="With --engine ray: 'auto', host:port or ray://host:port.")
@click.option("--num-actors", type=click.IntRange(min=1), default=1, show_default=True,
              help="With --engine ray: routing actors.")
@click.option("--batch-size", type=click.IntRange(min=1), default=None, help="With --engine ray: rows per batch.")
@click.option("--prompt-column", default="prompt", show_default=True, help="With --engine ray: the prompt field.")
@click.option("--part-rows", type=click.IntRange(min=1), default=10_000, show_default=True,
              help="With --engine ray: rows per output part.")
def route(prompt: str | None, profile: str, embedder: str | None, cost_bias: float | None, require: tuple[str, ...],
          allow: tuple[str, ...], max_size_mb: float | None, explain: bool, as_json: bool, engine: str,
          input_path: str | None, output: str | None, address: str | None, num_actors: int,
          batch_size: int | None, prompt_column: str, part_rows: int) -> None:
    """Route PROMPT; with PROMPT '-', route each line of stdin and print one JSON line each; with
    --engine ray, route a whole file on a Ray cluster (resumable)."""
    if engine == "ray":
        if prompt is not None or input_path is None or output is None or explain or as_json:
            raise click.UsageError("--engine ray takes --input and --output (not PROMPT, --explain or --json)")
        from .ray import run_route

        run_route(input_path, output, profile=profile, embedder=embedder, cost_bias=cost_bias, require=require,
                  allow=allow or None, max_size_mb=max_size_mb, address=address, num_actors=num_actors,
                  batch_size=batch_size, prompt_column=prompt_column, part_rows=part_rows)
        return
    if prompt is None:
        raise click.UsageError("give a PROMPT, '-' for stdin, or --engine ray --input FILE --output DIR")
    if input_path or output or address:
        raise click.UsageError("--input, --output and --address go with --engine ray")
    if explain and prompt == "-":
        raise click.UsageError("--explain takes one PROMPT, not '-' (stdin)")
    if explain and as_json:
        raise click.UsageError("--explain prints text; use --json without --explain")
    router = load_router(profile, embedder)
    kwargs: dict[str, Any] = dict(cost_bias=cost_bias, require=require, allow=allow or None, max_size_mb=max_size_mb)
    if explain:
        out(str(router.explain(prompt, **kwargs)))
        return
    if prompt == "-":
        for number, text in _stdin_prompts():
            try:
                decision = router.route(text, **kwargs)
            except PromptError as exc:
                raise click.ClickException(f"stdin line {number}: {exc}") from None
            out(json.dumps({"prompt": text, **decision.to_dict()}, ensure_ascii=False))
        return
    decision = router.route(prompt, **kwargs)
    if as_json:
        out(json.dumps({"prompt": prompt, **decision.to_dict()}, ensure_ascii=False))
    else:
        _echo_decision(decision)


@click.command()
@profile_option
@json_option
def info(profile: str, as_json: bool) -> None:
    """Summarise a profile (embedder, clusters, models, mean error rates, provenance) and where libcactus is."""
    prof = Profile.load(profile)
    summary = profile_summary(prof)
    if as_json:
        out(json.dumps(summary))
        return
    sizes = prof.cluster_sizes
    out(f"profile     {profile} ({prof.source_format})")
    out(f"embedder    {prof.embedder.name}, {prof.embedder.dim} dims, "
        f"fingerprint {prof.embedder.fingerprint or 'none (unverifiable)'}")
    out(f"clusters    {prof.k} (training prompts per cluster: min {int(np.min(sizes))}, max {int(np.max(sizes))})")
    out(f"cost knob   cost_bias {prof.routing.cost_bias:g} -> lambda in [{prof.routing.lambda_min:g}, "
        f"{prof.routing.lambda_max:g}]")
    routed = "ranked on overall error rates" + (f", or the fallback {prof.routing.fallback}"
                                                  if prof.routing.fallback else "")
    if prof.routing.ood_threshold is not None:
        out(f"ood         similarity below {prof.routing.ood_threshold:g}: {routed}")
    checks = prof.ood
    if checks is not None and checks.topic is not None:
        out(f"ood         unseen topic: familiarity below {checks.topic.threshold:g} (calibrated to flag "
            f"{checks.topic.fpr:.0%} of held-out training prompts): {routed}")
    if checks is not None and checks.script is not None:
        out(f"ood         unsupported script: more than {checks.script.threshold:.0%} of a prompt's letters outside "
            f"the {checks.script.vocabulary} vocabulary: {routed}")
    for i, (key, value) in enumerate(summary["training"].items()):
        out(f"{'training' if i == 0 else '':<12}{key}: {json.dumps(value, ensure_ascii=False)[:200]}")
    out("models      id, cost, mean error rate, labelled prompts")
    for row in summary["models"]:
        out(f"  {row['id']:<34} {row['cost']:>8g}  {row['mean_error_rate']:.3f}  {row['labelled']}")
    lc = summary["libcactus"]
    if lc["found"]:
        out(f"libcactus   {lc['path']} (version {lc['version'] or 'unknown'})")
    else:
        out(f"libcactus   not found (tried: {'; '.join(lc['tried'])}); {lc['hint']}")


@click.command()
@json_option
def models(as_json: bool) -> None:
    """List the Cactus on-device model catalog (cost = size in MB)."""
    from ..profile.catalog import cactus_catalog

    cat = cactus_catalog()
    if as_json:
        out(json.dumps([{"id": m.id, "size_mb": m.size_mb, "tokens_per_sec": m.tokens_per_sec,
                                "capabilities": sorted(m.capabilities)} for m in cat]))
        return
    out(f"{'id':<18}{'size_mb':>8}{'tokens/s':>10}  capabilities")
    for m in cat:
        out(f"{m.id:<18}{m.size_mb:>8g}{m.tokens_per_sec:>10g}  {', '.join(sorted(m.capabilities))}")


@click.command()
@click.argument("source", type=click.Path(exists=True, dir_okay=False))
@click.argument("output", type=click.Path(dir_okay=False))
@follow_symlinks_option
def convert(source: str, output: str, follow_symlinks: bool) -> None:
    """Convert a Nordlys v0.1 / AuroraAI profile (or a v1 one) to a v1 profile file."""
    prof = Profile.load(source)
    prof.save(output, follow_symlinks=follow_symlinks)
    click.echo(f"wrote {output} ({prof.source_format} -> v1); it still has no embedder fingerprint", err=True)


