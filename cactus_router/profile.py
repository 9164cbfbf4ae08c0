"""Routing profiles: the v1 JSON format, its validation, and the two legacy formats."""

from __future__ import annotations

import json
import math
import os
import reprlib
import sys
import types
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np

from ._files import read_input, write_atomic
from ._json import MAX_PROFILE_BYTES, free_form_problem, loads_limited
from ._native import MAX_CLUSTERS, MAX_DIM, MAX_MODELS
from .errors import ProfileError

FORMAT = "cactus-router-profile"
VERSION = 1
CAPABILITIES = frozenset({"text", "tools", "vision", "embed"})
#: Probe texts are embedded whenever a router loads, so their number and length are bounded.
MAX_PROBE_TEXTS = 16
MAX_PROBE_CHARS = 1000
#: Tasks named per cluster (``clusters.tasks``), bounded so a profile's load stays cheap.
MAX_TASKS_PER_CLUSTER = 1000
#: Centroids are handed to the C core as float32: a larger component would become infinite.
_F32_MAX = float(np.finfo(np.float32).max)


class UnverifiedEmbedderWarning(UserWarning):
    """A profile has no embedder fingerprint, so the embedding space cannot be checked."""


def _ro(a: np.ndarray) -> np.ndarray:
    a.setflags(write=False)
    return a


def _caller_stacklevel() -> int:
    """The warnings stacklevel of the first frame outside cactus_router: the user's call."""
    here = os.path.dirname(os.path.abspath(__file__))
    frame: types.FrameType | None = sys._getframe(1)
    level = 1
    while frame is not None and os.path.abspath(frame.f_code.co_filename).startswith(here + os.sep):
        frame, level = frame.f_back, level + 1
    return level


def _freeze_arrays(obj: Any, **dtypes: Any) -> None:
    """Replace a frozen dataclass's array fields by read-only copies: learned state is immutable."""
    for name, dtype in dtypes.items():
        value = getattr(obj, name)
        if value is not None:
            object.__setattr__(obj, name, _ro(np.array(value, dtype=dtype)))


@dataclass(frozen=True)
class EmbedderInfo:
    """Which embedder a profile was built with, and its probe embeddings (the fingerprint)."""

    name: str
    dim: int
    fingerprint: str | None = None
    probe_texts: tuple[str, ...] = ()
    probe_vectors: np.ndarray | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        _freeze_arrays(self, probe_vectors=np.float64)


@dataclass(frozen=True)
class ModelInfo:
    """One routable model: its cost, optional facts, and per-cluster error rates with counts."""

    id: str
    cost: float
    error_rates: np.ndarray = field(compare=False, repr=False)
    counts: np.ndarray = field(compare=False, repr=False)
    size_mb: float | None = None
    tokens_per_sec: float | None = None
    context_length: int | None = None
    capabilities: frozenset[str] = frozenset({"text"})

    def __post_init__(self) -> None:
        _freeze_arrays(self, error_rates=np.float64, counts=np.int64)

    @property
    def overall_error_rate(self) -> float:
        """The error rate over all clusters, weighted by the labelled prompts behind each."""
        total = int(self.counts.sum())
        return float((self.error_rates * self.counts).sum() / total) if total else float(self.error_rates.mean())


@dataclass(frozen=True)
class RoutingDefaults:
    """How a profile routes.

    Attributes:
        lambda_min, lambda_max, cost_bias: the cost knob,
            ``lambda = lambda_min + cost_bias * (lambda_max - lambda_min)``.
        temperature: 0 = a model's expected error is its rate in the nearest cluster; > 0 = a
            mix of its rates over all clusters, weighted by softmax(similarity / temperature).
        ood_threshold: a prompt whose best cluster similarity is below this is out of
            distribution (None: never); the router then applies the fallback policy.
        fallback: the model id used for out-of-distribution prompts; None = the eligible model
            with the lowest overall error rate (the most reliable).
    """

    lambda_min: float = 0.0
    lambda_max: float = 2.0
    cost_bias: float = 0.5
    temperature: float = 0.0
    ood_threshold: float | None = None
    fallback: str | None = None

    def lam(self, cost_bias: float | None = None) -> float:
        """The lambda that ``cost_bias`` (default: the profile's) stands for."""
        b = self.cost_bias if cost_bias is None else cost_bias
        return self.lambda_min + b * (self.lambda_max - self.lambda_min)


