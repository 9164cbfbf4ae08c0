"""The only module that touches the compiled C core (cactus_router._cr_core)."""

from __future__ import annotations

import struct
import sys
import threading
from typing import Any

import numpy as np

from .errors import ArgumentError, CoreError, NoEligibleModelError

try:
    from ._cr_core import ffi, lib
except ImportError as exc:  # pragma: no cover - depends on how the package was installed
    raise ImportError(
        "cactus_router's C core (_cr_core) is not built; install the package with "
        "'pip install .' (a C compiler is needed) rather than importing it from a source tree"
    ) from exc

#: The C core's ABI version this Python code was written against. It is the one number kept on this
#: side on purpose: a stale build is caught by comparing it with what the module was compiled from.
ABI_VERSION = 5

if lib.cr_abi_version() != ABI_VERSION:  # pragma: no cover - only a stale build can trip this
    raise ImportError(
        f"cactus_router's C core is stale (ABI {lib.cr_abi_version()}, expected {ABI_VERSION}); "
        "reinstall with 'pip install --force-reinstall .'"
    )

#: Limits and defaults that C and Python share, as the compiled cr_api.h defines them.
MAX_CLUSTERS: int = lib.CR_MAX_CLUSTERS
MAX_DIM: int = lib.CR_MAX_DIM
MAX_MODELS: int = lib.CR_MAX_MODELS
HASH_MAX_BYTES: int = lib.CR_HASH_MAX_BYTES
KNN_MAX_ROWS: int = lib.CR_KNN_MAX_ROWS

#: The statuses that mean an embedding's values (not its shape) were unroutable.
STATUS_NONFINITE: int = lib.CR_ERR_NONFINITE
STATUS_ZERO_VECTOR: int = lib.CR_ERR_ZERO_VECTOR
VALUE_STATUSES = frozenset({STATUS_NONFINITE, STATUS_ZERO_VECTOR})

#: NumPy view of cr_result, so a batch's results land in one array.
RESULT_DTYPE = np.dtype([("cluster", "<i4"), ("similarity", "<f4"), ("margin", "<f4"), ("n_ranked", "<i4"),
                         ("best_error", "<f8"), ("cheapest_error", "<f8")])
#: cr_result as a struct format (standard sizes, no padding), for reading it from bytes.
_RESULT_FORMAT = "=iffidd"
if (RESULT_DTYPE.itemsize != ffi.sizeof("cr_result") or struct.calcsize(_RESULT_FORMAT) != ffi.sizeof("cr_result")
        or [ffi.offsetof("cr_result", f) for f in RESULT_DTYPE.names or ()] != [0, 4, 8, 12, 16, 24]
        or sys.byteorder != "little"):  # pragma: no cover - an exotic ABI
    raise ImportError("cr_result's layout does not match RESULT_DTYPE; please report this platform")

#: One route's outputs: cluster, similarity, margin, and the eligible models best first with
#: their scores and expected errors.
Routed = tuple[int, float, float, list[int], list[float], list[float]]

#: What routing one decision needs (``Index.choose``): cluster, similarity, margin, the eligible
#: models best first with their scores, the first one's expected error, and the derived tier
#: rule's inputs (``cr_result.best_error`` and ``cheapest_error``).
Chosen = tuple[int, float, float, tuple[int, ...], tuple[float, ...], float, float, float]


def check(status: int, what: str, row: int | None = None) -> None:
    """Turn a non-zero C status into a typed exception naming the call."""
    if status == lib.CR_OK:
        return
    message = f"{what}: {ffi.string(lib.cr_strerror(status)).decode()}"
    if status == lib.CR_ERR_NO_ELIGIBLE:
        raise NoEligibleModelError(message)
    raise CoreError(message, status, row)


#: The float32 dtype: ``is`` against it is the cheapest first check of a vector on every route.
_F32 = np.dtype(np.float32)
#: cffi's type of a float buffer, looked up once rather than parsed on every call.
_FLOATS = ffi.typeof("float[]")


