"""Prompts in other languages: is a prompt routed like its English translation?

    python benchmarks/multilingual.py [--embedders minilm-l3:fp32,e5-multilingual]

For each embedder, a profile is trained exactly as tools/build_default_profile.py trains the
default (LLMRouter's train split minus its test prompts, the 9 scored models at the mean of their
input and output price, K, smoothing and temperature "auto", out-of-distribution checks "auto",
seed 0). Then the 90 Chinese, Arabic and Russian prompts of tests/data/foreign_prompts.txt and
their English translations (tests/data/foreign_prompts_en.txt, line for line) are routed at the
profile's default cost_bias, and the script reports, per language:

- how often the translation lands in the English prompt's cluster, and gets its model (before the
  out-of-distribution policy, which would otherwise decide for flagged prompts: the model the
  cluster rule picks), and after every policy (what ``route`` returns);
- the share the out-of-distribution policy flags, and why;
- how many distinct clusters the 30 prompts of the language use, against their English versions.

Beside them, each profile's area on LLMRouter's 500 English test prompts (lambda swept through the
routing pipeline, as benchmarks/compare_embedders.py measures it). Markdown on stdout.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import sources  # noqa: E402
from compare_embedders import test_curve  # noqa: E402

from cactus_router import Router  # noqa: E402
from cactus_router.data import score_matrix  # noqa: E402
from cactus_router.embedders import CallableEmbedder, get_embedder  # noqa: E402
from cactus_router.routing import Pipeline, RouteRequest  # noqa: E402
from cactus_router.training import train  # noqa: E402

TESTS = Path(__file__).resolve().parent.parent / "tests" / "data"
LANGS = ("zh", "ar", "ru")


def tagged(name: str) -> list[tuple[str, str]]:
    """(script tag, prompt) per line of a tests/data prompt file."""
    lines = (TESTS / name).read_text(encoding="utf-8").splitlines()
    return [(t, p) for t, p in (ln.split("\t", 1) for ln in lines if ln.strip() and not ln.startswith("#"))]


def profile_for(spec: str) -> tuple[Router, float]:
    """A default-recipe profile for embedder ``spec``, and its area on LLMRouter's test split."""
    src = sources.load("llmrouter")
    train_rows, test_rows = sources.split(src, 0)
    emb = get_embedder(spec)
    prompts = sorted({r.prompt for r in train_rows} | {r.prompt for r in test_rows})
    table = dict(zip(prompts, sources.embed(emb, prompts)))
    pre = CallableEmbedder(lambda ts: np.stack([table[t] if t in table else emb.embed(t) for t in ts]),
                           name=emb.name, dim=emb.dim)
    models = [{"id": m, "cost": c} for m, c in sources.model_costs(src, train_rows).items()]
    profile = train(train_rows, models, embedder=pre, k="auto", seed=0)
    ids = [m["id"] for m in models]
    test_emb = np.stack([table[r.prompt] for r in test_rows])
    curve = test_curve(profile, test_emb, score_matrix(test_rows, ids), np.array([m["cost"] for m in models]))
    return Router.load(profile, embedder=emb), float(curve["area"])


def compare(router: Router, foreign: list[tuple[str, str]], english: list[str]) -> list[str]:
    """Markdown rows: per language, agreement of each prompt with its English translation."""
    texts = [p for _, p in foreign]
    after_f, after_e = router.route_many(texts), router.route_many(english)
    vecs_f, vecs_e = router.embedder.embed_many(texts), router.embedder.embed_many(english)
    rule = Pipeline(router.profile, policies=())  # the cluster rule alone
    rule_f, rule_e = rule.decide_many(vecs_f, RouteRequest()), rule.decide_many(vecs_e, RouteRequest())
    rows = []
    for lang in LANGS:
        idx = [i for i, (t, _) in enumerate(foreign) if t == lang]
        same_cluster = np.mean([after_f.cluster[i] == after_e.cluster[i] for i in idx])
        same_rule = np.mean([rule_f.model_index[i] == rule_e.model_index[i] for i in idx])
        same_route = np.mean([after_f.model_index[i] == after_e.model_index[i] for i in idx])
        flagged = [i for i in idx if not after_f.in_distribution[i]]
        why = Counter(a.reason.split(" (")[0] for i in flagged for a in after_f.applied[i][:1])
        rows.append(f"| {lang} | {same_cluster:.0%} | {same_rule:.0%} | {same_route:.0%} | "
                    f"{len(flagged) / len(idx):.0%} ({', '.join(f'{k}: {v}' for k, v in why.items()) or '-'}) | "
                    f"{len({int(after_f.cluster[i]) for i in idx})} / {len({int(after_e.cluster[i]) for i in idx})} | "
                    f"{np.mean([not after_e.in_distribution[i] for i in idx]):.0%} |")
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--embedders", default="minilm-l3:fp32,e5-multilingual")
    args = parser.parse_args()
    foreign, english = tagged("foreign_prompts.txt"), tagged("foreign_prompts_en.txt")
    if [t for t, _ in foreign] != [t for t, _ in english]:
        raise SystemExit("foreign_prompts_en.txt must translate foreign_prompts.txt line for line")
    print("| embedder | language | same cluster | same model (cluster rule) | same model (after policies) "
          "| flagged out of distribution | clusters used (translation / English) | English versions flagged |")
    print("|---|---|---|---|---|---|---|---|")
    areas = {}
    for spec in args.embedders.split(","):
        print(f"training a profile with {spec}", file=sys.stderr)
        router, areas[spec] = profile_for(spec)
        for row in compare(router, foreign, [p for _, p in english]):
            print(f"| {spec} {row}")
    print()
    for spec, a in areas.items():
        print(f"- {spec}: area on LLMRouter's 500 English test prompts {a:.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
