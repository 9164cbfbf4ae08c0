"""The Router: embed a prompt, find its cluster, pick the model with the lowest score."""

from __future__ import annotations

import os
import warnings
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from time import perf_counter
from typing import Any

import numpy as np

from . import _native
from .embedders import Embedder, embedder_for_profile, get_embedder
from .embedders._base import PROBE_MIN_COSINE, l2_normalise
from .errors import EmbedderMismatchError, NoEligibleModelError, RouterError
from .profile import CAPABILITIES, Profile

_MASK_CACHE_SIZE = 256
#: Rankings kept per eligibility mask, keyed by (cluster, lambda); cleared when full.
_RANKING_CACHE_SIZE = 4096

#: A ranking as Decision.ranking holds it, with its model indices, scores and error rates.
_Ranked = tuple[tuple[tuple[str, float], ...], list[int], list[float], list[float]]
#: An eligibility mask (None = every model), its C buffer, its fallback model, its rankings.
_MaskEntry = tuple[np.ndarray | None, Any, int, dict[tuple[int, float], _Ranked]]


@dataclass(frozen=True, slots=True)
class Decision:
    """The outcome of routing one prompt.

    Attributes:
        model: the chosen model id (the first entry of ``ranking``).
        cluster: index of the nearest centroid.
        similarity: cosine similarity of the prompt to that centroid.
        margin: similarity minus the second-nearest cluster's (small = ambiguous; 2.0 if K = 1).
        expected_error: the chosen model's error rate in the cluster.
        cost: the chosen model's cost, as given in the profile.
        score: ``expected_error + lambda * normalised_cost`` of the chosen model.
        ranking: every eligible model as ``(model_id, score)``, best first.
        cost_bias: the cost knob used (0 = best quality, 1 = cheapest).
        embed_ms: time spent embedding the prompt (0 for route_embedding; the batch mean for
            route_many).
        score_ms: time spent scoring in the C core (the batch mean for route_many).
        in_distribution: False when the prompt's best similarity is below the profile's
            ``ood_threshold``: then ``model`` is the fallback model (the profile's ``fallback``,
            else the eligible model with the lowest overall error rate), its ``expected_error``
            that model's overall rate, and ``ranking`` still shows the scores.
    """

    model: str
    cluster: int
    similarity: float
    margin: float
    expected_error: float
    cost: float
    score: float
    ranking: tuple[tuple[str, float], ...]
    cost_bias: float
    embed_ms: float
    score_ms: float
    in_distribution: bool = True


@dataclass(frozen=True)
class ModelTerm:
    """One model's part in a decision: its rate in the cluster and how its score was made."""

    model: str
    cluster_error_rate: float
    cluster_count: int
    cost: float
    expected_error: float | None
    cost_term: float | None
    score: float | None


@dataclass(frozen=True)
class Explanation:
    """Why a prompt was routed as it was (see ``Router.explain``).

    Attributes:
        decision: the Decision itself.
        cluster_size: training prompts in the chosen cluster.
        cluster_tasks: the tasks of those training prompts with their counts, most common first
            (empty when the profile was trained without tasks).
        nearest_clusters: the closest clusters as ``(cluster, similarity)``, best first.
        lam: the lambda used; ood_threshold: the profile's out-of-distribution threshold.
        terms: every model, eligible ones in ranking order first (ineligible ones with no score).
    """

    decision: Decision
    cluster_size: int
    cluster_tasks: tuple[tuple[str, int], ...]
    nearest_clusters: tuple[tuple[int, float], ...]
    lam: float
    temperature: float
    ood_threshold: float | None
    terms: tuple[ModelTerm, ...]

    def __str__(self) -> str:
        d = self.decision
        lines = [f"model {d.model}" + ("" if d.in_distribution else " (fallback: prompt is out of distribution)")]
        ood = "" if self.ood_threshold is None else f", out-of-distribution below {self.ood_threshold:.3f}"
        lines.append(f"cluster {d.cluster}: {self.cluster_size} training prompts, similarity {d.similarity:.3f}, "
                     f"margin {d.margin:.3f}{ood}")
        if self.cluster_tasks:
            lines.append("  its training tasks: " + ", ".join(f"{t} {n}" for t, n in self.cluster_tasks))
        lines.append("  nearest clusters: " + ", ".join(f"{c} ({s:.3f})" for c, s in self.nearest_clusters))
        mix = f"softmax mix over clusters at temperature {self.temperature:g}" if self.temperature else "cluster rate"
        lines.append(f"score = expected error ({mix}) + lambda {self.lam:g} x normalised cost")
        lines.append(f"  {'model':<34}{'rate':>7}{'count':>7}{'cost':>10}{'exp.err':>9}{'cost term':>10}{'score':>8}")
        for t in self.terms:
            if t.score is None:
                lines.append(
                    f"  {t.model:<34}{t.cluster_error_rate:>7.3f}{t.cluster_count:>7}{t.cost:>10g}   not eligible")
            else:
                lines.append(f"  {t.model:<34}{t.cluster_error_rate:>7.3f}{t.cluster_count:>7}{t.cost:>10g}"
                             f"{t.expected_error:>9.3f}{t.cost_term:>10.3f}{t.score:>8.3f}")
        return "\n".join(lines)


