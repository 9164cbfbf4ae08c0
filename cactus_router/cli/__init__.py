"""The ``cactus-router`` command line, one module per group of commands.

Exit codes: 0 ok, 1 user or data error, 2 usage error, 130/143 interrupted (SIGINT/SIGTERM),
141 the reader of stdout went away.
"""

from __future__ import annotations

import signal
import warnings

import click

from ._common import Group, one_line_warning, raise_terminated
from .cascade import cascade
from .eval import eval_command
from .judge import judge
from .route import convert, info, models, route
from .serve import serve
from .tiers import label_tiers, policy, spend
from .train import add_model_command, calibrate_command, train
from .tune import tune_encoder_command


@click.group(cls=Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="cactus-router")
def cli() -> None:
    """On-device LLM routing: pick the cheapest model likely to answer well."""


for _command in (route, info, models, convert, train, calibrate_command, add_model_command, eval_command, cascade,
                 judge, serve, label_tiers, policy, spend, tune_encoder_command):
    cli.add_command(_command)


def main() -> None:
    """Console-script entry point: SIGTERM unwinds like Ctrl-C (see ``Group``)."""
    warnings.formatwarning = one_line_warning
    signal.signal(signal.SIGTERM, raise_terminated)
    cli(prog_name="cactus-router")


__all__ = ["cli", "main"]
