"""``cactus-router cascade``: train a cascade on a verification table, and measure one against the router."""

from __future__ import annotations

import json
from typing import Any

import click
import numpy as np

from ..errors import RouterError


class _CascadeGroup(click.Group):
    """Turns every RouterError into a one-line message and exit code 1 (as the main command does)."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except RouterError as exc:
            raise click.ClickException(str(exc)) from None


def _chain(rows: list[Any], chain: str | None) -> list[str]:
    """The --chain models, or every model the table scores, cheapest mean cost first."""
    if chain:
        return [m.strip() for m in chain.split(",") if m.strip()]
    models = sorted(rows[0].scores)
    return sorted(models, key=lambda m: float(np.mean([r.costs.get(m, np.inf) for r in rows])))


def split_rows(rows: list[Any], share: float, seed: int) -> tuple[list[Any], list[Any]]:
    """A seeded random train/test split of the rows."""
    order = np.random.default_rng(seed).permutation(len(rows))
    cut = int(round(share * len(rows)))
    return [rows[i] for i in order[:cut]], [rows[i] for i in order[cut:]]


@click.group("cascade", cls=_CascadeGroup)
def cascade() -> None:
    """Generate, verify, escalate: train and evaluate AutoMix-style cascades on verification tables."""


@cascade.command("train")
@click.argument("table", type=click.Path(exists=True, dir_okay=False))
@click.option("-o", "--out", required=True, type=click.Path(dir_okay=False), help="the cascade JSON to write")
@click.option("--chain", help="comma-separated models, cheapest first (default: the table's, by mean cost)")
@click.option("--method", default="pomdp", show_default=True,
              type=click.Choice(["pomdp", "pomdp-greedy", "threshold", "self-consistency"]))
@click.option("--cost-weight", default=1.0, show_default=True, type=float,
              help="lambda: the decider maximises quality - lambda * cost / (cost of the last model)")
@click.option("--folds", default=3, show_default=True, type=int)
@click.option("--seed", default=0, show_default=True, type=int)
def train_cmd(table: str, out: str, chain: str | None, method: str, cost_weight: float, folds: int, seed: int
              ) -> None:
    """Fit a cascade on TABLE (the POMDP's bins by cross-validation) and write it to OUT."""
    from ..cascade.model import train_cascade
    from ..cascade.table import read_verification_table

    rows = read_verification_table(table)
    c = train_cascade(rows, _chain(rows, chain), method=method, cost_weight=cost_weight, folds=folds, seed=seed,
                      where=table)
    c.save(out)
    click.echo(f"wrote {out}: {method} over {' -> '.join(c.chain)} ({len(rows)} rows"
               + (f", {c.training['bins']} bins" if "bins" in c.training else "") + ")")


def _router_choices(profile: str, embedder: str | None, test: list[Any], chain: list[str]) -> list[np.ndarray]:
    """The router's pick among the chain for each test prompt, at 21 cost_bias settings from 0 to 1."""
    from ..routing import Router

    router = Router.load(profile, embedder=embedder) if embedder else Router.load(profile)
    prompts = [r.prompt for r in test]
    index = {m: j for j, m in enumerate(chain)}
    return [np.array([index[m] for m in router.route_many(prompts, cost_bias=float(cb), allow=chain).models])
            for cb in np.linspace(0.0, 1.0, 21)]


@cascade.command("eval")
@click.argument("table", type=click.Path(exists=True, dir_okay=False))
@click.option("--chain", help="comma-separated models, cheapest first (default: the table's, by mean cost)")
@click.option("--train-share", default=0.7, show_default=True, type=float, help="rows the deciders are fitted on")
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--profile", type=click.Path(exists=True, dir_okay=False),
              help="a routing profile scoring the chain models: its curve is shown beside the cascades'")
@click.option("--embedder", help="the embedder for --profile (default: the profile's)")
@click.option("--bootstrap", default=1000, show_default=True, type=int, help="resamples for the intervals (0: none)")
@click.option("--json", "as_json", is_flag=True, help="print the summary as JSON")
def eval_cmd(table: str, chain: str | None, train_share: float, seed: int, profile: str | None,
             embedder: str | None, bootstrap: int, as_json: bool) -> None:
    """Fit every decider on a split of TABLE and report curves, areas and IBC lift on the other rows."""
    from ..cascade.evaluate import evaluate_cascades, markdown
    from ..cascade.table import read_verification_table

    if not 0.0 < train_share < 1.0:
        raise click.BadParameter("must be in (0, 1)", param_hint="--train-share")
    rows = read_verification_table(table)
    models = _chain(rows, chain)
    train, test = split_rows(rows, train_share, seed)
    choices = _router_choices(profile, embedder, test, models) if profile else None
    summary = evaluate_cascades(train, test, models, router_choices=choices, bootstrap=bootstrap, seed=seed)
    click.echo(json.dumps(summary, indent=1) if as_json else markdown(summary))


__all__ = ["cascade", "split_rows"]