class DecisionBatch(Sequence[Decision]):
    """The decisions of one batch, held as arrays; indexing or iterating yields Decisions.

    Columnar attributes (read-only NumPy arrays of length n) serve bulk use without building n
    objects: ``models`` (ids), ``model_index``, ``cluster``, ``similarity``, ``margin``,
    ``expected_error``, ``cost``, ``score``.
    """

    __slots__ = ("_ids", "_rankings", "_scores", "model_index", "cluster", "similarity", "margin",
                 "expected_error", "cost", "score", "in_distribution", "cost_bias", "embed_ms", "score_ms")

    def __init__(self, ids: tuple[str, ...], costs: np.ndarray, results: np.ndarray, rankings: np.ndarray,
                 scores: np.ndarray, errors: np.ndarray, cost_bias: float, embed_ms: float, score_ms: float,
                 in_distribution: np.ndarray, fallback: int, fallback_error: float) -> None:
        width = int(results["n_ranked"][0]) if len(results) else 0
        self._ids = ids
        self._rankings = rankings[:, :width]
        self._scores = scores[:, :width]
        self.in_distribution = in_distribution
        ood = ~in_distribution
        self.model_index = np.where(ood, fallback, self._rankings[:, 0]) if width else np.zeros(0, dtype=np.int32)
        self.cluster = results["cluster"]
        self.similarity = results["similarity"]
        self.margin = results["margin"]
        self.expected_error = np.where(ood, fallback_error, errors[:, 0]) if width else np.zeros(0)
        self.cost = costs[self.model_index]
        rows = np.arange(len(results))
        pos = np.argmax(self._rankings == self.model_index[:, None], axis=1) if width else rows
        self.score = self._scores[rows, pos] if width else np.zeros(0, dtype=np.float32)
        for a in (self._rankings, self._scores, self.model_index, self.cluster, self.similarity, self.margin,
                  self.expected_error, self.cost, self.score, self.in_distribution):
            a.setflags(write=False)
        self.cost_bias = cost_bias
        self.embed_ms = embed_ms
        self.score_ms = score_ms

    @property
    def models(self) -> tuple[str, ...]:
        """The chosen model id of every row."""
        ids = self._ids
        return tuple(ids[j] for j in self.model_index.tolist())

    def __len__(self) -> int:
        return int(self.cluster.shape[0])

    def _one(self, i: int) -> Decision:
        ids = self._ids
        ranking = self._rankings[i].tolist()
        scores = self._scores[i].tolist()
        return Decision(ids[int(self.model_index[i])], int(self.cluster[i]), float(self.similarity[i]),
                        float(self.margin[i]), float(self.expected_error[i]), float(self.cost[i]), float(self.score[i]),
                        tuple(zip([ids[j] for j in ranking], scores)), self.cost_bias, self.embed_ms, self.score_ms,
                        bool(self.in_distribution[i]))

    def __getitem__(self, i: Any) -> Any:
        if isinstance(i, slice):
            return [self._one(j) for j in range(*i.indices(len(self)))]
        n = len(self)
        if not -n <= i < n:
            raise IndexError(f"decision index {i} out of range for a batch of {n}")
        return self._one(i % n)

    def __repr__(self) -> str:
        return f"DecisionBatch(n={len(self)}, cost_bias={self.cost_bias})"


