"""The routers' names: the keys of every operating point, curve, decision and table of an evaluation."""

from __future__ import annotations

ROUTER = "cactus-router"
CHEAPEST, PRICIEST, BEST_SINGLE, ORACLE, RANDOM = (
    "always-cheapest", "always-most-expensive", "best-single", "oracle", "random")
SINGLES = "single-models"
#: The baselines whose choices do not depend on the cost_bias.
FIXED = (CHEAPEST, PRICIEST, BEST_SINGLE, ORACLE)