@dataclass(frozen=True)
class Profile:
    """An immutable routing profile (format v1). Build with ``Profile.load`` or ``from_dict``."""

    embedder: EmbedderInfo
    centroids: np.ndarray = field(repr=False)  # (K, D); the C core normalises each row
    cluster_sizes: np.ndarray = field(repr=False)
    models: tuple[ModelInfo, ...]
    routing: RoutingDefaults = RoutingDefaults()
    training: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}), repr=False)
    source_format: str = f"{FORMAT} v{VERSION}"
    #: Per cluster, how many training prompts of each task it holds (None if tasks were unknown).
    cluster_tasks: tuple[Mapping[str, int], ...] | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        _freeze_arrays(self, centroids=np.float64, cluster_sizes=np.int64)
        object.__setattr__(self, "models", tuple(self.models))
        if self.routing.fallback is not None and self.routing.fallback not in self.model_ids:
            raise ProfileError(f"routing fallback {self.routing.fallback!r} is not a model of the profile")
        if self.cluster_tasks is not None:
            if len(self.cluster_tasks) != len(self.centroids):
                raise ProfileError(
                    f"cluster_tasks has {len(self.cluster_tasks)} entries for {len(self.centroids)} clusters")
            object.__setattr__(self, "cluster_tasks", tuple(MappingProxyType(dict(t)) for t in self.cluster_tasks))
        object.__setattr__(self, "training", _freeze(_thaw(self.training)))

    @property
    def k(self) -> int:
        """Number of clusters."""
        return int(self.centroids.shape[0])

    @property
    def dim(self) -> int:
        """Embedding dimension."""
        return int(self.centroids.shape[1])

    @property
    def model_ids(self) -> tuple[str, ...]:
        """Model ids in profile order."""
        return tuple(m.id for m in self.models)

    def error_matrix(self) -> np.ndarray:
        """Error rates as a (K, M) float32 array: row c holds every model's rate in cluster c."""
        return np.stack([m.error_rates for m in self.models], axis=1).astype(np.float32)

    @classmethod
    def load(cls, source: str | os.PathLike[str]) -> Profile:
        """Load a profile from a path or a bundled profile name (e.g. ``"default"``).

        Raises:
            ProfileError: the file is missing, is not JSON, or fails validation (with its JSON path).
        """
        path = _resolve(source)
        return cls.from_json(read_input(path, "profile", ProfileError, MAX_PROFILE_BYTES), what=str(path))

    @classmethod
    def from_json(cls, data: bytes | str, *, what: str = "profile") -> Profile:
        """Parse and validate a profile from JSON text (any of the three supported formats)."""
        return cls.from_dict(loads_limited(data, what, ProfileError), what=what)

    @classmethod
    def from_dict(cls, obj: Any, *, what: str = "profile") -> Profile:
        """Validate a parsed profile; legacy formats are converted on the way in."""
        if not isinstance(obj, dict):
            raise ProfileError(f"{what}: $ must be an object, got {_kind(obj)}")
        if "format" in obj:
            return _parse_v1(obj, what)
        if "cluster_centers" in obj:
            return _parse_legacy(obj, what)
        raise ProfileError(
            f"{what}: unknown profile format (no 'format' key, no 'cluster_centers'); "
            f"expected a {FORMAT} v{VERSION} file"
        )

    def to_dict(self) -> dict[str, Any]:
        """The v1 JSON object of this profile (floats rounded to 6 decimals)."""
        emb: dict[str, Any] = {"name": self.embedder.name, "dim": self.embedder.dim}
        if self.embedder.fingerprint is not None and self.embedder.probe_vectors is not None:
            emb["fingerprint"] = self.embedder.fingerprint
            emb["probe_texts"] = list(self.embedder.probe_texts)
            emb["probe_vectors"] = _rounded(self.embedder.probe_vectors)
        models = []
        for m in self.models:
            entry: dict[str, Any] = {"id": m.id, "cost": m.cost}
            if m.size_mb is not None:
                entry["size_mb"] = m.size_mb
            if m.tokens_per_sec is not None:
                entry["tokens_per_sec"] = m.tokens_per_sec
            if m.context_length is not None:
                entry["context_length"] = m.context_length
            entry["capabilities"] = sorted(m.capabilities)
            entry["error_rates"] = _rounded(m.error_rates)
            entry["counts"] = [int(c) for c in m.counts]
            models.append(entry)
        return {
            "format": FORMAT,
            "version": VERSION,
            "embedder": emb,
            "clusters": {
                "k": self.k,
                "dim": self.dim,
                "centroids": _rounded(self.centroids),
                "sizes": [int(s) for s in self.cluster_sizes],
                **({} if self.cluster_tasks is None else {"tasks": [dict(t) for t in self.cluster_tasks]}),
            },
            "models": models,
            "routing": _routing_dict(self.routing),
            "training": _thaw(self.training),
        }

    def to_json(self) -> str:
        """Serialise to v1 JSON: compact, key order fixed, so equal profiles give equal bytes."""
        return json.dumps(self.to_dict(), separators=(",", ":"), ensure_ascii=False) + "\n"

    def save(self, path: str | os.PathLike[str], *, follow_symlinks: bool = False) -> None:
        """Write the v1 JSON atomically (a temporary file renamed over ``path``).

        Raises:
            OutputError: path is not a regular file, or is a symbolic link and follow_symlinks
                is false (see ``cactus_router._files.write_atomic``).
        """
        write_atomic(path, self.to_json(), follow_symlinks=follow_symlinks)

    def __repr__(self) -> str:
        return (
            f"Profile(embedder={self.embedder.name!r}, k={self.k}, dim={self.dim}, "
            f"models={list(self.model_ids)!r})"
        )


