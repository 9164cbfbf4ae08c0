"""The ``cactus-router`` command line. Exit codes: 0 ok, 1 user or data error, 2 usage error, 130/143 SIGINT/SIGTERM."""

from __future__ import annotations

import json
import signal
import sys
from types import FrameType
from typing import Any

import click
import numpy as np

from ._cli_eval import COMMANDS, embedder_option, follow_symlinks_option
from ._files import check_output
from .embedders import DEFAULT_EMBEDDER, NAMES
from .errors import RouterError
from .profile import Profile
from .router import Decision, Router


class _Terminated(BaseException):
    """SIGTERM, raised in the main thread (see ``main``); a BaseException, like KeyboardInterrupt, so no
    ``except Exception`` swallows it and every cleanup on the way out (a temporary file) runs."""


def _raise_terminated(signum: int, frame: FrameType | None) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # a second SIGTERM kills at once
    raise _Terminated


class _Group(click.Group):
    """Turns every RouterError (and file errors) into a one-line message and exit code 1.

    SIGINT and SIGTERM unwind like an exception, so an interrupted write removes its temporary
    file, then print one line and exit 130 and 143 (128 + the signal number, as a shell reports).
    """

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt:
            click.echo("Error: interrupted (SIGINT)", err=True)
            ctx.exit(128 + signal.SIGINT)
        except _Terminated:
            click.echo("Error: terminated (SIGTERM)", err=True)
            ctx.exit(128 + signal.SIGTERM)
        except (RouterError, OSError) as exc:
            raise click.ClickException(str(exc)) from None
        except ValueError as exc:  # argument values our API rejects (e.g. cost_bias out of range)
            raise click.ClickException(str(exc)) from None


def _decision_json(prompt: str | None, d: Decision) -> dict[str, Any]:
    out: dict[str, Any] = {} if prompt is None else {"prompt": prompt}
    out.update(
        model=d.model, cluster=d.cluster, similarity=round(d.similarity, 6), margin=round(d.margin, 6),
        expected_error=round(d.expected_error, 6), cost=d.cost, score=round(d.score, 6),
        ranking=[{"model": m, "score": round(s, 6)} for m, s in d.ranking], cost_bias=d.cost_bias,
        embed_ms=round(d.embed_ms, 3), score_ms=round(d.score_ms, 4), in_distribution=d.in_distribution,
    )
    return out


def _echo_decision(d: Decision) -> None:
    click.echo(d.model)
    if not d.in_distribution:
        click.echo("  out of distribution: the profile's fallback model, not a scored choice")
    click.echo(
        f"  cluster {d.cluster} (similarity {d.similarity:.3f}, margin {d.margin:.3f}); "
        f"expected error {d.expected_error:.3f}, cost {d.cost:g}, score {d.score:.3f} at cost_bias {d.cost_bias:g}"
    )
    click.echo("  ranking: " + ", ".join(f"{m} {s:.3f}" for m, s in d.ranking))
    click.echo(f"  embedding {d.embed_ms:.2f} ms, scoring {d.score_ms * 1e3:.1f} us")


def _load_router(profile: str, embedder: str | None, allow_mismatch: bool = False) -> Router:
    return Router.load(profile, embedder=embedder, allow_embedder_mismatch=allow_mismatch)


profile_option = click.option(
    "--profile", "-p", default="default", show_default=True, help="Profile path or bundled profile name."
)
json_option = click.option("--json", "as_json", is_flag=True, help="Machine-readable JSON on stdout.")


def _auto_number(value: str, hint: str) -> float | str:
    if value == "auto":
        return value
    try:
        return float(value)
    except ValueError:
        raise click.BadParameter(f"must be a number or 'auto', got {value!r}", param_hint=hint) from None


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="cactus-router")
def cli() -> None:
    """On-device LLM routing: pick the cheapest model likely to answer well."""


@cli.command()
@click.argument("prompt")
@profile_option
@embedder_option
@click.option("--cost-bias", type=click.FloatRange(0.0, 1.0), default=None,
              help="0 = best quality regardless of cost, 1 = strongest preference for cheap models "
              "(default: the profile's).")
