"""The eval command: a profile measured beside the baselines on labelled data."""

from __future__ import annotations

import json
import os

import click

from ..profile import Profile
from ._common import embedder_option, follow_symlinks_option, progress_line


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
@click.option("--tiers", "tiers_file", type=click.Path(exists=True, dir_okay=False), default=None,
              help="DATA's tier labels (label-tiers DATA ...) for a profile with tier counts; default: DATA "
                   "labelled with the 9-cell oracle over the profile's tier pair.")
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
                 cost_bias: float | None, sweep: bool, train_data: str | None, train_queries: str | None,
                 tiers_file: str | None, embedder: str | None, latency_sample: int,
                 bootstrap: int, seed: int, report: bool, no_charts: bool, as_json: bool,
                 follow_symlinks: bool) -> None:
    """Evaluate PROFILE on labelled DATA beside the baselines; write the results to --output."""
    out = out or out_alias or "eval-results"  # --out: the old spelling, kept as a hidden alias
    from ..data import read_table
    from ..evaluation import evaluate
    from ..report import markdown_table, tier_markdown, write_outputs
    from ..tiers import read_labels

    if sweep and cost_bias is not None:
        raise click.UsageError("give --cost-bias or --sweep, not both")
    if report and no_charts:
        raise click.UsageError("--report embeds the charts; drop --no-charts")
    prof = Profile.load(profile)
    rows = read_table(data, queries=queries)
    train_rows = None if train_data is None else read_table(train_data, queries=train_queries)
    labels = None if tiers_file is None else read_labels(tiers_file, rows)
    ev = evaluate(prof, rows, embedder=embedder, train_rows=train_rows, cost_bias=cost_bias, sweep=sweep,
                  latency_sample=latency_sample, bootstrap=bootstrap, seed=seed, source=data, tier_labels=labels,
                  progress=progress_line)
    ev.summary.update(profile=profile, data=data, train=train_data)
    written = write_outputs(ev, out, charts=not no_charts, report=report, follow_symlinks=follow_symlinks)
    if as_json:
        click.echo(json.dumps(ev.summary))
    else:
        click.echo(markdown_table(ev.summary))
        if "tiers" in ev.summary:
            click.echo("\n" + tier_markdown(ev.summary["tiers"]) + "\n")
        for note in ev.summary["notes"]:
            click.echo(f"- {note}")
    click.echo(f"wrote {len(written)} files to {out}{os.sep}", err=True)


