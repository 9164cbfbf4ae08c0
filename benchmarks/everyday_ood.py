"""How often the bundled default profile flags everyday chat prompts as out of distribution.

    python benchmarks/everyday_ood.py [--profile default]

The prompts are tests/data/everyday_prompts.txt (written by the project for this measurement).
For each cost_bias the script prints the share flagged, why (the check that flagged them), and
the models chosen for the flagged prompts: since the out-of-distribution policy ranks on overall
error rates with the request's lambda, a cheaper knob must choose cheaper (or equal) models
there too. Then the same for the Chinese, Arabic and Russian prompts of
tests/data/foreign_prompts.txt at the profile's default cost_bias.
"""

from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path

from cactus_router import Router

DATA = Path(__file__).resolve().parent.parent / "tests" / "data"
PROMPTS = DATA / "everyday_prompts.txt"
FOREIGN = DATA / "foreign_prompts.txt"


def checks_of(router: Router) -> str:
    """The profile's out-of-distribution checks, in words."""
    prof = router.profile
    said = [] if prof.routing.ood_threshold is None else [f"similarity threshold {prof.routing.ood_threshold:.4f}"]
    if prof.ood is not None and prof.ood.topic is not None:
        said.append(f"topic check (familiarity threshold {prof.ood.topic.threshold:.4f})")
    if prof.ood is not None and prof.ood.script is not None:
        said.append(f"script check (more than {prof.ood.script.threshold:.0%} unreadable letters)")
    return ", ".join(said) or "no check"


def report(router: Router, prompts: list[str], bias: float | None) -> str:
    batch = router.route_many(prompts, cost_bias=bias)
    flagged = ~batch.in_distribution
    chosen = Counter(m for m, f in zip(batch.models, flagged) if f)
    kinds = [a.reason.split(" (")[0] for row in batch.applied for a in row if a.policy == "out-of-distribution"]
    why = Counter("similarity" if k.startswith("similarity") else k for k in kinds)
    mean_cost = float(batch.cost[flagged].mean()) if flagged.any() else float("nan")
    return (f"{int(flagged.sum())}/{len(prompts)} flagged ({flagged.mean():.0%}; {dict(why.most_common())}); "
            f"flagged prompts go to {dict(chosen.most_common())}, mean cost {mean_cost:.3g}")


def main() -> None:
    prompts = [ln for ln in PROMPTS.read_text(encoding="utf-8").splitlines() if ln.strip() and not ln.startswith("#")]
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="default", help="a profile path or bundled name (default: default)")
    router = Router.load(parser.parse_args().profile)
    print(f"{len(prompts)} everyday prompts ({PROMPTS.name}); profile: {checks_of(router)}")
    for bias in (0.0, 0.5, 1.0):
        print(f"cost_bias {bias:.1f}: {report(router, prompts, bias)}")
    foreign = [ln.split("\t", 1)[1] for ln in FOREIGN.read_text(encoding="utf-8").splitlines()
               if ln.strip() and not ln.startswith("#")]
    print(f"{len(foreign)} foreign prompts ({FOREIGN.name}), the profile's cost_bias: {report(router, foreign, None)}")


if __name__ == "__main__":
    main()