@click.option("--require", multiple=True, metavar="CAP", help="Capability the model must have (repeatable).")
@click.option("--allow", multiple=True, metavar="ID", help="Only route to these model ids (repeatable).")
@click.option("--max-size-mb", type=click.FloatRange(min=0.0), default=None, help="Memory cap for the model.")
@click.option("--explain", is_flag=True, help="Say why: the cluster, its training tasks, every model's terms.")
@json_option
def route(prompt: str, profile: str, embedder: str | None, cost_bias: float | None, require: tuple[str, ...],
          allow: tuple[str, ...], max_size_mb: float | None, explain: bool, as_json: bool) -> None:
    """Route PROMPT; with PROMPT '-', route each line of stdin and print one JSON line each."""
    router = _load_router(profile, embedder)
    kwargs: dict[str, Any] = dict(cost_bias=cost_bias, require=require, allow=allow or None, max_size_mb=max_size_mb)
    if explain:
        if prompt == "-" or as_json:
            raise click.UsageError("--explain takes one PROMPT and prints text; use --json without it")
        click.echo(str(router.explain(prompt, **kwargs)))
        return
    if prompt == "-":
        for line in sys.stdin:
            text = line.rstrip("\n")
            if text.strip():
                click.echo(json.dumps(_decision_json(text, router.route(text, **kwargs)), ensure_ascii=False))
        return
    decision = router.route(prompt, **kwargs)
    if as_json:
        click.echo(json.dumps(_decision_json(prompt, decision), ensure_ascii=False))
    else:
        _echo_decision(decision)


@cli.command()
@click.argument("data", type=click.Path(dir_okay=False))
@click.option("--models", "-m", default="cactus", show_default=True,
              help="'cactus' (the catalog), 'table' (every model DATA scores, costing its mean per-prompt "
                   "'costs' in DATA) or a JSON file listing {id, cost, size_mb?, capabilities?}.")
@click.option("--queries", type=click.Path(exists=True, dir_okay=False), default=None,
              help="For LLMRouter JSON data: its query .jsonl, to attach each prompt's task.")
@click.option("--embedder", "-e", default=DEFAULT_EMBEDDER, show_default=True, help=", ".join(NAMES) + ".")
@click.option("--k", "k", default="auto", show_default=True, help="Number of clusters, or 'auto'.")
@click.option("--smoothing", default="auto", show_default=True,
              help="Pseudo-rows shrinking each cluster's error rate toward the model's global rate, or 'auto'.")
@click.option("--temperature", default="auto", show_default=True,
              help="Soft-assignment temperature (0 = nearest cluster only), or 'auto'.")
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--output", "-o", required=True, type=click.Path(dir_okay=False), help="Profile file to write.")
@follow_symlinks_option
def train(data: str, models: str, queries: str | None, embedder: str, k: str, smoothing: str, temperature: str,
          seed: int, output: str, follow_symlinks: bool) -> None:
    """Train a profile from DATA: JSONL rows {"prompt", "scores": {model: 0..1}, "task"?, "costs"?}.

    'auto' settings are chosen by cross-validated area under the deferral curve on DATA.
    """
    from .data import read_table
    from .training import train as train_profile

    if k != "auto" and (not k.isdigit() or int(k) < 1):
        raise click.BadParameter("must be a positive integer or 'auto'", param_hint="--k")
    smooth_v = _auto_number(smoothing, "--smoothing")
    temp_v = _auto_number(temperature, "--temperature")
    check_output(output, follow_symlinks=follow_symlinks)
    rows = read_table(data, queries=queries)
    with click.progressbar(length=len(rows), label="embedding", file=sys.stderr) as bar:
        done = [0]

        def progress(n: int, total: int) -> None:
            bar.update(n - done[0])
            done[0] = n

        profile = train_profile(rows, models, embedder=embedder, k="auto" if k == "auto" else int(k), seed=seed,
                                smoothing=smooth_v, temperature=temp_v, progress=progress, provenance={"data": data})
    profile.save(output, follow_symlinks=follow_symlinks)
    click.echo(f"wrote {output}: k={profile.k}, {len(profile.models)} models, embedder {profile.embedder.name}",
               err=True)


