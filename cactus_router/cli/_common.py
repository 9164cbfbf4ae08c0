"""What every command shares: the group's error handling, options, and writing results."""

from __future__ import annotations

import math
import os
import signal
import sys
from pathlib import Path
from types import FrameType
from typing import Any

import click

from .._files import check_output
from ..embedders import NAMES
from ..errors import RouterError
from ..profile import bundled_profiles
from ..routing import Router

#: Longest stdin line ``route -`` accepts (bytes): a prompt, not a file.
MAX_STDIN_LINE = 1024 * 1024
#: The exit status of a process killed by SIGPIPE (128 + 13): what a pipeline reader expects.
EXIT_BROKEN_PIPE = 141


class Terminated(BaseException):
    """SIGTERM, raised in the main thread (see ``main``); a BaseException, like KeyboardInterrupt, so no
    ``except Exception`` swallows it and every cleanup on the way out (a temporary file) runs."""


def raise_terminated(signum: int, frame: FrameType | None) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # a second SIGTERM kills at once
    raise Terminated


class Group(click.Group):
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
        except Terminated:
            click.echo("Error: terminated (SIGTERM)", err=True)
            ctx.exit(128 + signal.SIGTERM)
        except (RouterError, OSError) as exc:
            raise click.ClickException(" ".join(str(exc).split())) from None


def out(text: str) -> None:
    """Write one line of results to stdout, which must be open: results are never dropped."""
    if sys.stdout is None:
        raise click.ClickException("stdout is closed; the results would be lost (redirect it to a file)")
    click.echo(text)


def not_nan(ctx: click.Context, param: click.Parameter, value: float | None) -> float | None:
    """FloatRange lets NaN through (every comparison with it is false): refuse it the same way."""
    if value is not None and math.isnan(value):
        raise click.BadParameter("nan is not in the range 0<=x<=1")
    return value


def load_router(profile: str, embedder: str | None, allow_mismatch: bool = False) -> Router:
    return Router.load(profile, embedder=embedder, allow_embedder_mismatch=allow_mismatch)


profile_option = click.option(
    "--profile", "-p", default="default", show_default=True, help="Profile path or bundled profile name."
)
json_option = click.option("--json", "as_json", is_flag=True, help="Machine-readable JSON on stdout.")


def auto_number(value: str, hint: str) -> float | str:
    if value == "auto":
        return value
    try:
        return float(value)
    except ValueError:
        raise click.BadParameter(f"must be a number or 'auto', got {value!r}", param_hint=hint) from None


def progress_line(stage: str, done: int, total: int) -> None:
    """Progress on stderr: one line per stage, redrawn in place."""
    click.echo(f"\r{stage}: {done}/{total}", nl=done >= total, err=True)


def output_path(profile: str, output: str | None, follow_symlinks: bool) -> str:
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


def one_line_warning(message: Warning | str, category: type[Warning], filename: str, lineno: int,
                      line: str | None = None) -> str:
    return f"warning: {' '.join(str(message).split())}\n"


