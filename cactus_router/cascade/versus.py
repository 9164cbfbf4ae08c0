"""The cluster router beside a cascade: its picks among the chain models, on the cascade's own test rows.

A verification row is also a routing row: the chain models' scores, and each model's cost of
answering (verification is the cascade's, not the router's). ``train_router`` fits the project's
cluster router (``cactus_router.training.train``, every setting chosen by cross-validation on the
rows it is given) on the cascade's training rows, so it never sees the test rows, and costs each
model its mean answer cost on those rows. ``router_choices`` traces a router's curve the way
``evaluate`` does (``cactus_router.evaluation.curves.sweep_router`` over ``LAMBDA_GRID``), with
each test prompt embedded once.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..data import RoutingRow
from ..embedders import DEFAULT_EMBEDDER, Embedder
from ..errors import ArgumentError
from ..metrics import LAMBDA_GRID
from ..profile import Profile
from .table import VerificationRow, check_chain


def routing_rows(rows: Sequence[VerificationRow], chain: Sequence[str], where: str = "rows") -> list[RoutingRow]:
    """Each row as a routing row over the chain models: their scores, and their answer costs as ``costs``."""
    check_chain(rows, chain, where)
    return [RoutingRow(r.prompt, {m: r.scores[m] for m in chain}, r.task, r.id, {m: r.costs[m] for m in chain})
            for r in rows]


def train_router(train_rows: Sequence[VerificationRow], chain: Sequence[str], *,
                 embedder: str | Embedder = DEFAULT_EMBEDDER, seed: int = 0) -> Profile:
    """A cluster-router profile over the chain models fitted on ``train_rows`` alone (settings "auto")."""
    from ..training import TABLE_MODELS, train

    return train(routing_rows(train_rows, chain, "train rows"), TABLE_MODELS, embedder=embedder, seed=seed,
                 provenance={"source": "cascade eval: the cascade's training rows",
                             "cost": "each model's mean answer cost on those rows"})


def router_choices(profile: Profile, embedder: Embedder, prompts: Sequence[str], chain: Sequence[str]
                   ) -> list[np.ndarray]:
    """The router's pick (an index into ``chain``) for each prompt, at every lambda of ``LAMBDA_GRID``.

    Raises:
        ArgumentError: a chain model is not one of the profile's.
    """
    from ..evaluation.curves import sweep_router
    from ..training import embed_rows

    missing = [m for m in chain if m not in profile.model_ids]
    if missing:
        raise ArgumentError(f"the router's profile has no model {', '.join(map(repr, missing))} of the chain "
                            f"(its models: {', '.join(profile.model_ids)})")
    swept, top = sweep_router(profile, embedder)
    emb = embed_rows(embedder, list(prompts))
    to_chain = np.array([chain.index(m) if m in chain else -1 for m in profile.model_ids])
    out = []
    for lam in LAMBDA_GRID:
        picked = to_chain[np.asarray(swept.route_embeddings(emb, cost_bias=float(lam) / top, allow=list(chain))
                                     .model_index, dtype=np.int64)]
        if (picked < 0).any():  # the pipeline checks allow; this keeps a broken check from passing as a pick
            raise ArgumentError("the router picked a model outside the chain")
        out.append(picked)
    return out


__all__ = ["router_choices", "routing_rows", "train_router"]
