"""``cactus-router route --engine ray``: route a prompt file on a Ray cluster into a resumable Parquet folder.

``route_file`` does the work; ``run_route`` adds the progress bar and summary line that the
``route`` command prints for ``--engine ray``.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import sys
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

import click
import numpy as np

from .. import __version__
from ..errors import ClusterError, RouterError
from ..profile import Profile
from ..routing import RouteRequest

if TYPE_CHECKING:
    import pyarrow as pa

#: Rows per part file of the output: what a crash can cost, and what a resume re-routes at most.
DEFAULT_PART_ROWS = 10_000
#: Progress callback: ``progress(rows_done, rows_total)``.
Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class RouteFileResult:
    """What one ``route_file`` run did."""

    rows: int
    parts: int
    parts_skipped: int
    output: str


def job_fingerprint(job: dict[str, Any]) -> str:
    """The digest that ties an output folder to one job: input bytes, profile, embedder, knobs, layout."""
    return hashlib.sha256(json.dumps(job, sort_keys=True).encode("utf-8")).hexdigest()


@contextlib.contextmanager
def _quiet_ordered_ray() -> Iterator[None]:
    """Ray Data without its own progress bars and INFO lines, delivering rows in input order
    (so parts complete one after another and few rows wait in memory); restored afterwards."""
    import ray.data

    ctx = ray.data.DataContext.get_current()
    logger = logging.getLogger("ray.data")
    saved = ctx.enable_progress_bars, ctx.execution_options.preserve_order, logger.level
    ctx.enable_progress_bars, ctx.execution_options.preserve_order = False, True
    logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        ctx.enable_progress_bars, ctx.execution_options.preserve_order = saved[:2]
        logger.setLevel(saved[2])


def _root_cause(exc: BaseException) -> BaseException:
    """The cactus-router error behind Ray's wrappers (RayTaskError, UserCodeException), if any."""
    seen: set[int] = set()
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        cause = getattr(cur, "cause", None)
        if isinstance(cause, RouterError):
            return cause
        if type(cur).__module__.startswith("cactus_router"):
            return cur
        cur = cause if isinstance(cause, BaseException) else cur.__cause__
    return ClusterError(f"the Ray job failed: {type(exc).__name__}: {' '.join(str(exc).split())[:300]}")


def _batches(routed: Any) -> Iterator[pa.Table]:
    """The routed batches, with a failure in the cluster raised as its one-line cactus-router error."""
    it = iter(routed.iter_batches(batch_format="pyarrow", batch_size=None))
    while True:
        try:
            got = next(it)
        except StopIteration:
            return
        except Exception as exc:  # Ray wraps what failed in the actors in its own exception types
            raise _root_cause(exc) from None
        yield cast("pa.Table", got)


class _Collector:
    """Gathers routed rows into their parts and writes each part once all its rows are in."""

    def __init__(self, output: Any, todo: list[int]) -> None:
        self.output = output
        self.pending: dict[int, list[Any]] = {i: [] for i in todo}
        self.seen = {i: np.zeros(output.span(i)[1] - output.span(i)[0], dtype=bool) for i in todo}

    def add(self, batch: Any) -> None:
        ids = batch.column("row_id").to_numpy()
        parts = ids // self.output.part_rows
        for i in np.unique(parts).tolist():
            if i not in self.pending:
                raise ClusterError(f"row {int(ids[parts == i][0])} came back for a part that is already written")
            mask = parts == i
            offsets = ids[mask] - self.output.span(i)[0]
            if self.seen[i][offsets].any():
                raise ClusterError(f"row {int(ids[mask][self.seen[i][offsets]][0])} came back twice; no part written")
            self.seen[i][offsets] = True
            self.pending[i].append(batch.filter(mask))
            if self.seen[i].all():
                import pyarrow as pa

                self.output.write(i, pa.concat_tables(self.pending.pop(i)).sort_by("row_id"))
                del self.seen[i]


def route_file(input_path: str, output: str, *, profile: str = "default", embedder: str | None = None,
               cost_bias: float | None = None, require: Collection[str] = (), allow: Collection[str] | None = None,
               max_size_mb: float | None = None, address: str | None = None, num_actors: int = 1,
               batch_size: int | None = None, part_rows: int = DEFAULT_PART_ROWS, prompt_column: str = "prompt",
               progress: Progress | None = None) -> RouteFileResult:
    """Route every prompt of ``input_path`` on Ray into the Parquet folder ``output``, resuming a crashed run.

    Everything is checked before work starts: the knobs, the profile and embedder, every prompt,
    the output folder and the cluster's address. Each part of ``output`` holds ``row_id`` (the
    record's position in the input) and the decision columns, sorted by ``row_id``.

    Raises:
        ArgumentError, PromptError, ProfileError, EmbedderError, NoEligibleModelError: bad input.
        OutputConflictError: ``output`` exists and belongs to another job.
        ClusterError: the cluster is unreachable, or the job failed there.
    """
    from ..integrations.parts import PartsOutput
    from ..integrations.prompt_files import read_prompt_file
    from ..integrations.ray import DEFAULT_BATCH_SIZE, blocks, connect, route_dataset

    request = RouteRequest.of(cost_bias=cost_bias, require=require, allow=allow or None, max_size_mb=max_size_mb)
    prof = Profile.load(profile)
    prompts = read_prompt_file(input_path, prompt_column)
    rows = prompts.table.num_rows
    job = {"input_sha256": prompts.sha256, "rows": rows, "prompt_column": prompt_column,
           "profile_sha256": hashlib.sha256(prof.to_json().encode("utf-8")).hexdigest(),
           "embedder": embedder or prof.embedder.name, "request": request.to_dict(), "part_rows": part_rows,
           "cactus_router": __version__}
    out = PartsOutput.open(output, job_fingerprint(job), job, rows, part_rows)
    written = out.written()
    todo = [i for i in range(out.parts) if i not in written]
    done = sum(out.span(i)[1] - out.span(i)[0] for i in written)
    if todo:
        connect(address)
    if progress is not None:
        progress(done, rows)
    if todo:
        import ray.data

        with _quiet_ordered_ray():
            size = batch_size or DEFAULT_BATCH_SIZE
            parts = [b for start, stop in map(out.span, todo)
                     for b in blocks(prompts.table, start, stop, size, num_actors)]
            routed = route_dataset(ray.data.from_arrow(parts), prof, embedder=embedder, cost_bias=cost_bias,
                                   require=require, allow=allow or None, max_size_mb=max_size_mb, batch_size=size,
                                   num_actors=num_actors)
            collector = _Collector(out, todo)
            for batch in _batches(routed):
                collector.add(batch.drop_columns(["prompt"]))
                done += batch.num_rows
                if progress is not None:
                    progress(done, rows)
    out.finish()
    return RouteFileResult(rows, out.parts, len(written), str(output))


def run_route(input_path: str, output: str, **options: Any) -> None:
    """``route_file`` with a progress bar on stderr (shown once the checks pass) and a one-line summary:
    what ``route --engine ray`` runs."""
    with contextlib.ExitStack() as stack:
        bars: list[Any] = []

        def progress(done: int, total: int) -> None:
            if not bars:
                bars.append(stack.enter_context(click.progressbar(length=total, label="routing", file=sys.stderr)))
            bars[0].update(done - bars[0].pos)

        result = route_file(input_path, output, progress=progress, **options)
    skipped = f", {result.parts_skipped} already written" if result.parts_skipped else ""
    click.echo(f"wrote {result.output}: {result.rows} rows in {result.parts} part(s){skipped}", err=True)
