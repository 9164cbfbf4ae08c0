"""The Router: embed a prompt, then run the pipeline (the cluster rule and the policies)."""

from __future__ import annotations

import os
import warnings
from collections.abc import Collection, Sequence
from time import perf_counter
from typing import TYPE_CHECKING, Any, TypedDict

import numpy as np

from ..embedders import Embedder, check_prompt, embedder_for_profile, get_embedder
from ..embedders._base import PROBE_MIN_COSINE, l2_normalise
from ..errors import ArgumentError, CoreError, EmbedderMismatchError, PromptError
from ..profile import Profile
from .batch import DecisionBatch
from .decision import Decision
from .explain import Explanation, explain
from .pipeline import Pipeline
from .policies import Budget, Policy
from .request import RouteRequest
from .vectors import embedder_output, given_embeddings, value_error

if TYPE_CHECKING:
    from typing_extensions import Unpack


_UNCONSTRAINED = RouteRequest()


class Knobs(TypedDict, total=False):
    """The keywords every ``Router.route*`` method takes (see ``RouteRequest``)."""

    cost_bias: float | None
    require: Collection[str] | None
    allow: Collection[str] | None
    max_size_mb: float | None


def _request(request: RouteRequest | None, knobs: dict[str, Any]) -> RouteRequest:
    if request is None and not knobs:
        return _UNCONSTRAINED
    unknown = set(knobs) - set(Knobs.__annotations__)
    if unknown:
        raise ArgumentError(f"unknown routing keyword {sorted(unknown)[0]!r}; "
                            f"known: {', '.join(Knobs.__annotations__)}")
    return RouteRequest.of(request, **knobs)