def _f32(a: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(a, dtype=np.float32)


def _vectors(a: np.ndarray, ndim: int) -> None:
    """The binding's own guard: C reads float32 rows in place, so nothing else may reach it."""
    # dtype.char and isnative rather than ``== np.float32``: this guard runs on every route.
    if not (isinstance(a, np.ndarray) and a.dtype.char == "f" and a.dtype.isnative and a.ndim == ndim
            and a.flags.c_contiguous):
        raise CoreError(f"the C core takes a C-contiguous float32 array of {ndim} dimension(s), got "
                        f"{getattr(a, 'dtype', type(a).__name__)} of shape {getattr(a, 'shape', None)}")


class Index:
    """A C routing index: owns the cr_index handle, freed when this object is collected."""

    __slots__ = ("k", "d", "m", "_handle", "_scratch", "_layouts")

    def __init__(self, centroids: np.ndarray, error_rates_km: np.ndarray, costs: np.ndarray) -> None:
        c = _f32(centroids)
        r = _f32(error_rates_km)
        cost = np.ascontiguousarray(costs, dtype=np.float64)
        self.k, self.d = c.shape
        self.m = cost.shape[0]
        out = ffi.new("cr_index **")
        check(
            lib.cr_index_new(
                self.k, self.d, self.m,
                ffi.from_buffer("float[]", c), ffi.from_buffer("float[]", r),
                ffi.from_buffer("double[]", cost), out,
            ),
            "building the routing index",
        )
        self._handle = ffi.gc(out[0], lib.cr_index_free)
        # Output buffers for single routes, one set per thread: allocating five cffi buffers per
        # call costs more than the scoring itself.
        self._scratch = threading.local()
        # Per number of ranked models n, the struct layout of a route's outputs in the scratch
        # bytes (``_Scratch``), read back in one unpack.
        self._layouts: dict[int, struct.Struct] = {}

    def _buffers(self) -> _Scratch:
        try:
            bufs: _Scratch = self._scratch.bufs
        except AttributeError:  # this thread's first route
            bufs, self._scratch.exported = _scratch(self.m, self.k)
            self._scratch.bufs = bufs
        return bufs

    def _layout(self, n: int) -> struct.Struct:
        layout = self._layouts.get(n)
        if layout is None:
            gap = 4 * (self.m - n)
            layout = self._layouts[n] = struct.Struct(f"{_RESULT_FORMAT}{n}i{gap}x{n}f{gap}xf")
        return layout

    def route(self, embedding: np.ndarray, eligible: Any, lam: float, temperature: float = 0.0) -> Routed:
        """Route one float32 embedding of length d; every output of the call is returned, so no
        later call depends on this one (the per-thread buffers are scratch, read before returning)."""
        if embedding.dtype is not _F32 or embedding.ndim != 1 or not embedding.flags.c_contiguous:
            _vectors(embedding, 1)
        params, res, ranking, scores, errors, work, _, _ = self._buffers()
        params.lam = lam
        params.temperature = temperature
        status = lib.cr_route(self._handle, ffi.from_buffer(_FLOATS, embedding), embedding.shape[0], eligible,
                              params, res, ranking, scores, errors, work)
        if status:
            check(status, "routing an embedding")
        n = res.n_ranked
        return (res.cluster, res.similarity, res.margin, ffi.unpack(ranking, n), ffi.unpack(scores, n),
                ffi.unpack(errors, n))

    def choose(self, embedding: np.ndarray, eligible: Any, count: int, lam: float, temperature: float = 0.0
               ) -> Chosen:
        """``route`` for one decision: the ranking's indices and scores, but of the expected errors
        only the first, and the derived tier rule's inputs; read back in one unpack of the scratch
        bytes. ``count`` is how many models ``eligible`` leaves (checked against C's count)."""
        if embedding.dtype is not _F32 or embedding.ndim != 1 or not embedding.flags.c_contiguous:
            _vectors(embedding, 1)
        params, res, ranking, scores, errors, work, raw, at = self._buffers()
        params.lam = lam
        params.temperature = temperature
        status = lib.cr_route(self._handle, ffi.from_buffer(_FLOATS, embedding), embedding.shape[0], eligible,
                              params, res, ranking, scores, errors, work)
        if status:
            check(status, "routing an embedding")
        out = (self._layouts.get(count) or self._layout(count)).unpack_from(raw, at)
        if out[3] != count:  # pragma: no cover - only a C core breaking its contract can trip this
            raise CoreError(f"routing an embedding: the C core ranked {out[3]} models, expected {count}")
        return out[0], out[1], out[2], out[6:6 + count], out[6 + count:6 + 2 * count], out[-1], out[4], out[5]

    def similarities(self, embedding: np.ndarray, temperature: float = 0.0) -> np.ndarray:
        """Per-cluster cosine similarities (temperature 0) or soft-assignment weights (> 0)."""
        _vectors(embedding, 1)
        out = np.empty(self.k, dtype=np.float32)
        m = self.m
        status = lib.cr_route(self._handle, ffi.from_buffer("float[]", embedding), embedding.shape[0], ffi.NULL,
                              ffi.new("cr_params *", (0.0, temperature)), ffi.new("cr_result *"),
                              ffi.new("int32_t[]", m), ffi.new("float[]", m), ffi.new("float[]", m),
                              ffi.from_buffer("float[]", out))
        check(status, "routing an embedding")
        return out

    def route_batch(self, embeddings: np.ndarray, eligible: Any, lam: float, temperature: float = 0.0
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Route an (n, d) float32 array in one C call; returns results, rankings, scores, errors."""
        _vectors(embeddings, 2)
        n, d = embeddings.shape
        results = np.empty(n, dtype=RESULT_DTYPE)
        rankings = np.empty((n, self.m), dtype=np.int32)
        scores = np.empty((n, self.m), dtype=np.float32)
        errors = np.empty((n, self.m), dtype=np.float32)
        work = ffi.new("float[]", self.k)
        failed = ffi.new("int32_t *")
        status = lib.cr_route_batch(
            self._handle, n, d, ffi.from_buffer("float[]", embeddings), eligible,
            ffi.new("cr_params *", (lam, temperature)),
            ffi.cast("cr_result *", ffi.from_buffer(results)), ffi.from_buffer("int32_t[]", rankings),
            ffi.from_buffer("float[]", scores), ffi.from_buffer("float[]", errors), work, failed,
        )
        check(status, f"routing embedding {failed[0]} of the batch", failed[0] if failed[0] >= 0 else None)
        return results, rankings, scores, errors

    def expected_errors(self, embeddings: np.ndarray, temperature: float) -> np.ndarray:
        """(n, m) float64: each model's expected error for each row of an (n, d) float32 array, as
        ``route`` computes it before scoring (the cluster rule's, every model)."""
        _vectors(embeddings, 2)
        n, d = embeddings.shape
        out = np.empty((n, self.m), dtype=np.float64)
        failed = ffi.new("int32_t *")
        status = lib.cr_expected_errors(self._handle, n, d, ffi.from_buffer(_FLOATS, embeddings), temperature,
                                        ffi.new("float[]", self.k), ffi.from_buffer("double[]", out), failed)
        check(status, f"the expected errors of embedding {failed[0]}", failed[0] if failed[0] >= 0 else None)
        return out

    def rank_batch(self, expected: np.ndarray, eligible: Any, lam: float
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """``route_batch``'s outputs for given (n, m) float64 expected errors (finite, >= 0) instead of
        the clusters' (each result's cluster -1, similarity and margin 0: the caller's to fill)."""
        n = expected.shape[0]
        if expected.dtype != np.float64 or expected.shape != (n, self.m) or not expected.flags.c_contiguous:
            raise ArgumentError(f"expected errors must be a C-contiguous float64 (n, {self.m}) array, "
                                f"got {expected.dtype} {expected.shape}")
        results = np.empty(n, dtype=RESULT_DTYPE)
        rankings = np.empty((n, self.m), dtype=np.int32)
        scores = np.empty((n, self.m), dtype=np.float32)
        errors = np.empty((n, self.m), dtype=np.float32)
        failed = ffi.new("int32_t *")
        status = lib.cr_rank_errors(
            self._handle, n, ffi.from_buffer("double[]", expected), eligible, ffi.new("cr_params *", (lam, 0.0)),
            ffi.cast("cr_result *", ffi.from_buffer(results)), ffi.from_buffer("int32_t[]", rankings),
            ffi.from_buffer("float[]", scores), ffi.from_buffer("float[]", errors), failed)
        check(status, f"ranking the expected errors of row {failed[0]}", failed[0] if failed[0] >= 0 else None)
        return results, rankings, scores, errors

    def rank_one(self, expected: np.ndarray, eligible: Any, count: int, lam: float) -> Chosen:
        """``choose``'s outputs for one row of given expected errors (an (m,) float64 C-contiguous
        array, finite and >= 0); cluster -1, similarity and margin 0."""
        if expected.dtype != np.float64 or expected.shape != (self.m,) or not expected.flags.c_contiguous:
            raise ArgumentError(f"expected errors must be a C-contiguous float64 ({self.m},) array, "
                                f"got {expected.dtype} {expected.shape}")
        params, res, ranking, scores, errors, _, raw, at = self._buffers()
        params.lam = lam
        params.temperature = 0.0
        failed = ffi.new("int32_t *")
        status = lib.cr_rank_errors(self._handle, 1, ffi.from_buffer("double[]", expected), eligible, params, res,
                                    ranking, scores, errors, failed)
        if status:
            check(status, "ranking expected errors")
        out = (self._layouts.get(count) or self._layout(count)).unpack_from(raw, at)
        return out[0], out[1], out[2], out[6:6 + count], out[6 + count:6 + 2 * count], out[-1], out[4], out[5]


#: A single route's scratch: params, result, ranking, scores, errors and the similarities'
#: buffer (cffi pointers), with the bytes that hold the result and the three arrays and the
#: offset of the result in them: ``cr_result``, then M int32 ranking slots, M float scores and M
#: float errors, so ``Index.choose`` reads them back with one ``struct`` unpack.
_Scratch = tuple[Any, Any, Any, Any, Any, Any, bytearray, int]


def _scratch(m: int, k: int) -> tuple[_Scratch, Any]:
    """A thread's scratch, and the cffi view that keeps its bytes exported (so never resized)."""
    size = ffi.sizeof("cr_result")
    raw = bytearray(size + 12 * m + 8)
    base = ffi.from_buffer("char[]", raw)
    at = -int(ffi.cast("uintptr_t", base)) % 8  # the result holds doubles: align it
    res = ffi.cast("cr_result *", base + at)
    ranking = ffi.cast("int32_t *", base + at + size)
    scores = ffi.cast("float *", base + at + size + 4 * m)
    errors = ffi.cast("float *", base + at + size + 8 * m)
    return (ffi.new("cr_params *"), res, ranking, scores, errors, ffi.new("float[]", k), raw, at), base


def mask_buffer(mask: np.ndarray | None) -> Any:
    """A C view of a uint8 eligibility mask (NULL = every model eligible)."""
    return ffi.NULL if mask is None else ffi.from_buffer("uint8_t[]", mask)


def hash_embed(text: str, dim: int) -> np.ndarray:
    """Embed UTF-8 text with the C hash embedder into a unit float32 vector."""
    data = text.encode("utf-8")
    out = np.empty(dim, dtype=np.float32)
    check(lib.cr_hash_embed(data, len(data), HASH_MAX_BYTES, dim, ffi.from_buffer("float[]", out)),
          "hash-embedding a prompt")
    return out


class TopicIndex:
    """A C "unseen topic" detector (cr_topic): owns the handle, freed when this object is collected."""

    __slots__ = ("d", "_handle", "_work_floats", "_scratch")

    def __init__(self, centre: np.ndarray, store: np.ndarray, k: int, means: np.ndarray, factor: np.ndarray,
                 grid0: np.ndarray, grid1: np.ndarray) -> None:
        s, self.d = store.shape
        arrays = [_f32(a) for a in (centre, store, means, factor)]
        grids = [np.ascontiguousarray(g, dtype=np.float64) for g in (grid0, grid1)]
        out = ffi.new("cr_topic **")
        check(lib.cr_topic_new(self.d, s, k, ffi.from_buffer("float[]", arrays[0]),
                               ffi.from_buffer("float[]", arrays[1]), means.shape[0],
                               ffi.from_buffer("float[]", arrays[2]), ffi.from_buffer("float[]", arrays[3]),
                               len(grids[0]), ffi.from_buffer("double[]", grids[0]), len(grids[1]),
                               ffi.from_buffer("double[]", grids[1]), out),
              "building the topic detector")
        self._handle = ffi.gc(out[0], lib.cr_topic_free)
        self._work_floats = int(lib.cr_topic_work_floats(self._handle))
        self._scratch = threading.local()  # scratch and output, one per thread, reused by one-row calls

    def _buffers(self) -> tuple[Any, Any, Any]:
        bufs: tuple[Any, Any, Any] | None = getattr(self._scratch, "bufs", None)
        if bufs is None:
            bufs = (ffi.new("float[]", self._work_floats), ffi.new("double[]", 1), ffi.new("int32_t *"))
            self._scratch.bufs = bufs
        return bufs

    def familiarity(self, embeddings: np.ndarray, cutoff: float = 1.0) -> np.ndarray:
        """(n,) familiarity of an (n, d) float32 C-contiguous array (each row normalised first);
        rows at or above ``cutoff`` may get a bound >= cutoff instead (see cr_api.h)."""
        _vectors(embeddings, 2)
        n, d = embeddings.shape
        work, _, failed = self._buffers()
        out = np.empty(n, dtype=np.float64)
        status = lib.cr_topic_familiarity(self._handle, n, d, ffi.from_buffer("float[]", embeddings), cutoff, work,
                                          ffi.from_buffer("double[]", out), failed)
        if status:
            check(status, f"the topic check of embedding {failed[0]}", failed[0] if failed[0] >= 0 else None)
        return out

    def familiarity_one(self, embedding: np.ndarray, cutoff: float = 1.0) -> float:
        """The familiarity of one float32 C-contiguous embedding of length d (the per-route path)."""
        if embedding.dtype is not _F32 or embedding.ndim != 1 or not embedding.flags.c_contiguous:
            _vectors(embedding, 1)
        work, one, failed = self._buffers()
        status = lib.cr_topic_familiarity(self._handle, 1, embedding.shape[0], ffi.from_buffer("float[]", embedding),
                                          cutoff, work, one, failed)
        if status:
            check(status, "the topic check of an embedding")
        return float(one[0])


class KNNIndex:
    """A C knn-prior map (cr_knn): owns the handle, freed when this object is collected."""

    __slots__ = ("d", "m", "_handle", "_work_floats", "_k")

    def __init__(self, store: np.ndarray, scores: np.ndarray, k: int, beta: float) -> None:
        n, self.d = store.shape
        self.m = scores.shape[1]
        out = ffi.new("cr_knn **")
        check(lib.cr_knn_new(n, self.d, self.m, k, beta, ffi.from_buffer("float[]", _f32(store)),
                             ffi.from_buffer("float[]", _f32(scores)), out), "building the knn-prior map")
        self._handle = ffi.gc(out[0], lib.cr_knn_free)
        self._work_floats = int(lib.cr_knn_work_floats(self._handle))
        self._k = k

    def errors(self, embeddings: np.ndarray, prior: np.ndarray) -> np.ndarray:
        """(n, m) float64 expected errors of an (n, d) float32 C-contiguous array, given the
        cluster rule's (n, m) float64 ``prior``."""
        _vectors(embeddings, 2)
        n, d = embeddings.shape
        prior = np.ascontiguousarray(prior, dtype=np.float64)
        if prior.shape != (n, self.m):
            raise ArgumentError(f"the prior must have shape ({n}, {self.m}), got {prior.shape}")
        out = np.empty((n, self.m), dtype=np.float64)
        failed = ffi.new("int32_t *")
        status = lib.cr_knn_errors(self._handle, n, d, ffi.from_buffer(_FLOATS, embeddings),
                                   ffi.from_buffer("double[]", prior), ffi.new("float[]", self._work_floats),
                                   ffi.new("int32_t[]", self._k), ffi.from_buffer("double[]", out), failed)
        check(status, f"the knn-prior map on embedding {failed[0]}", failed[0] if failed[0] >= 0 else None)
        return out
