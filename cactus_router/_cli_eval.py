"""The ``eval``, ``calibrate`` and ``add-model`` commands (registered on the main group in cli.py)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import click

from ._files import check_output
from .embedders import NAMES
from .profile import Profile, bundled_profiles


def _progress(stage: str, done: int, total: int) -> None:
    """Progress on stderr: one line per stage, redrawn in place."""
    click.echo(f"\r{stage}: {done}/{total}", nl=done >= total, err=True)


def _output_path(profile: str, output: str | None, follow_symlinks: bool) -> str:
    """Where an updated profile goes: ``output``, else the profile file itself (never a bundled one).

    Raises:
        OutputError: that path may not be replaced (checked now, before the command's work).
    """
    if output is None and not Path(profile).exists() and profile in bundled_profiles():
        raise click.UsageError(f"{profile!r} is a bundled profile; write the updated copy elsewhere with -o PATH")
    dest = profile if output is None else output
    check_output(dest, follow_symlinks=follow_symlinks)
    return dest


#: --embedder for every command that reads a profile (route, eval, calibrate, add-model).
embedder_option = click.option(
    "--embedder", "-e", default=None, help=f"{', '.join(NAMES)} (default: the embedder the profile records).")
#: --follow-symlinks for every command that writes a file (convert, train, eval, calibrate, add-model).
follow_symlinks_option = click.option(
    "--follow-symlinks", is_flag=True,
    help="Write through an output that is a symbolic link, to the file it points to (default: refuse it).")


@click.command("eval")
@click.argument("profile")
@click.argument("data", type=click.Path(exists=True, dir_okay=False))
@click.option("--queries", type=click.Path(exists=True, dir_okay=False), default=None,
              help="For LLMRouter JSON data: its query .jsonl, to attach each prompt's task.")
@click.option("--output", "-o", "out", default=None, type=click.Path(file_okay=False),
              help="Directory for results.json, summary.json, the CSV files and the charts [default: eval-results].")
@click.option("--out", "out_alias", default=None, hidden=True, type=click.Path(file_okay=False))
@click.option("--cost-bias", type=click.FloatRange(0.0, 1.0), default=None,
              help="Operating point (default: the profile's cost_bias).")
@click.option("--sweep", is_flag=True, help="Also report operating points at cost_bias 0, 0.1, ..., 1.")
@click.option("--train", "train_data", type=click.Path(exists=True, dir_okay=False), default=None,
              help="Training split for the learned baselines (kNN, logistic); without it they do not run.")
@click.option("--train-queries", type=click.Path(exists=True, dir_okay=False), default=None,
              help="For LLMRouter JSON training data: its query .jsonl.")
@embedder_option
@click.option("--latency-sample", default=100, show_default=True, type=click.IntRange(min=0),
              help="Prompts routed one at a time for the latency percentiles.")
@click.option("--bootstrap", default=1000, show_default=True, type=click.IntRange(min=0),
              help="Resamples of DATA for the 95% intervals and the paired differences (0: none).")
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--report", is_flag=True, help="Also write report.html: the tables and charts on one page.")
@click.option("--no-charts", is_flag=True, help="Skip the PNG charts (no matplotlib needed).")
@click.option("--json", "as_json", is_flag=True, help="Print summary.json to stdout instead of the table.")
@follow_symlinks_option
def eval_command(profile: str, data: str, queries: str | None, out: str | None, out_alias: str | None,
                 cost_bias: float | None, sweep: bool,
                 train_data: str | None, train_queries: str | None, embedder: str | None, latency_sample: int,
                 bootstrap: int, seed: int, report: bool, no_charts: bool, as_json: bool,
                 follow_symlinks: bool) -> None:
    """Evaluate PROFILE on labelled DATA beside the baselines; write the results to --output."""
    out = out or out_alias or "eval-results"  # --out: the old spelling, kept as a hidden alias
    from .data import read_table
    from .evaluation import evaluate
    from .report import markdown_table, write_outputs

    if sweep and cost_bias is not None:
        raise click.UsageError("give --cost-bias or --sweep, not both")
    if report and no_charts:
        raise click.UsageError("--report embeds the charts; drop --no-charts")
    prof = Profile.load(profile)
    rows = read_table(data, queries=queries)
    train_rows = None if train_data is None else read_table(train_data, queries=train_queries)
    ev = evaluate(prof, rows, embedder=embedder, train_rows=train_rows, cost_bias=cost_bias, sweep=sweep,
                  latency_sample=latency_sample, bootstrap=bootstrap, seed=seed, source=data, progress=_progress)
    ev.summary.update(profile=profile, data=data, train=train_data)
    written = write_outputs(ev, out, charts=not no_charts, report=report, follow_symlinks=follow_symlinks)
    if as_json:
        click.echo(json.dumps(ev.summary))
    else:
        click.echo(markdown_table(ev.summary))
        for note in ev.summary["notes"]:
            click.echo(f"- {note}")
    click.echo(f"wrote {len(written)} files to {out}{os.sep}", err=True)


@click.command("calibrate")
@click.argument("profile")
@click.argument("prompts", type=click.Path(exists=True, dir_okay=False))
@click.option("--target", "-t", "targets", multiple=True, required=True,
              help="A budget, repeatable: 'mean_size_mb<=500', 'largest_share<=30%', 'mean_cost<=0.4'.")
@click.option("--output", "-o", default=None, type=click.Path(dir_okay=False),
              help="Write the calibrated profile here (default: update PROFILE in place).")
@embedder_option
@click.option("--json", "as_json", is_flag=True, help="Machine-readable JSON on stdout.")
@follow_symlinks_option
def calibrate_command(profile: str, prompts: str, targets: tuple[str, ...], output: str | None,
                      embedder: str | None, as_json: bool, follow_symlinks: bool) -> None:
    """Set PROFILE's default cost_bias to the lowest one whose routing of PROMPTS meets every --target."""
    from .calibration import Target, calibrate, read_prompts

    try:
        goals = [Target.parse(t) for t in targets]
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--target") from None
    dest = _output_path(profile, output, follow_symlinks)
    result = calibrate(Profile.load(profile), read_prompts(prompts), goals, embedder=embedder, source=prompts)
    result.profile.save(dest, follow_symlinks=follow_symlinks)
    if as_json:
        click.echo(json.dumps({"cost_bias": result.cost_bias, "targets": [str(g) for g in goals],
                               "prompts": result.prompts, "achieved": result.figures, "profile": dest}))
        return
    f = result.figures
    size = "" if f["mean_size_mb"] is None else f", mean size_mb {f['mean_size_mb']:.1f}"
    click.echo(f"cost_bias {result.cost_bias:g}: on {result.prompts} prompts, mean cost {f['mean_cost']:.4g}{size}, "
               f"{f['largest_share']:.1%} to the largest model ({f['largest_model']})")
    click.echo(f"wrote {dest} (default cost_bias {result.cost_bias:g})", err=True)


@click.command("add-model")
@click.argument("profile")
@click.option("--model", "model_id", required=True, help="Id of the model to add.")
@click.option("--cost", required=True, type=click.FloatRange(min=0.0), help="Its cost (same unit as the profile's).")
@click.option("--size-mb", type=click.FloatRange(min=0.0), default=None, help="Its size in MB.")
@click.option("--capability", "capabilities", multiple=True, default=("text",), show_default=True,
              help="Capability, repeatable: text, tools, vision, embed.")
@click.option("--labels", required=True, type=click.Path(exists=True, dir_okay=False),
              help="Routing table whose rows score the model (other models' scores are ignored).")
@click.option("--queries", type=click.Path(exists=True, dir_okay=False), default=None,
              help="For LLMRouter JSON labels: its query .jsonl.")
@click.option("--smoothing", type=click.FloatRange(min=0.0), default=None,
              help="Pseudo-rows toward the model's global rate (default: the profile's training smoothing).")
@click.option("--output", "-o", default=None, type=click.Path(dir_okay=False),
              help="Write the new profile here (default: update PROFILE in place).")
@embedder_option
@follow_symlinks_option
def add_model_command(profile: str, model_id: str, cost: float, size_mb: float | None, capabilities: tuple[str, ...],
                      labels: str, queries: str | None, smoothing: float | None, output: str | None,
                      embedder: str | None, follow_symlinks: bool) -> None:
    """Add a model to PROFILE from labelled prompts, keeping its centroids (no re-clustering)."""
    from .calibration import add_model
    from .data import read_table

    dest = _output_path(profile, output, follow_symlinks)
    added = add_model(Profile.load(profile), read_table(labels, queries=queries), model_id, cost, size_mb=size_mb,
                      capabilities=capabilities, embedder=embedder, smoothing=smoothing, source=labels)
    added.profile.save(dest, follow_symlinks=follow_symlinks)
    click.echo(f"added {model_id} from {added.rows} labelled prompts ({added.skipped} rows without its score skipped; "
               f"{added.empty_clusters} of {added.profile.k} clusters without labels take its global rate)")
    click.echo(f"wrote {dest}", err=True)


COMMANDS = (eval_command, calibrate_command, add_model_command)