class Router:
    """Routes prompts with a profile and the embedder it was built with.

    Immutable (its only changing state is its caches, which are locked and bounded), so one router
    may be shared between threads. Prefer ``Router.load``. The constructor checks that ``embedder``
    produces the profile's embedding space (its probe embeddings) and raises
    EmbedderMismatchError otherwise, unless ``allow_embedder_mismatch`` is set.

    Every ``route*`` method takes a RouteRequest or the same keywords: ``cost_bias`` (0 = best
    expected quality, 1 = strongest preference for cheap models; None = the profile's),
    ``require`` (capabilities), ``allow`` (model ids) and ``max_size_mb``.
    """

    __slots__ = ("_embedder", "_pipeline", "_dim")

    def __init__(self, profile: Profile, embedder: Embedder, *, allow_embedder_mismatch: bool = False,
                 policies: Sequence[Policy | str] | None = None) -> None:
        if not isinstance(profile, Profile):
            raise ArgumentError(f"profile must be a Profile, got {type(profile).__name__}; use Router.load(path)")
        if not isinstance(embedder, Embedder):
            raise ArgumentError(f"embedder must be an Embedder, got {type(embedder).__name__}")
        _check_embedder(profile, embedder, allow_embedder_mismatch)
        self._embedder = embedder
        self._pipeline = Pipeline(profile, policies)
        self._dim = profile.dim

    @classmethod
    def load(
        cls,
        profile: str | os.PathLike[str] | Profile = "default",
        *,
        embedder: str | Embedder | None = None,
        allow_embedder_mismatch: bool = False,
        policies: Sequence[Policy | str] | None = None,
    ) -> Router:
        """Load a router from a profile path, a bundled profile name, or a Profile.

        Args:
            profile: a path to a profile JSON file, a bundled name (``"default"``), or a Profile.
            embedder: an Embedder, a name (see ``cactus_router.embedders.NAMES``), or None
                for the embedder the profile records.
            allow_embedder_mismatch: route even if the embedder's probe embeddings differ from the
                profile's (the dimension must still match).
            policies: the policies to apply after scoring, in order; None = the profile's.

        Raises:
            ProfileError: the profile is missing or invalid.
            EmbedderError: the embedder cannot be created.
            EmbedderMismatchError: the embedder is not the one the profile was built with.
        """
        prof = profile if isinstance(profile, Profile) else Profile.load(profile)
        emb = embedder_for_profile(prof.embedder) if embedder is None else get_embedder(embedder)
        return cls(prof, emb, allow_embedder_mismatch=allow_embedder_mismatch, policies=policies)

    @property
    def profile(self) -> Profile:
        """The routing profile."""
        return self._pipeline.profile

    @property
    def embedder(self) -> Embedder:
        """The embedder that turns prompts into vectors."""
        return self._embedder

    @property
    def pipeline(self) -> Pipeline:
        """The scoring and policies this router runs after embedding."""
        return self._pipeline

    def _embed(self, prompt: str) -> tuple[np.ndarray, float]:
        t0 = perf_counter()
        out = self._embedder.embed(check_prompt(prompt))
        return embedder_output(self._embedder, out, (self.profile.dim,)), (perf_counter() - t0) * 1e3

    def route(self, prompt: str, request: RouteRequest | None = None, /, **knobs: Unpack[Knobs]) -> Decision:
        """Pick a model for one prompt.

        Raises:
            PromptError: the prompt is not a non-empty str.
            EmbedderError: the embedder failed or returned something other than one vector.
            NoEligibleModelError: no model meets require/allow/max_size_mb.
            ArgumentError: a knob is invalid (e.g. cost_bias outside [0, 1]).
        """
        req = _UNCONSTRAINED if request is None and not knobs else _request(request, dict(knobs))
        vec, embed_ms = self._embed(prompt)
        try:
            return self._pipeline.decide(vec, req, embed_ms, prompt)
        except CoreError as exc:
            raise value_error(exc, embedder=self._embedder) from None

    def route_embedding(self, embedding: Any, request: RouteRequest | None = None, /,
                        **knobs: Unpack[Knobs]) -> Decision:
        """Pick a model for a precomputed embedding of length ``profile.dim`` (normalised in C)."""
        req = _UNCONSTRAINED if request is None and not knobs else _request(request, dict(knobs))
        vec = given_embeddings(embedding, self._dim, many=False, what="embedding")
        try:
            return self._pipeline.decide(vec, req)
        except CoreError as exc:
            raise value_error(exc, what="embedding") from None

    def route_many(self, prompts: Sequence[str], request: RouteRequest | None = None, /,
                   **knobs: Unpack[Knobs]) -> DecisionBatch:
        """Route many prompts: one batched embedding pass, then one C call for the batch."""
        req = _request(request, dict(knobs))
        if isinstance(prompts, (str, bytes)) or not isinstance(prompts, Sequence):
            raise PromptError(f"route_many takes a sequence of prompt strings, not {type(prompts).__name__}")
        t0 = perf_counter()
        out = self._embedder.embed_many([check_prompt(p) for p in prompts])
        vecs = embedder_output(self._embedder, out, (len(prompts), self.profile.dim))
        try:
            return self._pipeline.decide_many(vecs, req, (perf_counter() - t0) * 1e3, prompts=prompts)
        except CoreError as exc:
            raise value_error(exc, embedder=self._embedder) from None

    def route_embeddings(self, embeddings: Any, request: RouteRequest | None = None, /,
                         **knobs: Unpack[Knobs]) -> DecisionBatch:
        """Route an (n, dim) array of precomputed embeddings in one C call."""
        req = _request(request, dict(knobs))
        vecs = given_embeddings(embeddings, self.profile.dim, many=True, what="embeddings")
        try:
            return self._pipeline.decide_many(vecs, req)
        except CoreError as exc:
            raise value_error(exc, what="embeddings") from None

    def explain(self, prompt: str, request: RouteRequest | None = None, /, *, top_clusters: int = 3,
                **knobs: Unpack[Knobs]) -> Explanation:
        """Route ``prompt`` and say why: its cluster, that cluster's training tasks, every model's
        rate, count, cost term and score, and the policies that changed the choice."""
        req = _request(request, dict(knobs))
        vec, embed_ms = self._embed(prompt)
        try:
            return explain(self._pipeline, vec, req, embed_ms, top_clusters, prompt)
        except CoreError as exc:
            raise value_error(exc, embedder=self._embedder) from None

    def record_spend(self, model: str, amount: float) -> None:
        """Record a spend in the ledger of this router's budget rule (``amount`` in the profile's
        cost unit; ``Decision.cost`` is what a route reports for one call).

        Raises:
            ArgumentError: the router has no budget rule, the model is not the profile's, or the
                amount is not a finite number >= 0.
            LedgerError: the ledger cannot be written, or is corrupt.
        """
        if model not in self.profile.model_ids:
            raise ArgumentError(f"record_spend: {model!r} is not a model of the profile")
        budgets = [p for p in self._pipeline.policies if isinstance(p, Budget)]
        if not budgets:
            raise ArgumentError("record_spend: this router has no budget rule (see the profile's 'policies')")
        budgets[0].record_spend(model, amount, self.profile)

    def eligible(self, request: RouteRequest | None = None, /, **knobs: Unpack[Knobs]) -> tuple[str, ...]:
        """The model ids that meet the constraints, in profile order."""
        elig = self._pipeline.scorer.eligibility(_request(request, dict(knobs)))
        ids = self.profile.model_ids
        return tuple(ids[j] for j in elig.indices)

    def __repr__(self) -> str:
        p = self.profile
        return f"Router(embedder={self._embedder.name!r}, k={p.k}, dim={p.dim}, models={len(p.models)})"


def _check_embedder(profile: Profile, embedder: Embedder, allow_mismatch: bool) -> None:
    info = profile.embedder
    if embedder.dim != info.dim:
        raise EmbedderMismatchError(
            f"the profile was built with {info.name!r} ({info.dim} dimensions) but the embedder "
            f"{embedder.name!r} has {embedder.dim}; use the profile's embedder or retrain"
        )
    if info.fingerprint is None or info.probe_vectors is None:
        return  # legacy profile: Profile.from_dict has already warned
    out = embedder.embed_many(list(info.probe_texts))
    probes = l2_normalise(embedder_output(embedder, out, (len(info.probe_texts), info.dim)))
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
