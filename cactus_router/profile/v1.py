"""Profile: the immutable routing profile, and its v1 JSON format (read, validated, written)."""

from __future__ import annotations

import json
import os
import reprlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np

from .._files import read_input, write_atomic
from .._frozen import freeze_arrays
from .._json import MAX_PROFILE_BYTES, free_form_problem, loads_limited
from .._native import MAX_CLUSTERS, MAX_DIM, MAX_MODELS
from ..errors import ProfileError
from ..maps import Map, map_from_dict
from ..ood import SCRIPT_CHECK_EMBEDDERS, OODChecks
from ..tiers.rules import Rule
from .legacy import parse_legacy
from .model import EmbedderInfo, ModelInfo, RoutingDefaults, TierCounts, freeze, rounded, thaw
from .tier_fields import (
    check_tier_fields,
    parse_policies,
    parse_policy_map,
    parse_tiers,
    policy_map_dict,
    tiers_dict,
)
from .validate import (
    Validator,
    check_ids,
    kind,
    model_facts,
    parse_centroids,
    parse_routing,
)

FORMAT = "cactus-router-profile"
VERSION = 1
#: Probe texts are embedded whenever a router loads, so their number and length are bounded.
MAX_PROBE_TEXTS = 16
MAX_PROBE_CHARS = 1000
#: Tasks named per cluster (``clusters.tasks``), bounded so a profile's load stays cheap.
MAX_TASKS_PER_CLUSTER = 1000


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
    #: Per-cluster tier counts and the derived tier rule (docs/tiers.md); None: the rule's defaults.
    tiers: TierCounts | None = field(default=None, repr=False)
    #: Tier -> model ids, first eligible wins (docs/tiers.md); None: no map.
    policy_map: Mapping[str, tuple[str, ...]] | None = None
    #: The rules (length, keyword, math, code, budget) the router applies after scoring.
    policies: tuple[Rule, ...] = ()
    #: The out-of-distribution checks (docs/profile-format.md); None: the similarity threshold only.
    ood: OODChecks | None = field(default=None, repr=False)
    #: The learned map whose predicted errors replace the cluster rates for the choice
    #: (``cactus_router.maps``, docs/profile-format.md); None: the cluster rule.
    map: Map | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        freeze_arrays(self, centroids=np.float64, cluster_sizes=np.int64)
        object.__setattr__(self, "models", tuple(self.models))
        k = len(self.centroids)
        for m in self.models:
            if m.error_rates.shape != (k,) or m.counts.shape != (k,):
                raise ProfileError(f"model {m.id!r} needs error_rates and counts for each of the {k} clusters")
        if self.routing.fallback is not None and self.routing.fallback not in self.model_ids:
            raise ProfileError(f"routing fallback {self.routing.fallback!r} is not a model of the profile")
        if self.cluster_tasks is not None:
            if len(self.cluster_tasks) != len(self.centroids):
                raise ProfileError(
                    f"cluster_tasks has {len(self.cluster_tasks)} entries for {len(self.centroids)} clusters")
            object.__setattr__(self, "cluster_tasks", tuple(MappingProxyType(dict(t)) for t in self.cluster_tasks))
        object.__setattr__(self, "training", freeze(thaw(self.training)))
        object.__setattr__(self, "policies", tuple(self.policies))
        if self.policy_map is not None:
            frozen = {t: tuple(ms) for t, ms in self.policy_map.items()}
            object.__setattr__(self, "policy_map", MappingProxyType(frozen))
        check_tier_fields(self.tiers, self.policy_map, self.policies, self.model_ids, len(self.centroids))
        if self.ood is not None:
            problem = ood_problem(self.ood, self.embedder.name, self.dim, self.routing.ood_threshold)
            if problem:
                raise ProfileError(problem)
        if self.map is not None and (self.map.dim, self.map.n_models) != (self.dim, len(self.models)):
            raise ProfileError(f"the map is for {self.map.dim}-dimensional embeddings and {self.map.n_models} models; "
                               f"the profile has {self.dim} and {len(self.models)}")

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
            raise ProfileError(f"{what}: $ must be an object, got {kind(obj)}")
        if "format" in obj:
            return _parse_v1(obj, what)
        if "cluster_centers" in obj:
            return Profile(**parse_legacy(obj, what))
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
            emb["probe_vectors"] = rounded(self.embedder.probe_vectors)
        models = [m.to_dict() for m in self.models]
        return {
            "format": FORMAT,
            "version": VERSION,
            "embedder": emb,
            "clusters": {
                "k": self.k,
                "dim": self.dim,
                "centroids": rounded(self.centroids),
                "sizes": [int(s) for s in self.cluster_sizes],
                **({} if self.cluster_tasks is None else {"tasks": [dict(t) for t in self.cluster_tasks]}),
            },
            "models": models,
            "routing": _routing_dict(self.routing),
            **({} if self.tiers is None else {"tiers": tiers_dict(self.tiers)}),
            **({} if self.policy_map is None else {"policy_map": policy_map_dict(self.policy_map)}),
            **({"policies": [r.to_dict() for r in self.policies]} if self.policies else {}),
            **({} if self.ood is None else {"ood": self.ood.to_dict()}),
            **({} if self.map is None else {"map": self.map.to_dict()}),
            "training": thaw(self.training),
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


def ood_problem(checks: OODChecks, embedder: str, dim: int, ood_threshold: float | None) -> str | None:
    """What makes ``checks`` unfit for a profile of this embedder and dimension, or None."""
    if checks.topic is not None and checks.topic.dim != dim:
        return f"$.ood.topic is {checks.topic.dim}-dimensional but the profile's embeddings have {dim} components"
    if checks.topic is not None and ood_threshold is not None:
        return ("$.ood.topic and $.routing.ood_threshold are two unseen-topic checks; keep one "
                "(the topic check replaces the similarity threshold)")
    if checks.script is not None and embedder not in SCRIPT_CHECK_EMBEDDERS:
        return (f"$.ood.script reads the MiniLM WordPiece vocabulary, which embedder {embedder!r} does not use; "
                f"drop it (it applies to {', '.join(sorted(SCRIPT_CHECK_EMBEDDERS))})")
    return None


def _parse_map(v: Validator, obj: Any, dim: int, n_models: int) -> Map:
    try:
        return map_from_dict(obj, "$.map", dim, n_models)
    except ProfileError as exc:
        raise v.fail("", str(exc)) from None


def _parse_ood(v: Validator, obj: Any, embedder: str, dim: int, ood_threshold: float | None) -> OODChecks:
    try:
        checks = OODChecks.from_dict(obj, "$.ood")
    except ProfileError as exc:
        raise v.fail("", str(exc)) from None
    problem = ood_problem(checks, embedder, dim, ood_threshold)
    if problem:
        raise v.fail("", problem)
    return checks


def _parse_tasks(v: Validator, c: Mapping[str, Any], k: int) -> tuple[dict[str, int], ...] | None:
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


def _parse_v1(obj: dict[str, Any], what: str) -> Profile:
    """A v1 profile from its parsed JSON, every field checked."""
    v = Validator(what)
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
    centroids = parse_centroids(v, c, "$.clusters", "centroids")
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
        facts = model_facts(v, m, p)
        models.append(ModelInfo(
            **facts,
            error_rates=v.array(v.get(m, "error_rates", p), f"{p}.error_rates", (k,), 0.0, 1.0),
            counts=v.array(v.get(m, "counts", p), f"{p}.counts", (k,), 0, 2**53, dtype=np.int64),
        ))
    check_ids(v, models, "$.models")
    routing = v.obj(obj, "routing", "$") if "routing" in obj else {}
    training = obj.get("training", {})
    if not isinstance(training, dict):
        raise v.fail("$.training", f"must be an object, got {kind(training)}")
    v.free_form(training, "$.training")
    ids = [m.id for m in models]
    parsed_routing = parse_routing(v, routing, "$.routing", "cost_bias", ids)
    return Profile(
        embedder=EmbedderInfo(name, edim, fingerprint, probe_texts, probe_vectors),
        centroids=centroids,
        cluster_sizes=sizes,
        models=tuple(models),
        routing=parsed_routing,
        cluster_tasks=_parse_tasks(v, c, k),
        training=freeze(training),
        tiers=parse_tiers(v, obj["tiers"], k) if "tiers" in obj else None,
        policy_map=parse_policy_map(v, obj["policy_map"], ids) if "policy_map" in obj else None,
        policies=parse_policies(v, obj["policies"], ids) if "policies" in obj else (),
        ood=_parse_ood(v, obj["ood"], name, d, parsed_routing.ood_threshold) if "ood" in obj else None,
        map=_parse_map(v, obj["map"], d, len(models)) if "map" in obj else None,
    )