def bundled_profiles() -> list[str]:
    """Names of the profiles shipped inside the package."""
    folder = resources.files("cactus_router") / "profiles"
    return sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".json"))


def _resolve(source: str | os.PathLike[str]) -> Path:
    path = Path(source)
    if isinstance(source, str) and os.sep not in source and not source.endswith(".json") and not path.exists():
        if source in bundled_profiles():
            return Path(str(resources.files("cactus_router") / "profiles" / f"{source}.json"))
        raise ProfileError(
            f"no profile file {source!r} and no bundled profile of that name "
            f"(bundled: {', '.join(bundled_profiles())})"
        )
    return path


def _routing_dict(r: RoutingDefaults) -> dict[str, Any]:
    out: dict[str, Any] = {"lambda_min": r.lambda_min, "lambda_max": r.lambda_max, "cost_bias": r.cost_bias,
                           "temperature": r.temperature}
    if r.ood_threshold is not None:
        out["ood_threshold"] = r.ood_threshold
    if r.fallback is not None:
        out["fallback"] = r.fallback
    return out


def _parse_tasks(v: _V, c: Mapping[str, Any], k: int) -> tuple[dict[str, int], ...] | None:
    raw = c.get("tasks")
    if raw is None:
        return None
    if not isinstance(raw, list) or len(raw) != k:
        raise v.fail("$.clusters.tasks", f"must be an array of {k} objects {{task: count}}")
    out = []
    for i, t in enumerate(raw):
        if not isinstance(t, dict) or not all(
            isinstance(n, int) and not isinstance(n, bool) and 0 <= n < 2**53 for n in t.values()
        ):
            raise v.fail(f"$.clusters.tasks[{i}]", "must be an object of task name to count (integers >= 0)")
        if len(t) > MAX_TASKS_PER_CLUSTER:
            raise v.fail(f"$.clusters.tasks[{i}]", f"names {len(t)} tasks; at most {MAX_TASKS_PER_CLUSTER}")
        problem = free_form_problem(t, f"$.clusters.tasks[{i}]")
        if problem:  # a task name with a lone surrogate could not be saved back as UTF-8
            raise ProfileError(f"{v.what}: {problem}")
        out.append(dict(t))
    return tuple(out)


def _rounded(a: np.ndarray) -> Any:
    return np.round(np.asarray(a, dtype=np.float64), 6).tolist()


