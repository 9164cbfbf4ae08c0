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
