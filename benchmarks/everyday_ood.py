"""How often the bundled default profile flags everyday chat prompts as out of distribution.

    python benchmarks/everyday_ood.py

The prompts are tests/data/everyday_prompts.txt (written by the project for this measurement).
For each cost_bias the script prints the share flagged, and the models chosen for the flagged
prompts: since the out-of-distribution policy ranks on overall error rates with the request's
lambda, a cheaper knob must choose cheaper (or equal) models there too.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from cactus_router import Router

PROMPTS = Path(__file__).resolve().parent.parent / "tests" / "data" / "everyday_prompts.txt"


def main() -> None:
    prompts = [ln for ln in PROMPTS.read_text(encoding="utf-8").splitlines() if ln.strip() and not ln.startswith("#")]
    router = Router.load("default")
    threshold = router.profile.routing.ood_threshold
    print(f"{len(prompts)} everyday prompts ({PROMPTS.name}); default profile, ood_threshold {threshold:.4f}")
    for bias in (0.0, 0.5, 1.0):
        batch = router.route_many(prompts, cost_bias=bias)
        flagged = ~batch.in_distribution
        chosen = Counter(m for m, f in zip(batch.models, flagged) if f)
        mean_cost = float(batch.cost[flagged].mean()) if flagged.any() else float("nan")
        print(f"cost_bias {bias:.1f}: {int(flagged.sum())}/{len(prompts)} flagged ({flagged.mean():.0%}); "
              f"flagged prompts go to {dict(chosen.most_common())}, mean cost {mean_cost:.3g}")


if __name__ == "__main__":
    main()