def _thaw(obj: Any) -> Any:
    if isinstance(obj, Mapping):
        return {str(k): _thaw(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_thaw(v) for v in obj]
    return obj


def _freeze(obj: Any) -> Any:
    if isinstance(obj, dict):
        return MappingProxyType({k: _freeze(v) for k, v in obj.items()})
    if isinstance(obj, list):
        return tuple(_freeze(v) for v in obj)
    return obj


def _kind(v: Any) -> str:
    return {dict: "an object", list: "an array", str: "a string", bool: "a boolean", type(None): "null"}.get(
        type(v), "a number"
    )


class _V:
    """Validation helpers that name the JSON path of the first problem."""

    def __init__(self, what: str) -> None:
        self.what = what

    def fail(self, path: str, msg: str) -> ProfileError:
        return ProfileError(f"{self.what}: {path} {msg}")

    def obj(self, parent: Mapping[str, Any], key: str, path: str) -> dict[str, Any]:
        v = self.get(parent, key, path)
        if not isinstance(v, dict):
            raise self.fail(f"{path}.{key}", f"must be an object, got {_kind(v)}")
        return v

    def get(self, parent: Mapping[str, Any], key: str, path: str) -> Any:
        if key not in parent:
            raise self.fail(path, f"is missing required key {key!r}")
        return parent[key]

    def string(self, v: Any, path: str) -> str:
        if not isinstance(v, str) or not v:
            raise self.fail(path, f"must be a non-empty string, got {_kind(v)}")
        if free_form_problem(v, path):  # a lone surrogate could not be written back as UTF-8
            raise self.fail(path, "is not valid Unicode (a lone surrogate)")
        return v

    def number(self, v: Any, path: str, lo: float | None = None, hi: float | None = None) -> float:
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise self.fail(path, f"must be a number, got {_kind(v)}")
        try:
            x = float(v)
        except OverflowError:  # an integer literal beyond float range, e.g. 10**400
            raise self.fail(path, "must be finite, got an integer too large for a float") from None
        if not math.isfinite(x):
            raise self.fail(path, "must be finite")
        if (lo is not None and x < lo) or (hi is not None and x > hi):
            raise self.fail(path, f"must be in [{lo}, {hi}], got {x}")
        return x

    def integer(self, v: Any, path: str, lo: int, hi: int) -> int:
        if isinstance(v, bool) or not isinstance(v, int):
            raise self.fail(path, f"must be an integer, got {_kind(v)}")
        if not lo <= v <= hi:
            raise self.fail(path, f"must be in [{lo}, {hi}], got {v}")
        return v

    def array(self, v: Any, path: str, shape: tuple[int, ...], lo: float | None = None,
              hi: float | None = None, dtype: type = np.float64) -> np.ndarray:
        """A numeric array of exactly ``shape``; finite and within [lo, hi]."""
        if not isinstance(v, list):
            raise self.fail(path, f"must be an array, got {_kind(v)}")
        try:
            a = np.array(v, dtype=np.float64)
        except (ValueError, TypeError, OverflowError):
            raise self.fail(path, f"must be a {'x'.join(map(str, shape))} array of numbers") from None
        if a.shape != shape:
            raise self.fail(path, f"must have shape {list(shape)}, got {list(a.shape)}")
        if _has_non_number(v):
            raise self.fail(path, "must hold numbers only (no strings, booleans or nulls)")
        bad = ~np.isfinite(a)
        if lo is not None:
            bad |= a < lo
        if hi is not None:
            bad |= a > hi
        if bad.any():
            idx = "".join(f"[{i}]" for i in np.argwhere(bad)[0])
            raise self.fail(f"{path}{idx}", f"must be finite and in [{lo}, {hi}], got {a[bad][0]}")
        if dtype is np.int64 and (a != np.floor(a)).any():
            idx = "".join(f"[{i}]" for i in np.argwhere(a != np.floor(a))[0])
            raise self.fail(f"{path}{idx}", f"must be a whole number, got {a[a != np.floor(a)][0]}")
        return a.astype(dtype)

    def free_form(self, obj: Any, path: str) -> None:
        """A free-form part (provenance): bounded nesting, finite numbers, valid Unicode."""
        problem = free_form_problem(obj, path)
        if problem:
            raise ProfileError(f"{self.what}: {problem}")


def _has_non_number(v: Any) -> bool:
    if isinstance(v, list):
        return any(_has_non_number(x) for x in v) if v and isinstance(v[0], list) else any(
            isinstance(x, bool) or not isinstance(x, (int, float)) for x in v
        )
    return isinstance(v, bool) or not isinstance(v, (int, float))


def _parse_routing(v: _V, r: Mapping[str, Any], path: str, bias_key: str, ids: Sequence[str]) -> RoutingDefaults:
    lmin = v.number(r.get("lambda_min", 0.0), f"{path}.lambda_min", 0.0, 1e6)
    lmax = v.number(r.get("lambda_max", 2.0), f"{path}.lambda_max", 0.0, 1e6)
    if lmax < lmin:
        raise v.fail(f"{path}.lambda_max", f"must be >= lambda_min ({lmin}), got {lmax}")
    bias = v.number(r.get(bias_key, 0.5), f"{path}.{bias_key}", 0.0, 1.0)
    temperature = v.number(r.get("temperature", 0.0), f"{path}.temperature", 0.0, 10.0)
    ood = r.get("ood_threshold")
    ood = None if ood is None else v.number(ood, f"{path}.ood_threshold", -1.0, 1.0)
    fallback = r.get("fallback")
    if fallback is not None and fallback not in ids:
        raise v.fail(f"{path}.fallback", f"must be one of the profile's model ids, got {fallback!r}")
    return RoutingDefaults(lmin, lmax, bias, temperature, ood, fallback)


def _parse_centroids(v: _V, c: Mapping[str, Any], path: str, key: str) -> np.ndarray:
    raw = v.get(c, key, path)
    if not isinstance(raw, list) or not raw or not isinstance(raw[0], list):
        raise v.fail(f"{path}.{key}", "must be a non-empty array of arrays (K x D)")
    k, d = len(raw), len(raw[0])
    if not (1 <= k <= MAX_CLUSTERS and 1 <= d <= MAX_DIM):
        raise v.fail(f"{path}.{key}", f"has shape {k}x{d}, outside 1..{MAX_CLUSTERS} x 1..{MAX_DIM}")
    cent = v.array(raw, f"{path}.{key}", (k, d), -_F32_MAX, _F32_MAX)
    # A row must keep a direction as saved (6 decimals, see to_dict) and as float32 in the C core,
    # or a profile that loads would be saved as one that does not.
    zero = np.flatnonzero(~np.round(cent, 6).any(axis=1))
    if zero.size:
        raise v.fail(f"{path}.{key}[{zero[0]}]", "is a zero vector (at the 6 decimals profiles are saved with); "
                     "a centroid needs a direction")
    return cent  # kept as written, so a profile round-trips byte for byte; the C core normalises


def _check_ids(v: _V, models: Sequence[ModelInfo], path: str) -> None:
    seen: set[str] = set()
    for i, m in enumerate(models):
        if m.id in seen:
            raise v.fail(f"{path}[{i}].id", f"duplicates model id {m.id!r}; ids must be unique")
        seen.add(m.id)


def _parse_caps(v: _V, raw: Any, path: str) -> frozenset[str]:
    if not isinstance(raw, list) or not all(isinstance(c, str) for c in raw):
        raise v.fail(path, "must be an array of strings")
    unknown = sorted(set(raw) - CAPABILITIES)
    if unknown:
        raise v.fail(path, f"has unknown capability {unknown[0]!r} (known: {', '.join(sorted(CAPABILITIES))})")
    return frozenset(raw)


def _parse_v1(obj: dict[str, Any], what: str) -> Profile:
    v = _V(what)
    if obj["format"] != FORMAT:
        raise v.fail("$.format", f"must be {FORMAT!r}, got {reprlib.repr(obj['format'])}")
    version = v.get(obj, "version", "$")
    if type(version) is not int or version != VERSION:
        raise v.fail("$.version",
                     f"must be {VERSION} (this cactus-router reads v{VERSION}), got {reprlib.repr(version)}")

    e = v.obj(obj, "embedder", "$")
    name = v.string(v.get(e, "name", "$.embedder"), "$.embedder.name")
    edim = v.integer(v.get(e, "dim", "$.embedder"), "$.embedder.dim", 1, MAX_DIM)
    c = v.obj(obj, "clusters", "$")
    centroids = _parse_centroids(v, c, "$.clusters", "centroids")
    k, d = centroids.shape
    if v.integer(v.get(c, "k", "$.clusters"), "$.clusters.k", 1, MAX_CLUSTERS) != k:
        raise v.fail("$.clusters.k", f"is {c['k']} but there are {k} centroids")
    if v.integer(v.get(c, "dim", "$.clusters"), "$.clusters.dim", 1, MAX_DIM) != d:
        raise v.fail("$.clusters.dim", f"is {c['dim']} but the centroids have {d} components")
    if d != edim:
        raise v.fail("$.embedder.dim", f"is {edim} but the centroids have {d} components")
    fingerprint = None
    probe_texts: tuple[str, ...] = ()
    probe_vectors = None
    if "fingerprint" in e:
        fingerprint = v.string(e["fingerprint"], "$.embedder.fingerprint")
        texts = v.get(e, "probe_texts", "$.embedder")
        if not isinstance(texts, list) or not texts or not all(isinstance(t, str) and t for t in texts):
            raise v.fail("$.embedder.probe_texts", "must be a non-empty array of non-empty strings")
        if len(texts) > MAX_PROBE_TEXTS or max(len(t) for t in texts) > MAX_PROBE_CHARS:
            raise v.fail("$.embedder.probe_texts", f"must hold at most {MAX_PROBE_TEXTS} texts of at most "
                         f"{MAX_PROBE_CHARS} characters (they are embedded at every load)")
        v.free_form(texts, "$.embedder.probe_texts")
        probe_texts = tuple(texts)
        probe_vectors = v.array(v.get(e, "probe_vectors", "$.embedder"), "$.embedder.probe_vectors",
                                (len(texts), edim), -1.0001, 1.0001)
    sizes = v.array(v.get(c, "sizes", "$.clusters"), "$.clusters.sizes", (k,), 0, 2**53, dtype=np.int64)

    raw_models = v.get(obj, "models", "$")
    if not isinstance(raw_models, list) or not 1 <= len(raw_models) <= MAX_MODELS:
        raise v.fail("$.models", f"must be an array of 1 to {MAX_MODELS} models")
    models = []
    for i, m in enumerate(raw_models):
        p = f"$.models[{i}]"
        if not isinstance(m, dict):
            raise v.fail(p, f"must be an object, got {_kind(m)}")
        models.append(
            ModelInfo(
                id=v.string(v.get(m, "id", p), f"{p}.id"),
                cost=v.number(v.get(m, "cost", p), f"{p}.cost", 0.0, 1e12),
                error_rates=v.array(v.get(m, "error_rates", p), f"{p}.error_rates", (k,), 0.0, 1.0),
                counts=v.array(v.get(m, "counts", p), f"{p}.counts", (k,), 0, 2**53, dtype=np.int64),
                size_mb=v.number(m["size_mb"], f"{p}.size_mb", 0.0, 1e9) if "size_mb" in m else None,
                tokens_per_sec=v.number(m["tokens_per_sec"], f"{p}.tokens_per_sec", 0.0, 1e9)
                if "tokens_per_sec" in m else None,
                context_length=v.integer(m["context_length"], f"{p}.context_length", 1, 2**31)
                if "context_length" in m else None,
                capabilities=_parse_caps(v, m.get("capabilities", ["text"]), f"{p}.capabilities"),
            )
        )
    _check_ids(v, models, "$.models")
    routing = v.obj(obj, "routing", "$") if "routing" in obj else {}
    training = obj.get("training", {})
    if not isinstance(training, dict):
        raise v.fail("$.training", f"must be an object, got {_kind(training)}")
    v.free_form(training, "$.training")
    return Profile(
        embedder=EmbedderInfo(name, edim, fingerprint, probe_texts, probe_vectors),
        centroids=centroids,
        cluster_sizes=sizes,
        models=tuple(models),
        routing=_parse_routing(v, routing, "$.routing", "cost_bias", [m.id for m in models]),
        cluster_tasks=_parse_tasks(v, c, k),
        training=_freeze(training),
    )


def _parse_legacy(obj: dict[str, Any], what: str) -> Profile:
    """adaptive_router / Nordlys v0.1 and the AuroraAI on-device variant (no fingerprint)."""
    v = _V(what)
    cc = v.obj(obj, "cluster_centers", "$")
    centroids = _parse_centroids(v, cc, "$.cluster_centers", "cluster_centers")
    k, d = centroids.shape
    for key, expect in (("n_clusters", k), ("feature_dim", d)):
        if key in cc and v.integer(cc[key], f"$.cluster_centers.{key}", 1, MAX_DIM) != expect:
            raise v.fail(f"$.cluster_centers.{key}", f"is {cc[key]} but the centroids say {expect}")
    meta = v.obj(obj, "metadata", "$") if "metadata" in obj else {}
    v.free_form(meta, "$.metadata")
    raw_models = v.get(obj, "models", "$")
    if not isinstance(raw_models, list) or not 1 <= len(raw_models) <= MAX_MODELS:
        raise v.fail("$.models", f"must be an array of 1 to {MAX_MODELS} models")
    models = []
    aurora = False
    for i, m in enumerate(raw_models):
        p = f"$.models[{i}]"
        if not isinstance(m, dict):
            raise v.fail(p, f"must be an object, got {_kind(m)}")
        rates = v.array(v.get(m, "error_rates", p), f"{p}.error_rates", (k,), 0.0, 1.0)
        if "model_id" in m:  # AuroraAI: on-device models, size is the cost
            aurora = True
            size = v.number(v.get(m, "size_mb", p), f"{p}.size_mb", 0.0, 1e9)
            models.append(
                ModelInfo(
                    id=v.string(m["model_id"], f"{p}.model_id"),
                    cost=size,
                    error_rates=rates,
                    counts=np.zeros(k, dtype=np.int64),
                    size_mb=size,
                    tokens_per_sec=v.number(m["avg_tokens_per_sec"], f"{p}.avg_tokens_per_sec", 0.0, 1e9)
                    if "avg_tokens_per_sec" in m else None,
                    context_length=v.integer(m["context_size"], f"{p}.context_size", 1, 2**31)
                    if "context_size" in m else None,
                    capabilities=_parse_caps(v, m.get("capabilities", ["text"]), f"{p}.capabilities"),
                )
            )
        else:  # Nordlys: provider/model_name, cost = mean of input and output prices
            provider = v.string(v.get(m, "provider", p), f"{p}.provider")
            name = v.string(v.get(m, "model_name", p), f"{p}.model_name")
            pin = v.number(v.get(m, "cost_per_1m_input_tokens", p), f"{p}.cost_per_1m_input_tokens", 0.0, 1e12)
            pout = v.number(v.get(m, "cost_per_1m_output_tokens", p), f"{p}.cost_per_1m_output_tokens", 0.0, 1e12)
            models.append(
                ModelInfo(id=f"{provider}/{name}", cost=(pin + pout) / 2, error_rates=rates,
                          counts=np.zeros(k, dtype=np.int64))
            )
    _check_ids(v, models, "$.models")
    rmeta = meta.get("routing", {})
    if not isinstance(rmeta, dict):
        raise v.fail("$.metadata.routing", f"must be an object, got {_kind(rmeta)}")
    emb_name = meta.get("embedding_model", "unknown")
    if not isinstance(emb_name, str) or not emb_name:
        raise v.fail("$.metadata.embedding_model", "must be a non-empty string")
    source = "auroraai" if aurora else "nordlys-v0.1"
    warnings.warn(
        f"{what}: a {source} profile has no embedder fingerprint; cactus-router can check only the "
        f"dimension ({d}), not that the embedder is {emb_name!r}. Convert it with "
        "'cactus-router convert' after checking, or retrain to get a fingerprint.",
        UnverifiedEmbedderWarning,
        stacklevel=_caller_stacklevel(),
    )
    return Profile(
        embedder=EmbedderInfo(emb_name, d),
        centroids=centroids,
        cluster_sizes=np.zeros(k, dtype=np.int64),
        models=tuple(models),
        routing=_parse_routing(v, rmeta, "$.metadata.routing", "default_cost_preference", [m.id for m in models]),
        training=_freeze({"converted_from": source, "metadata": meta}),
        source_format=source,
    )
