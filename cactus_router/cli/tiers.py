"""The tier commands: label-tiers (the 9-cell oracle over a routing table)."""

from __future__ import annotations

from collections import Counter

import click

from .._files import check_output
from ._common import follow_symlinks_option


@click.command("label-tiers")
@click.argument("table", type=click.Path(dir_okay=False))
@click.option("--medium", required=True, help="The medium model's id (as the table scores or grades it).")
@click.option("--large", required=True, help="The large model's id.")
@click.option("--output", "-o", required=True, type=click.Path(dir_okay=False), help="TIERS.jsonl file to write.")
@click.option("--matrix", type=click.Path(dir_okay=False), default=None,
              help="JSON file {medium_grade: {large_grade: tier}} replacing the 9-cell matrix (docs/tiers.md).")
@click.option("--queries", type=click.Path(exists=True, dir_okay=False), default=None,
              help="For LLMRouter JSON tables: its query .jsonl.")
@click.option("--skip", is_flag=True,
              help="Write tier null for rows that cannot be labelled (a fractional score and no grade) "
                   "instead of failing.")
@follow_symlinks_option
def label_tiers(table: str, medium: str, large: str, output: str, matrix: str | None, queries: str | None,
                skip: bool, follow_symlinks: bool) -> None:
    """Label every row of TABLE with its tier: the oracle's cell for the medium and large grades."""
    from ..data import read_table, row_locations
    from ..tiers import TIERS, Oracle, label_rows, write_labels

    check_output(output, follow_symlinks=follow_symlinks)
    oracle = Oracle() if matrix is None else Oracle.load(matrix)
    rows = read_table(table, queries=queries)
    labels = label_rows(rows, medium, large, oracle, locations=row_locations(table, len(rows)), skip=skip)
    write_labels(rows, labels, medium, large, output, follow_symlinks=follow_symlinks)
    counts = Counter(label.tier for label in labels if label is not None)
    shares = ", ".join(f"{t} {counts[t]}" for t in TIERS)
    unlabelled = sum(label is None for label in labels)
    click.echo(f"wrote {output}: {len(rows)} rows ({shares}" + (f", {unlabelled} not labelled)" if skip else ")"),
               err=True)


@click.command("policy")
@click.argument("profile")
@click.option("--set", "assignments", multiple=True, metavar="TIER=ID[,ID...]",
              help="A tier's ordered model list (first eligible wins), repeatable: --set Complex=qwen-1.7b,lfm2-1.2b.")
@click.option("--clear", "cleared", multiple=True, metavar="TIER", help="Drop a tier's list from the map (repeatable).")
@click.option("--margin", type=click.FloatRange(0.0, 1.0), default=None,
              help="The derived tier rule's margin (Standard when the cheapest model is within it of the best).")
@click.option("--ambiguous-error", type=click.FloatRange(0.0, 1.0), default=None,
              help="The derived tier rule's threshold (Ambiguous when every model's expected error exceeds it).")
@click.option("--rules", "rules_file", type=click.Path(dir_okay=False), default=None,
              help="JSON file: an array of rules (length, keyword, math, code, budget) replacing the profile's.")
@click.option("--output", "-o", default=None, type=click.Path(dir_okay=False),
              help="Write the edited profile here (default: update PROFILE in place).")
@follow_symlinks_option
def policy(profile: str, assignments: tuple[str, ...], cleared: tuple[str, ...], margin: float | None,
           ambiguous_error: float | None, rules_file: str | None, output: str | None, follow_symlinks: bool) -> None:
    """Edit PROFILE's policy map, tier rule or rules without retraining (docs/tiers.md)."""
    from dataclasses import replace

    from .._files import read_input
    from .._json import loads_limited
    from ..errors import ProfileError
    from ..profile import Profile, TierCounts, TierRule
    from ..tiers import check_tier
    from ._common import output_path

    if not (assignments or cleared or margin is not None or ambiguous_error is not None or rules_file):
        raise click.UsageError("nothing to change: give --set, --clear, --margin, --ambiguous-error or --rules")
    dest = output_path(profile, output, follow_symlinks)
    prof = Profile.load(profile)
    mapping = dict(prof.policy_map or {})
    for tier in cleared:
        mapping.pop(check_tier(tier, "--clear", ProfileError), None)
    for a in assignments:
        tier, sep, ids = a.partition("=")
        if not sep or not ids.strip():
            raise click.BadParameter(f"{a!r} must read TIER=ID[,ID...]", param_hint="--set")
        mapping[check_tier(tier.strip(), "--set tier", ProfileError)] = tuple(m.strip() for m in ids.split(","))
    tiers = prof.tiers or TierCounts()
    if margin is not None or ambiguous_error is not None:
        rule = tiers.rule or TierRule()
        tiers = replace(tiers, rule=TierRule(rule.margin if margin is None else margin,
                                             rule.ambiguous_error if ambiguous_error is None else ambiguous_error))
    edited = replace(prof, policy_map=mapping or None, tiers=tiers if tiers != TierCounts() else prof.tiers)
    if rules_file is not None:
        raw = loads_limited(read_input(rules_file, "rules file", ProfileError, 1024 * 1024), rules_file, ProfileError)
        edited = Profile.from_dict({**edited.to_dict(), "policies": raw}, what=rules_file)
    edited.save(dest, follow_symlinks=follow_symlinks)
    shown = ", ".join(f"{t}={','.join(ms)}" for t, ms in (edited.policy_map or {}).items()) or "none"
    click.echo(f"wrote {dest}: policy map {shown}; {len(edited.policies)} rules", err=True)


@click.command("spend")
@click.argument("profile")
@click.argument("model", required=False)
@click.argument("amount", required=False, type=click.FloatRange(min=0.0))
@click.option("--json", "as_json", is_flag=True, help="Machine-readable JSON on stdout.")
def spend(profile: str, model: str | None, amount: float | None, as_json: bool) -> None:
    """Record that MODEL spent AMOUNT in PROFILE's budget ledger; without them, show the period's spend."""
    import json

    from ..errors import ArgumentError
    from ..profile import Profile
    from ..routing.policies import Budget
    from ._common import out

    if (model is None) != (amount is None):
        raise click.UsageError("give MODEL and AMOUNT together (or neither, to show the spend)")
    prof = Profile.load(profile)
    budget = Budget()
    ledger = budget.ledger(prof)
    if ledger is None or budget.rule is None:
        raise ArgumentError(f"{profile}: the profile has no budget rule in its 'policies'")
    if model is not None and amount is not None:
        if model not in prof.model_ids:
            raise ArgumentError(f"{model!r} is not a model of the profile")
        ledger.record_spend(model, amount)
    spent = ledger.spent()
    if as_json:
        out(json.dumps({"spent": spent, "budget": budget.rule.budget, "period": budget.rule.period,
                        "ledger": str(ledger.path)}))
    else:
        out(f"spent {spent:g} of {budget.rule.budget:g} this {budget.rule.period} period "
            f"({spent / budget.rule.budget:.1%}; ledger {ledger.path})")