@cli.command()
@profile_option
@json_option
def info(profile: str, as_json: bool) -> None:
    """Summarise a profile (embedder, clusters, models, mean error rates) and where libcactus is."""
    from .embedders.cactus import libcactus_info

    prof = Profile.load(profile)
    sizes = prof.cluster_sizes
    models = [
        {"id": m.id, "cost": m.cost, "size_mb": m.size_mb, "capabilities": sorted(m.capabilities),
         "mean_error_rate": round(m.overall_error_rate, 4), "labelled": int(m.counts.sum())}
        for m in prof.models
    ]
    summary = {
        "format": prof.source_format,
        "embedder": {"name": prof.embedder.name, "dim": prof.embedder.dim, "fingerprint": prof.embedder.fingerprint},
        "clusters": prof.k,
        "cluster_sizes": [int(s) for s in sizes],
        "models": models,
        "routing": {"lambda_min": prof.routing.lambda_min, "lambda_max": prof.routing.lambda_max,
                    "cost_bias": prof.routing.cost_bias},
        "training": {k: v for k, v in json.loads(prof.to_json())["training"].items() if k != "metadata"},
        "libcactus": (lc := libcactus_info()),
    }
    if as_json:
        click.echo(json.dumps(summary))
        return
    click.echo(f"profile     {profile} ({prof.source_format})")
    click.echo(f"embedder    {prof.embedder.name}, {prof.embedder.dim} dims, "
               f"fingerprint {prof.embedder.fingerprint or 'none (unverifiable)'}")
    click.echo(f"clusters    {prof.k} (training prompts per cluster: min {int(np.min(sizes))}, "
               f"max {int(np.max(sizes))})")
    click.echo(f"cost knob   cost_bias {prof.routing.cost_bias:g} -> lambda in [{prof.routing.lambda_min:g}, "
               f"{prof.routing.lambda_max:g}]")
    click.echo("models      id, cost, mean error rate, labelled prompts")
    for row in models:
        click.echo(f"  {row['id']:<34} {row['cost']:>8g}  {row['mean_error_rate']:.3f}  {row['labelled']}")
    if lc["found"]:
        click.echo(f"libcactus   {lc['path']} (version {lc['version'] or 'unknown'})")
    else:
        click.echo(f"libcactus   not found (tried: {'; '.join(lc['tried'])}); {lc['hint']}")


@cli.command()
@json_option
def models(as_json: bool) -> None:
    """List the Cactus on-device model catalog (cost = size in MB)."""
    from .catalog import cactus_catalog

    cat = cactus_catalog()
    if as_json:
        click.echo(json.dumps([{"id": m.id, "size_mb": m.size_mb, "tokens_per_sec": m.tokens_per_sec,
                                "capabilities": sorted(m.capabilities)} for m in cat]))
        return
    click.echo(f"{'id':<18}{'size_mb':>8}{'tokens/s':>10}  capabilities")
    for m in cat:
        click.echo(f"{m.id:<18}{m.size_mb:>8g}{m.tokens_per_sec:>10g}  {', '.join(sorted(m.capabilities))}")


@cli.command()
@click.argument("source", type=click.Path(exists=True, dir_okay=False))
@click.argument("output", type=click.Path(dir_okay=False))
@follow_symlinks_option
def convert(source: str, output: str, follow_symlinks: bool) -> None:
    """Convert a Nordlys v0.1 / AuroraAI profile (or a v1 one) to a v1 profile file."""
    prof = Profile.load(source)
    prof.save(output, follow_symlinks=follow_symlinks)
    click.echo(f"wrote {output} ({prof.source_format} -> v1); it still has no embedder fingerprint", err=True)


for _command in COMMANDS:
    cli.add_command(_command)


def main() -> None:
    """Console-script entry point: SIGTERM unwinds like Ctrl-C (see ``_Group``)."""
    signal.signal(signal.SIGTERM, _raise_terminated)
    cli(prog_name="cactus-router")