def _check_cost_bias(cost_bias: Any) -> float:
    if isinstance(cost_bias, bool) or not isinstance(cost_bias, (int, float)) or not 0.0 <= cost_bias <= 1.0:
        raise ValueError(f"cost_bias must be a number in [0, 1] (0 = best quality, 1 = cheapest), got {cost_bias!r}")
    return float(cost_bias)


class Router:
    """Routes prompts with a profile and the embedder it was built with. Immutable, thread-safe.

    Prefer ``Router.load``. The constructor checks that ``embedder`` produces the profile's
    embedding space (its probe embeddings) and raises EmbedderMismatchError otherwise, unless
    ``allow_embedder_mismatch`` is set.
    """

    __slots__ = ("_profile", "_embedder", "_index", "_ids", "_costs", "_rates", "_masks", "_no_mask", "_default_lam",
                 "_temperature", "_ood", "_global_err")

    def __init__(self, profile: Profile, embedder: Embedder, *, allow_embedder_mismatch: bool = False) -> None:
        if not isinstance(profile, Profile):
            raise TypeError(f"profile must be a Profile, got {type(profile).__name__}; use Router.load(path)")
        _check_embedder(profile, embedder, allow_embedder_mismatch)
        self._profile = profile
        self._embedder = embedder
        self._rates = profile.error_matrix()
        self._costs = np.array([m.cost for m in profile.models], dtype=np.float64)
        self._ids = profile.model_ids
        self._index = _native.Index(profile.centroids, self._rates, self._costs)
        self._temperature = profile.routing.temperature
        self._ood = -np.inf if profile.routing.ood_threshold is None else profile.routing.ood_threshold
        self._global_err = np.array([m.overall_error_rate for m in profile.models])
        self._masks: dict[tuple[Any, ...], _MaskEntry] = {}
        # The unconstrained call is the hot path: its mask, fallback and lambda are computed once.
        self._no_mask: tuple[Any, int, dict[tuple[int, float], _Ranked]] = (
            _native.mask_buffer(None), self._fallback(None), {})
        self._default_lam = profile.routing.lam()

    @classmethod
    def load(
        cls,
        profile: str | os.PathLike[str] | Profile = "default",
        *,
        embedder: str | Embedder | None = None,
        allow_embedder_mismatch: bool = False,
    ) -> Router:
        """Load a router from a profile path, a bundled profile name, or a Profile.

        Args:
            profile: a path to a profile JSON file, a bundled name (``"default"``), or a Profile.
            embedder: an Embedder, a name (see ``cactus_router.embedders.NAMES``), or None
                for the embedder the profile records.
            allow_embedder_mismatch: route even if the embedder's probe embeddings differ from the
                profile's (the dimension must still match).

        Raises:
            ProfileError: the profile is missing or invalid.
            EmbedderError: the embedder cannot be created.
            EmbedderMismatchError: the embedder is not the one the profile was built with.
        """
        prof = profile if isinstance(profile, Profile) else Profile.load(profile)
        emb = embedder_for_profile(prof.embedder) if embedder is None else get_embedder(embedder)
        return cls(prof, emb, allow_embedder_mismatch=allow_embedder_mismatch)

    @property
    def profile(self) -> Profile:
        """The routing profile."""
        return self._profile

    @property
    def embedder(self) -> Embedder:
        """The embedder that turns prompts into vectors."""
        return self._embedder

    def route(
        self,
        prompt: str,
        *,
        cost_bias: float | None = None,
        require: Collection[str] = (),
        allow: Collection[str] | None = None,
        max_size_mb: float | None = None,
    ) -> Decision:
        """Pick a model for one prompt.

        Args:
            prompt: the text to route.
            cost_bias: in [0, 1]; 0 = best expected quality regardless of cost, 1 = strongest
                preference for cheap models; None = the profile's default.
            require: capabilities the model must have (``"text"``, ``"tools"``, ``"vision"``,
                ``"embed"``).
            allow: only these model ids (e.g. the models present on this device).
            max_size_mb: only models whose size_mb is known and at most this.

        Raises:
            PromptError: the prompt is not a non-empty str.
            NoEligibleModelError: no model meets require/allow/max_size_mb.
            ValueError: cost_bias is outside [0, 1].
        """
        t0 = perf_counter()
        vec = self._embedder.embed(prompt)
        return self._decide(vec, perf_counter() - t0, cost_bias, require, allow, max_size_mb)

    def route_embedding(
        self,
        embedding: Any,
        *,
        cost_bias: float | None = None,
        require: Collection[str] = (),
        allow: Collection[str] | None = None,
        max_size_mb: float | None = None,
    ) -> Decision:
        """Pick a model for a precomputed embedding of length ``profile.dim`` (normalised in C)."""
        vec = np.ascontiguousarray(embedding, dtype=np.float32)
        if vec.shape != (self._index.d,):
            raise ValueError(f"embedding must have shape ({self._index.d},), got {vec.shape}")
        return self._decide(vec, 0.0, cost_bias, require, allow, max_size_mb)

    def route_many(
        self,
        prompts: Sequence[str],
        *,
        cost_bias: float | None = None,
        require: Collection[str] = (),
        allow: Collection[str] | None = None,
        max_size_mb: float | None = None,
    ) -> DecisionBatch:
        """Route many prompts: one batched embedding pass, then one C call for the batch."""
        t0 = perf_counter()
        vecs = self._embedder.embed_many(prompts)
        embed_s = perf_counter() - t0
        return self._decide_many(vecs, embed_s, cost_bias, require, allow, max_size_mb)

    def route_embeddings(
        self,
        embeddings: Any,
        *,
        cost_bias: float | None = None,
        require: Collection[str] = (),
        allow: Collection[str] | None = None,
        max_size_mb: float | None = None,
    ) -> DecisionBatch:
        """Route an (n, dim) array of precomputed embeddings in one C call."""
        vecs = np.ascontiguousarray(embeddings, dtype=np.float32)
        if vecs.ndim != 2 or vecs.shape[1] != self._index.d:
            raise ValueError(f"embeddings must have shape (n, {self._index.d}), got {vecs.shape}")
        return self._decide_many(vecs, 0.0, cost_bias, require, allow, max_size_mb)

    def explain(
        self,
        prompt: str,
        *,
        cost_bias: float | None = None,
        require: Collection[str] = (),
        allow: Collection[str] | None = None,
        max_size_mb: float | None = None,
        top_clusters: int = 3,
    ) -> Explanation:
        """Route ``prompt`` and say why: its cluster, that cluster's training tasks, every model's
        rate, count, cost term and score. Takes the same arguments as ``route``."""
        t0 = perf_counter()
        vec = self._embedder.embed(prompt)
        decision = self._decide(vec, perf_counter() - t0, cost_bias, require, allow, max_size_mb)
        lam = self._profile.routing.lam(decision.cost_bias)
        # _decide's C call left this route's ranking, scores and errors in this thread's buffers.
        ranking, scores, errors = self._index.ranked(len(decision.ranking))
        sims = self._index.similarities(vec)
        c = decision.cluster
        models = self._profile.models
        ranked = [
            ModelTerm(models[j].id, float(models[j].error_rates[c]), int(models[j].counts[c]), models[j].cost,
                      e, s - e, s)
            for j, s, e in zip(ranking, scores, errors)
        ]
        ranked_ids = set(ranking)
        others = [ModelTerm(m.id, float(m.error_rates[c]), int(m.counts[c]), m.cost, None, None, None)
                  for j, m in enumerate(models) if j not in ranked_ids]
        tasks = self._profile.cluster_tasks[c] if self._profile.cluster_tasks else {}
        order = np.argsort(-sims, kind="stable")[:top_clusters]
        return Explanation(
            decision, int(self._profile.cluster_sizes[c]),
            tuple(sorted(tasks.items(), key=lambda kv: (-kv[1], kv[0]))),
            tuple((int(i), float(sims[i])) for i in order), lam, self._temperature,
            self._profile.routing.ood_threshold, tuple(ranked + others),
        )

    def eligible(
        self, require: Collection[str] = (), allow: Collection[str] | None = None, max_size_mb: float | None = None
    ) -> tuple[str, ...]:
        """The model ids that meet the constraints, in profile order."""
        mask = self._mask(require, allow, max_size_mb)[0]
        return self._ids if mask is None else tuple(i for i, ok in zip(self._ids, mask) if ok)

    def _mask(self, require: Collection[str], allow: Collection[str] | None,
              max_size_mb: float | None) -> _MaskEntry:
        if isinstance(require, str) or isinstance(allow, str):
            raise TypeError("require and allow take collections of strings, e.g. require=['vision']")
        required = tuple(sorted(require))
        allowed = None if allow is None else tuple(sorted(allow))
        key = (required, allowed, max_size_mb)
        hit: _MaskEntry | None = self._masks.get(key)
        if hit is not None:
            return hit
        unknown = set(required) - CAPABILITIES
        if unknown:
            raise ValueError(f"unknown capability {sorted(unknown)[0]!r}; known: {', '.join(sorted(CAPABILITIES))}")
        if allowed is not None:
            missing = set(allowed) - set(self._ids)
            if missing:
                raise NoEligibleModelError(f"allow names model(s) not in the profile: {', '.join(sorted(missing))}")
        if max_size_mb is not None and (
                isinstance(max_size_mb, bool) or not isinstance(max_size_mb, (int, float)) or not max_size_mb >= 0):
            raise ValueError(f"max_size_mb must be a number >= 0, got {max_size_mb!r}")
        ok = np.ones(len(self._ids), dtype=np.uint8)
        for j, m in enumerate(self._profile.models):
            if not set(required) <= m.capabilities:
                ok[j] = 0
            if allowed is not None and m.id not in allowed:
                ok[j] = 0
            if max_size_mb is not None and (m.size_mb is None or m.size_mb > max_size_mb):
                ok[j] = 0
        if not ok.any():
            raise NoEligibleModelError(_no_eligible_message(required, allowed, max_size_mb))
        mask = None if ok.all() else ok
        entry: _MaskEntry = (mask, _native.mask_buffer(mask), self._fallback(mask), {})
        if len(self._masks) >= _MASK_CACHE_SIZE:
            self._masks.clear()
        self._masks[key] = entry
        return entry

    def _fallback(self, mask: np.ndarray | None) -> int:
        """The model index for out-of-distribution prompts under an eligibility mask."""
        ok = np.ones(len(self._ids), dtype=bool) if mask is None else mask.astype(bool)
        named = self._profile.routing.fallback
        if named is not None and ok[self._ids.index(named)]:
            return self._ids.index(named)
        eligible = np.flatnonzero(ok)
        return int(eligible[np.lexsort((eligible, self._costs[eligible], self._global_err[eligible]))[0]])

    def _knobs(self, cost_bias: float | None, require: Collection[str], allow: Collection[str] | None,
               max_size_mb: float | None) -> tuple[float, float, Any, int, dict[tuple[int, float], _Ranked]]:
        """The cost_bias, lambda, C mask buffer, fallback model and ranking cache of a call."""
        if cost_bias is None:
            bias, lam = self._profile.routing.cost_bias, self._default_lam
        else:
            bias = _check_cost_bias(cost_bias)
            lam = self._profile.routing.lam(bias)
        if not require and allow is None and max_size_mb is None:
            return bias, lam, *self._no_mask
        _, buf, fallback, rankings = self._mask(require, allow, max_size_mb)
        return bias, lam, buf, fallback, rankings

    def _decide(self, vec: np.ndarray, embed_s: float, cost_bias: float | None, require: Collection[str],
                allow: Collection[str] | None, max_size_mb: float | None) -> Decision:
        bias, lam, buf, fallback, cache = self._knobs(cost_bias, require, allow, max_size_mb)
        t0 = perf_counter()
        cluster, sim, margin, n = self._index.route(vec, buf, lam, self._temperature)
        # With hard assignment a ranking depends only on the cluster, lambda and the mask (the
        # cache's owner), so each is built into Python objects once; soft assignment mixes rates.
        if self._temperature != 0.0:
            ranked = self._ranked(n)
        else:
            hit = cache.get((cluster, lam))
            if hit is None:
                hit = self._ranked(n)
                if len(cache) >= _RANKING_CACHE_SIZE:
                    cache.clear()
                cache[(cluster, lam)] = hit
            ranked = hit
        score_s = perf_counter() - t0
        pairs, ranking, scores, errors = ranked
        if sim >= self._ood:
            best, err, score, in_dist = ranking[0], errors[0], scores[0], True
        else:
            best, err, in_dist = fallback, float(self._global_err[fallback]), False
            score = scores[ranking.index(fallback)]
        return Decision(self._ids[best], cluster, sim, margin, err, float(self._costs[best]), score, pairs, bias,
                        embed_s * 1e3, score_s * 1e3, in_dist)

    def _ranked(self, n: int) -> _Ranked:
        """The ranking of this thread's last route, as Decision.ranking and its parts."""
        ranking, scores, errors = self._index.ranked(n)
        ids = self._ids
        return tuple(zip(map(ids.__getitem__, ranking), scores)), ranking, scores, errors

    def _decide_many(self, vecs: np.ndarray, embed_s: float, cost_bias: float | None, require: Collection[str],
                     allow: Collection[str] | None, max_size_mb: float | None) -> DecisionBatch:
        bias, lam, buf, fallback, _ = self._knobs(cost_bias, require, allow, max_size_mb)
        n = max(vecs.shape[0], 1)
        t0 = perf_counter()
        results, rankings, scores, errors = self._index.route_batch(vecs, buf, lam, self._temperature)
        score_ms = (perf_counter() - t0) * 1e3 / n
        return DecisionBatch(self._ids, self._costs, results, rankings, scores, errors, bias, embed_s * 1e3 / n,
                             score_ms, results["similarity"] >= self._ood, fallback, self._global_err[fallback])

    def __repr__(self) -> str:
        p = self._profile
        return f"Router(embedder={self._embedder.name!r}, k={p.k}, dim={p.dim}, models={len(p.models)})"


