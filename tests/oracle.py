"""An independent NumPy implementation of the routing rule, for differential tests."""

from __future__ import annotations

import numpy as np


def route_oracle(centroids, rates_km, costs, embedding, eligible=None, lam=1.0, temperature=0.0):
    """Return (cluster similarities, ranking, scores, errors) per the documented rule, in float64."""
    c = np.asarray(centroids, dtype=np.float64)
    c = c / np.linalg.norm(c, axis=1, keepdims=True)
    e = np.asarray(embedding, dtype=np.float64)
    sims = c @ (e / np.linalg.norm(e))
    m = len(costs)
    ok = np.ones(m, dtype=bool) if eligible is None else np.asarray(eligible, dtype=bool)
    idx = np.flatnonzero(ok)
    cst = np.asarray(costs, dtype=np.float64)[idx]
    span = cst.max() - cst.min()
    ncost = (cst - cst.min()) / span if span > 0 else np.zeros_like(cst)
    rates = np.asarray(rates_km, dtype=np.float32).astype(np.float64)
    if temperature > 0 and len(sims) > 1:
        w = np.exp((sims - sims.max()) / temperature)
        errors = (w / w.sum()) @ rates[:, idx]
    else:
        errors = rates[int(np.argmax(sims)), idx]
    scores = (errors + lam * ncost).astype(np.float32)
    order = np.lexsort((idx, cst, scores))  # last key first: score, then cost, then index
    return sims, idx[order], scores[order], errors[order]
