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


def _router_choices(profile: str | None, train_router: bool, embedder: str | None, train: list[Any],
                    test: list[Any], chain: list[str], seed: int) -> tuple[list[np.ndarray], str] | None:
    """The router's picks among the chain on the test rows at every lambda, and where the router came from."""
    if profile and train_router:
        raise click.UsageError("pass --profile or --train-router, not both")
    if not (profile or train_router):
        return None
    from ..cascade.versus import router_choices
    from ..cascade.versus import train_router as fit_router
    from ..embedders import DEFAULT_EMBEDDER, embedder_for_profile, get_embedder
    from ..profile import Profile

    if train_router:
        emb = get_embedder(embedder or DEFAULT_EMBEDDER)
        prof = fit_router(train, chain, embedder=emb, seed=seed)
        source = (f"cluster router trained on the {len(train)} training rows (embedder {emb.name}, K {prof.k}, "
                  f"smoothing {prof.training['smoothing']:g}, temperature {prof.routing.temperature:g})")
    else:
        assert profile is not None
        prof = Profile.load(profile)
        emb = get_embedder(embedder) if embedder else embedder_for_profile(prof.embedder)
        source = f"profile {profile}"
    return router_choices(prof, emb, [r.prompt for r in test], chain), source


@cascade.command("eval")
@click.argument("table", type=click.Path(exists=True, dir_okay=False))
@click.option("--chain", help="comma-separated models, cheapest first (default: the table's, by mean cost)")
@click.option("--train-share", default=0.7, show_default=True, type=float,
              help="rows the deciders (and --train-router's router) are fitted on")
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--profile", type=click.Path(exists=True, dir_okay=False),
              help="a routing profile scoring the chain models: its curve is shown beside the cascades'")
@click.option("--train-router", is_flag=True,
              help="train a cluster router on the same training rows and chain models; its curve is shown "
                   "beside the cascades'")
@click.option("--embedder", help="the embedder for --profile (default: the profile's) or --train-router (default: "
              "minilm-l3:fp32)")
@click.option("--bootstrap", default=1000, show_default=True, type=int, help="resamples for the intervals (0: none)")
@click.option("--json", "as_json", is_flag=True, help="print the summary as JSON")
def eval_cmd(table: str, chain: str | None, train_share: float, seed: int, profile: str | None,
             train_router: bool, embedder: str | None, bootstrap: int, as_json: bool) -> None:
    """Fit every decider on a split of TABLE and report curves, areas and IBC lift on the other rows."""
    from ..cascade.evaluate import evaluate_cascades, markdown
    from ..cascade.table import read_verification_table

    if not 0.0 < train_share < 1.0:
        raise click.BadParameter("must be in (0, 1)", param_hint="--train-share")
    rows = read_verification_table(table)
    models = _chain(rows, chain)
    train, test = split_rows(rows, train_share, seed)
    router = _router_choices(profile, train_router, embedder, train, test, models, seed)
    summary = evaluate_cascades(train, test, models, router_choices=router[0] if router else None,
                                bootstrap=bootstrap, seed=seed)
    if router:
        summary["router"] = router[1]
    click.echo(json.dumps(summary, indent=1) if as_json else markdown(summary))


__all__ = ["cascade", "split_rows"]
