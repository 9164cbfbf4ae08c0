"""The service's shared state: one Router, the worker pool, the metrics, and the calls that route."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from ..generation import BackendConfig, load_backends
from ..info import profile_summary
from ..profile import Profile
from ..routing import Decision, DecisionBatch, Explanation, Router, RouteRequest
from .config import ServeConfig
from .errors import ServiceError
from .guard import WorkerPool, check_length
from .metrics import Metrics

log = logging.getLogger("cactus_router.serve")

#: The text routed once at start-up, so the first caller does not pay for a cold embedder.
WARM_UP_PROMPT = "What is the capital of France?"


class NotReadyError(ServiceError, RuntimeError):
    """The router is still loading (or failed to load; /ready says why)."""

    status = 503


def tier_of(decision: Decision) -> str:
    """The decision's tier, or "none" when a router runs without the tier policy."""
    tier = getattr(decision, "tier", None)
    return str(tier) if tier else "none"


class Service:
    """What every request shares. ``load`` (blocking) makes the Router and warms it; until it has
    finished the routing endpoints answer 503 and ``/ready`` says why."""

    def __init__(self, config: ServeConfig) -> None:
        self.config = config
        self.pool = WorkerPool(config.workers, config.queue)
        # Generation on this machine (libcactus) gets threads of its own, so it never holds up routing.
        self.generation = WorkerPool(config.workers, config.queue)
        self.metrics = Metrics()
        self.router: Router | None = None
        self.backends: BackendConfig | None = None
        self.summary: dict[str, Any] = {}
        self.not_ready = "loading the profile and warming the embedder"

    def load(self) -> None:
        """Load the profile, the embedder and the backend config, and route once to warm up."""
        try:
            profile = Profile.load(self.config.profile)
            backends = None if self.config.backends is None else load_backends(self.config.backends)
            router = Router.load(profile, embedder=self.config.embedder)
            router.route(WARM_UP_PROMPT)
            summary = profile_summary(profile)
        except Exception as exc:
            self.not_ready = f"start-up failed: {type(exc).__name__}: {' '.join(str(exc).split())}"
            log.error("cactus-router serve: %s", self.not_ready)
            raise
        self.router, self.backends, self.summary = router, backends, summary
        self.not_ready = ""

    def ready_router(self) -> Router:
        """The router, or NotReadyError while it loads."""
        if self.router is None:
            raise NotReadyError(f"not ready: {self.not_ready}")
        return self.router

    def _record(self, decisions: Sequence[Decision], embed_ms: float, score_ms: float) -> None:
        self.metrics.embed.observe(embed_ms / 1e3)
        self.metrics.score.observe(score_ms / 1e3)
        for d in decisions:
            self.metrics.decided(d.model, tier_of(d))

    def _check(self, prompt: Any) -> None:
        if isinstance(prompt, str):
            check_length(prompt, self.config.max_prompt_chars, "the prompt")

    async def route(self, prompt: Any, request: RouteRequest) -> Decision:
        """Route one prompt on a worker thread."""
        router = self.ready_router()
        self._check(prompt)
        d = await self.pool.run(router.route, prompt, request, timeout=self.config.timeout)
        self._record([d], d.embed_ms, d.score_ms)
        return d

    async def route_many(self, prompts: Sequence[Any], request: RouteRequest) -> DecisionBatch:
        """Route a batch (one embedding pass) on a worker thread."""
        router = self.ready_router()
        for p in prompts:
            self._check(p)
        batch = await self.pool.run(router.route_many, prompts, request, timeout=self.config.timeout)
        self._record(batch, batch.embed_ms * len(batch), batch.score_ms * len(batch))
        return batch

    async def explain(self, prompt: Any, request: RouteRequest, top_clusters: int) -> Explanation:
        """Route one prompt and explain it, on a worker thread."""
        router = self.ready_router()
        self._check(prompt)
        e = await self.pool.run(lambda: router.explain(prompt, request, top_clusters=top_clusters),
                                timeout=self.config.timeout)
        self._record([e.decision], e.decision.embed_ms, e.decision.score_ms)
        return e