def _no_eligible_message(require: tuple[str, ...], allow: tuple[str, ...] | None, max_size_mb: float | None) -> str:
    parts = []
    if require:
        parts.append(f"require={list(require)}")
    if allow is not None:
        parts.append(f"allow={list(allow)}")
    if max_size_mb is not None:
        parts.append(f"max_size_mb={max_size_mb}")
    return f"no model in the profile meets {', '.join(parts)}; relax a constraint or add a model"


def _check_embedder(profile: Profile, embedder: Embedder, allow_mismatch: bool) -> None:
    info = profile.embedder
    if embedder.dim != info.dim:
        raise EmbedderMismatchError(
            f"the profile was built with {info.name!r} ({info.dim} dimensions) but the embedder "
            f"{embedder.name!r} has {embedder.dim}; use the profile's embedder or retrain"
        )
    if info.fingerprint is None or info.probe_vectors is None:
        return  # legacy profile: Profile.from_dict has already warned
    probes = l2_normalise(embedder.embed_many(list(info.probe_texts)))
    stored = l2_normalise(info.probe_vectors)
    cosine = float(np.min(np.sum(probes * stored, axis=1)))
    if (embedder.name == info.name and cosine >= PROBE_MIN_COSINE) or allow_mismatch:
        if allow_mismatch and cosine < PROBE_MIN_COSINE:
            warnings.warn(f"routing with embedder {embedder.name!r} on a profile built with {info.name!r} "
                          f"(probe cosine {cosine:.3f}): decisions may be meaningless", RuntimeWarning, stacklevel=3)
        return
    raise EmbedderMismatchError(
        f"the profile was built with embedder {info.name!r} ({info.fingerprint}) but the active embedder is "
        f"{embedder.name!r} ({embedder.fingerprint}), probe cosine {cosine:.3f} < {PROBE_MIN_COSINE}; pass the "
        "profile's embedder, retrain the profile with this one, or set allow_embedder_mismatch=True"
    )


__all__ = ["Decision", "DecisionBatch", "Explanation", "ModelTerm", "Router", "RouterError"]
