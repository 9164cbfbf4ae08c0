"""The ``cactus-router`` command line. Exit codes: 0 ok, 1 user or data error, 2 usage error, 130/143 SIGINT/SIGTERM."""

from __future__ import annotations

import json
import math
import os
import signal
import sys
import warnings
from collections.abc import Iterator
from types import FrameType
from typing import Any

import click
import numpy as np

from ._cli_eval import COMMANDS, embedder_option, follow_symlinks_option
from ._files import check_output
from .cli_cascade import cascade
from .embedders import DEFAULT_EMBEDDER, NAMES
from .errors import PromptError, RouterError
from .profile import Profile
from .routing import Decision, Router

#: Longest stdin line ``route -`` accepts (bytes): a prompt, not a file.
MAX_STDIN_LINE = 1024 * 1024
#: The exit status of a process killed by SIGPIPE (128 + 13): what a pipeline reader expects.
EXIT_BROKEN_PIPE = 141


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
        except BrokenPipeError:
            # The reader closed the pipe (e.g. 'cactus-router models | head -1'): stop quietly with
            # SIGPIPE's status, and point stdout at /dev/null so the final flush cannot fail again.
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            sys.exit(EXIT_BROKEN_PIPE)
        except KeyboardInterrupt:
            click.echo("Error: interrupted (SIGINT)", err=True)
            ctx.exit(128 + signal.SIGINT)
        except _Terminated:
            click.echo("Error: terminated (SIGTERM)", err=True)
            ctx.exit(128 + signal.SIGTERM)
        except (RouterError, OSError) as exc:
            raise click.ClickException(" ".join(str(exc).split())) from None


def _out(text: str) -> None:
    """Write one line of results to stdout, which must be open: results are never dropped."""
    if sys.stdout is None:
        raise click.ClickException("stdout is closed; the results would be lost (redirect it to a file)")
    click.echo(text)


def _not_nan(ctx: click.Context, param: click.Parameter, value: float | None) -> float | None:
    """FloatRange lets NaN through (every comparison with it is false): refuse it the same way."""
    if value is not None and math.isnan(value):
        raise click.BadParameter("nan is not in the range 0<=x<=1")
    return value


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
    _out(d.model)
    if not d.in_distribution:
        _out("  out of distribution: fallback (" + "; ".join(a.reason for a in d.applied) + ")")
    elif d.applied:
        _out("  policies: " + "; ".join(f"{a.policy}: {a.reason}" for a in d.applied))
    _out(
        f"  cluster {d.cluster} (similarity {d.similarity:.3f}, margin {d.margin:.3f}); "
        f"expected error {d.expected_error:.3f}, cost {d.cost:g}, score {d.score:.3f} at cost_bias {d.cost_bias:g}"
    )
    _out("  ranking: " + ", ".join(f"{m} {s:.3f}" for m, s in d.ranking))
    _out(f"  embedding {d.embed_ms:.2f} ms, scoring {d.score_ms * 1e3:.1f} us")


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
@click.option("--cost-bias", type=click.FloatRange(0.0, 1.0), default=None, callback=_not_nan,
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
    if explain and prompt == "-":
        raise click.UsageError("--explain takes one PROMPT, not '-' (stdin)")
    if explain and as_json:
        raise click.UsageError("--explain prints text; use --json without --explain")
    router = _load_router(profile, embedder)
    kwargs: dict[str, Any] = dict(cost_bias=cost_bias, require=require, allow=allow or None, max_size_mb=max_size_mb)
    if explain:
        _out(str(router.explain(prompt, **kwargs)))
        return
    if prompt == "-":
        for number, text in _stdin_prompts():
            try:
                decision = router.route(text, **kwargs)
            except PromptError as exc:
                raise click.ClickException(f"stdin line {number}: {exc}") from None
            _out(json.dumps({"prompt": text, **decision.to_dict()}, ensure_ascii=False))
        return
    decision = router.route(prompt, **kwargs)
    if as_json:
        _out(json.dumps({"prompt": prompt, **decision.to_dict()}, ensure_ascii=False))
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
    left_out = profile.training.get("catalog_models_left_out")
    if left_out:
        click.echo(f"catalog models left out (no row scores them): {', '.join(left_out)}", err=True)


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
        "training": (training := {k: v for k, v in json.loads(prof.to_json())["training"].items()
                                  if k != "metadata"}),
        "libcactus": (lc := libcactus_info()),
    }
    if as_json:
        _out(json.dumps(summary))
        return
    _out(f"profile     {profile} ({prof.source_format})")
    _out(f"embedder    {prof.embedder.name}, {prof.embedder.dim} dims, "
         f"fingerprint {prof.embedder.fingerprint or 'none (unverifiable)'}")
    _out(f"clusters    {prof.k} (training prompts per cluster: min {int(np.min(sizes))}, "
         f"max {int(np.max(sizes))})")
    _out(f"cost knob   cost_bias {prof.routing.cost_bias:g} -> lambda in [{prof.routing.lambda_min:g}, "
         f"{prof.routing.lambda_max:g}]")
    if prof.routing.ood_threshold is not None:
        _out(f"ood         similarity below {prof.routing.ood_threshold:g}: ranked on overall error rates"
             + (f", or the fallback {prof.routing.fallback}" if prof.routing.fallback else ""))
    for i, (key, value) in enumerate(training.items()):
        _out(f"{'training' if i == 0 else '':<12}{key}: {json.dumps(value, ensure_ascii=False)[:200]}")
    _out("models      id, cost, mean error rate, labelled prompts")
    for row in models:
        _out(f"  {row['id']:<34} {row['cost']:>8g}  {row['mean_error_rate']:.3f}  {row['labelled']}")
    if lc["found"]:
        _out(f"libcactus   {lc['path']} (version {lc['version'] or 'unknown'})")
    else:
        _out(f"libcactus   not found (tried: {'; '.join(lc['tried'])}); {lc['hint']}")


@cli.command()
@json_option
def models(as_json: bool) -> None:
    """List the Cactus on-device model catalog (cost = size in MB)."""
    from .profile.catalog import cactus_catalog

    cat = cactus_catalog()
    if as_json:
        _out(json.dumps([{"id": m.id, "size_mb": m.size_mb, "tokens_per_sec": m.tokens_per_sec,
                                "capabilities": sorted(m.capabilities)} for m in cat]))
        return
    _out(f"{'id':<18}{'size_mb':>8}{'tokens/s':>10}  capabilities")
    for m in cat:
        _out(f"{m.id:<18}{m.size_mb:>8g}{m.tokens_per_sec:>10g}  {', '.join(sorted(m.capabilities))}")


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
cli.add_command(cascade)


def _one_line_warning(message: Warning | str, category: type[Warning], filename: str, lineno: int,
                      line: str | None = None) -> str:
    return f"warning: {' '.join(str(message).split())}\n"


def main() -> None:
    """Console-script entry point: SIGTERM unwinds like Ctrl-C (see ``_Group``)."""
    warnings.formatwarning = _one_line_warning
    signal.signal(signal.SIGTERM, _raise_terminated)
    cli(prog_name="cactus-router")
