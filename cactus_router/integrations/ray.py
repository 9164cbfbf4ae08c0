"""Routing a Ray Dataset: one Router per actor of a pool, the decision's columns added to every row.

    pip install "cactus-router[ray]"

``route_dataset`` validates everything it can in the driver (the knobs, the profile, the
embedder, the columns) before any work starts, then runs ``map_batches`` over a fixed pool of
actors. Each actor loads its Router once, in ``__init__``; every batch goes through
``Router.route_many``, the same scoring as in-process routing.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Callable, Collection

import numpy as np

try:
    import pyarrow as pa
    import ray
    import ray.data
except ImportError:
    raise ImportError('cactus_router.integrations.ray needs Ray Data: pip install "cactus-router[ray]"') from None

from ..embedders import Embedder, check_prompt
from ..errors import ArgumentError, ClusterError, PromptError
from ..profile import Profile
from ..routing import DecisionBatch, Router, RouteRequest

#: The column holding each row's id (the CLI's: the 0-based position in the input file).
ROW_ID = "row_id"
#: The column naming why a row could not be routed (null when it was).
ERROR = "error"
#: The columns route_dataset adds (besides ROW_ID), with their Arrow types. The decision has no
#: tier yet, so there is no tier column.
DECISION_COLUMNS: dict[str, pa.DataType] = {
    "model": pa.string(), "cluster": pa.int32(), "expected_error": pa.float64(), "cost": pa.float64(),
    "in_distribution": pa.bool_(), "score": pa.float64(), ERROR: pa.string(),
}
#: An embedder for the actors: a name, a zero-argument factory run once in each actor (to set
#: e.g. onnxruntime's thread count), or None for the profile's own.
EmbedderSpec = str | Callable[[], Embedder] | None
#: Seconds to wait for a TCP connection to a cluster's address before calling it unreachable.
CONNECT_TIMEOUT_S = 5.0
#: Rows per batch handed to an actor by default: large enough that the per-call overhead of Ray
#: and of the embedder's batching is small, small enough to keep the pool busy on short inputs.
DEFAULT_BATCH_SIZE = 256
#: Batches per block of the input that route_file and evaluate_dataset hand to Ray, at most:
#: blocks are what Ray schedules, so there must be several per actor to keep the pool busy.
BATCHES_PER_BLOCK = 4


def blocks(table: pa.Table, start: int, stop: int, batch_size: int, num_actors: int) -> list[pa.Table]:
    """Rows ``[start, stop)`` of ``table`` as blocks of at most BATCHES_PER_BLOCK batches, and at
    least 2 blocks per actor when there are rows enough."""
    step = max(1, min(batch_size * BATCHES_PER_BLOCK, -(-(stop - start) // (2 * num_actors))))
    return [table.slice(s, min(step, stop - s)) for s in range(start, stop, step)]


def connect(address: str | None = None) -> None:
    """Connect this process to a Ray cluster, or start a local one.

    Args:
        address: None for a local cluster on this machine (Ray's usage statistics off unless
            ``RAY_USAGE_STATS_ENABLED`` is set), ``"auto"`` for the cluster ``ray start`` left
            running here, ``"host:port"`` (a head node's GCS) or ``"ray://host:port"`` (Ray Client).
            A process already connected keeps its cluster when ``address`` is None, ``"auto"`` or
            the same address.

    Raises:
        ClusterError: the address is unreachable, malformed, or not the cluster this process
            is already connected to.
    """
    if address is not None and address != "auto":
        _probe(address)
    if ray.is_initialized():
        current = ray.get_runtime_context().gcs_address
        if address not in (None, "auto", current):
            raise ClusterError(f"this process is already connected to the Ray cluster at {current}; call "
                               f"ray.shutdown() before connecting to {address}")
        return
    if address is None:
        os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    try:
        ray.init(address=address, log_to_driver=False, logging_level=logging.WARNING)
    except (ConnectionError, TimeoutError, RuntimeError, ValueError) as exc:
        hint = "start one with 'ray start --head'" if address == "auto" else "check the address"
        raise ClusterError(f"cannot connect to the Ray cluster at {address or 'a new local cluster'}: "
                           f"{' '.join(str(exc).split())[:200]}; {hint}") from None


def _probe(address: str) -> None:
    """Fail fast, with one line, on an address nothing listens at (Ray itself retries for a minute)."""
    hostport = address.removeprefix("ray://")
    host, sep, port = hostport.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ClusterError(f"Ray address {address!r} is not host:port, ray://host:port or 'auto'")
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=CONNECT_TIMEOUT_S):
            pass
    except OSError as exc:
        raise ClusterError(f"cannot reach the Ray cluster at {address}: {exc.strerror or exc}; start it with "
                           "'ray start --head' on that machine, or check the host and port") from None


class RouteBatches:
    """What each actor of the pool runs: one Router loaded in ``__init__``, one ``route_many`` per batch.

    Rows whose prompt is not routable text get a null decision and the reason in ``error``;
    the others are routed together, so a bad row never stops or shifts its batch.
    """

    def __init__(self, profile: Profile, embedder: EmbedderSpec, request: RouteRequest, prompt_column: str) -> None:
        self.router = Router.load(profile, embedder=embedder() if callable(embedder) else embedder)
        self.request = request
        self.prompt_column = prompt_column

    def __call__(self, batch: pa.Table) -> pa.Table:
        prompts = batch.column(self.prompt_column).to_pylist()
        errors: list[str | None] = [None] * len(prompts)
        good: list[int] = []
        for i, p in enumerate(prompts):
            try:
                check_prompt(p)
                good.append(i)
            except PromptError as exc:
                errors[i] = str(exc)
        decided = self.router.route_many([prompts[i] for i in good], self.request)
        for name, column in decision_columns(decided, np.asarray(good, dtype=np.int64), errors).items():
            batch = batch.append_column(pa.field(name, DECISION_COLUMNS[name]), column)
        return batch


def decision_columns(batch: DecisionBatch, rows: np.ndarray, errors: list[str | None]) -> dict[str, pa.Array]:
    """DECISION_COLUMNS for ``len(errors)`` rows, of which ``rows`` were routed (in ``batch``'s order)."""
    n = len(errors)
    routed = np.zeros(n, dtype=bool)
    routed[rows] = True
    models: list[str | None] = [None] * n
    for i, m in zip(rows.tolist(), batch.models):
        models[i] = m

    def spread(values: np.ndarray, dtype: pa.DataType) -> pa.Array:
        full = np.zeros(n, dtype=values.dtype)
        full[rows] = values
        return pa.array(full, type=dtype, mask=~routed)

    return {
        "model": pa.array(models, type=pa.string()),
        "cluster": spread(batch.cluster.astype(np.int32), pa.int32()),
        "expected_error": spread(batch.expected_error.astype(np.float64), pa.float64()),
        "cost": spread(batch.cost.astype(np.float64), pa.float64()),
        "in_distribution": spread(batch.in_distribution, pa.bool_()),
        "score": spread(batch.score.astype(np.float64), pa.float64()),
        ERROR: pa.array(errors, type=pa.string()),
    }


def check_columns(schema: pa.Schema, prompt_column: str, id_column: str) -> None:
    """Check the input's columns before any work.

    Raises:
        ArgumentError: the prompt or id column is missing, the ids are not integers, or a column
            would be overwritten by a decision column.
        PromptError: the prompt column does not hold strings.
    """
    names = list(schema.names)
    listed = ", ".join(names) or "none"
    if prompt_column not in names:
        raise ArgumentError(f"the dataset has no column {prompt_column!r} (columns: {listed}); "
                            "name the prompt column with prompt_column=")
    kind = schema.field(prompt_column).type
    if not (pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_null(kind)):
        raise PromptError(f"column {prompt_column!r} holds {kind}, not strings; prompts must be text")
    # Ray Data keeps no row positions (its executor may reorder blocks), so the id comes with the row.
    if id_column not in names:
        raise ArgumentError(f"the dataset has no column {id_column!r} (columns: {listed}); give each row a unique "
                            f"integer id, e.g. ray.data.from_items([{{{id_column!r}: i, 'prompt': p}}, ...]), or "
                            "name yours with id_column=")
    if not pa.types.is_integer(schema.field(id_column).type):
        raise ArgumentError(f"column {id_column!r} holds {schema.field(id_column).type}; row ids must be integers")
    taken = sorted(set(names) & set(DECISION_COLUMNS))
    if taken:
        raise ArgumentError(f"the dataset already has column(s) {', '.join(taken)}, which routing adds; "
                            "rename or drop them first")


def route_dataset(
    ds: ray.data.Dataset,
    profile: str | os.PathLike[str] | Profile = "default",
    *,
    prompt_column: str = "prompt",
    id_column: str = ROW_ID,
    embedder: EmbedderSpec = None,
    cost_bias: float | None = None,
    require: Collection[str] | None = (),
    allow: Collection[str] | None = None,
    max_size_mb: float | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    num_actors: int = 1,
    num_cpus: float = 1.0,
) -> ray.data.Dataset:
    """Route every row of ``ds`` with a pool of ``num_actors`` actors, each holding one Router.

    The result has the input's columns (among them ``id_column``, the caller's unique integer
    row id) and DECISION_COLUMNS. Every input row appears exactly once; an actor that dies is
    restarted and its batch retried (Ray Data's defaults for actor pools: ``max_restarts=-1``,
    ``max_task_retries=-1``). Order: as Ray Data's executor delivers batches, which is the input
    order only when the DataContext's ``execution_options.preserve_order`` is set; sort by
    ``id_column`` otherwise. A row whose prompt is not routable text (null, blank, a lone
    surrogate) keeps null decision columns and says why in ``error``.

    Args:
        ds: the prompts, one per row, in ``prompt_column`` (strings).
        profile: a path, a bundled profile name or a Profile (sent to each actor once).
        embedder: see EmbedderSpec.
        cost_bias, require, allow, max_size_mb: as for ``Router.route``.
        batch_size: rows per ``route_many`` call.
        num_actors: size of the actor pool (one Router each).
        num_cpus: CPUs Ray reserves per actor.

    Raises:
        ArgumentError: a bad knob, a missing prompt or id column, or a bad pool setting.
        PromptError: the prompt column does not hold strings.
        ProfileError, EmbedderError, NoEligibleModelError: as ``Router.load``/``route`` would, raised
            in the driver before any actor starts.
    """
    for name, value in (("batch_size", batch_size), ("num_actors", num_actors)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ArgumentError(f"{name} must be a positive integer, got {value!r}")
    request = RouteRequest.of(cost_bias=cost_bias, require=require, allow=allow, max_size_mb=max_size_mb)
    prof = profile if isinstance(profile, Profile) else Profile.load(profile)
    Router.load(prof, embedder=embedder() if callable(embedder) else embedder).eligible(request)
    check_columns(ds.schema(fetch_if_missing=True).base_schema, prompt_column, id_column)
    return ds.map_batches(
        RouteBatches,
        fn_constructor_kwargs={"profile": prof, "embedder": embedder, "request": request,
                               "prompt_column": prompt_column},
        batch_size=batch_size,
        batch_format="pyarrow",
        compute=ray.data.ActorPoolStrategy(size=num_actors),
        num_cpus=num_cpus,
    )
