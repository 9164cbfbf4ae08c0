"""The commands that build or change a profile: train, calibrate, add-model."""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from .._files import check_output
from ..embedders import DEFAULT_EMBEDDER, NAMES
from ..maps import METHODS
from ..profile import Profile
from ._common import auto_number, embedder_option, follow_symlinks_option, output_path


@click.command()
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
@click.option("--ood", default="auto", show_default=True, type=click.Choice(["auto", "centroid", "topic", "none"]),
              help="Out-of-distribution check: 'centroid' (similarity threshold), 'topic' (neighbours and "
                   "Mahalanobis), 'auto' (topic when it detects held-out tasks of DATA better), 'none'. "
                   "A MiniLM embedder also gets the unsupported-script check unless 'none'.")
@click.option("--method", default="auto", show_default=True, type=click.Choice(METHODS),
              help="Map from prompt to predicted error: 'cluster' (per-cluster rates), 'knn-prior' (nearest "
                   "training prompts shrunk toward the cluster rates), 'logistic' (per-model logistic regression "
                   "on the embedding), 'ensemble' (the mean of the cluster rule, logistic and knn-prior), each "
                   "stored in the profile; 'auto' (the cheapest within one standard error of the best "
                   "cross-validated area on DATA, the cluster rule first).")
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--tiers", "tiers_file", type=click.Path(dir_okay=False), default=None,
              help="TIERS.jsonl from label-tiers on DATA: store per-cluster tier counts (docs/tiers.md).")
@click.option("--tiers-from", default=None, metavar="MEDIUM,LARGE",
              help="Label DATA's tiers on the fly with the 9-cell oracle over these two models.")
@click.option("--tiers-skip", is_flag=True, help="With --tiers-from: leave rows the oracle cannot label untiered.")
@click.option("--output", "-o", required=True, type=click.Path(dir_okay=False), help="Profile file to write.")
@follow_symlinks_option
def train(data: str, models: str, queries: str | None, embedder: str, k: str, smoothing: str, temperature: str,
          ood: str, method: str, seed: int, tiers_file: str | None, tiers_from: str | None, tiers_skip: bool,
          output: str, follow_symlinks: bool) -> None:
    """Train a profile from DATA: JSONL rows {"prompt", "scores": {model: 0..1}, "task"?, "costs"?, "grades"?}.

    'auto' settings are chosen by cross-validated area under the deferral curve on DATA.
    """
    from ..data import read_table
    from ..training import train as train_profile

    if k != "auto" and (not k.isdigit() or int(k) < 1):
        raise click.BadParameter("must be a positive integer or 'auto'", param_hint="--k")
    smooth_v = auto_number(smoothing, "--smoothing")
    temp_v = auto_number(temperature, "--temperature")
    if tiers_file is not None and tiers_from is not None:
        raise click.UsageError("give --tiers or --tiers-from, not both")
    if tiers_skip and tiers_from is None:
        raise click.UsageError("--tiers-skip goes with --tiers-from")
    check_output(output, follow_symlinks=follow_symlinks)
    rows = read_table(data, queries=queries)
    tiers, tier_facts = _tiers(rows, data, tiers_file, tiers_from, tiers_skip)
    with click.progressbar(length=len(rows), label="embedding", file=sys.stderr) as bar:
        done = [0]

        def progress(n: int, total: int) -> None:
            bar.update(n - done[0])
            done[0] = n

        profile = train_profile(rows, models, embedder=embedder, k="auto" if k == "auto" else int(k), seed=seed,
                                smoothing=smooth_v, temperature=temp_v, progress=progress,
                                provenance={"data": data, **tier_facts}, tiers=tiers, ood=ood,
                                method=method)
    profile.save(output, follow_symlinks=follow_symlinks)
    mapped = "" if profile.map is None else f", map {profile.map.name}"
    click.echo(f"wrote {output}: k={profile.k}, {len(profile.models)} models, embedder {profile.embedder.name}"
               f"{mapped}", err=True)
    left_out = profile.training.get("catalog_models_left_out")
    if left_out:
        click.echo(f"catalog models left out (no row scores them): {', '.join(left_out)}", err=True)


def _tiers(rows: list[Any], data: str, tiers_file: str | None, tiers_from: str | None, skip: bool
           ) -> tuple[list[str | None] | None, dict[str, Any]]:
    """Each row's tier from --tiers or --tiers-from, and the provenance the profile records."""
    from ..data import row_locations
    from ..tiers import label_rows, read_labels

    if tiers_file is not None:
        labels = read_labels(tiers_file, rows)
        tiers, medium, large, source = list(labels.tiers), labels.medium, labels.large, tiers_file
    elif tiers_from is not None:
        pair = [m.strip() for m in tiers_from.split(",")]
        if len(pair) != 2 or not all(pair):
            raise click.BadParameter("must be MEDIUM,LARGE: two model ids", param_hint="--tiers-from")
        medium, large = pair
        found = label_rows(rows, medium, large, locations=row_locations(data, len(rows)), skip=skip)
        tiers, source = [None if x is None else x.tier for x in found], "the 9-cell oracle over DATA"
    else:
        return None, {}
    facts = {"medium": medium, "large": large, "labels": source, "labelled": sum(t is not None for t in tiers)}
    return tiers, {"tiers": facts}


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
    from ..training import Target, calibrate, read_prompts

    try:
        goals = [Target.parse(t) for t in targets]
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--target") from None
    dest = output_path(profile, output, follow_symlinks)
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
    from ..data import read_table
    from ..training import add_model

    dest = output_path(profile, output, follow_symlinks)
    added = add_model(Profile.load(profile), read_table(labels, queries=queries), model_id, cost, size_mb=size_mb,
                      capabilities=capabilities, embedder=embedder, smoothing=smoothing, source=labels)
    added.profile.save(dest, follow_symlinks=follow_symlinks)
    click.echo(f"added {model_id} from {added.rows} labelled prompts ({added.skipped} rows without its score skipped; "
               f"{added.empty_clusters} of {added.profile.k} clusters without labels take its global rate)")
    click.echo(f"wrote {dest}", err=True)


