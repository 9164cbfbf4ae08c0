"""The bundled default profile: what it holds and that it routes offline right after install."""

from __future__ import annotations

import pytest

from cactus_router import Profile, Router
from cactus_router.embedders import DEFAULT_EMBEDDER, get_embedder


@pytest.fixture(scope="module")
def default_router():
    return Router.load("default")


def test_default_profile_is_the_llmrouter_build():
    """It was trained by the build script on LLMRouter data with the default embedder."""
    prof = Profile.load("default")
    assert get_embedder(DEFAULT_EMBEDDER).name == prof.embedder.name == "paraphrase-minilm-l3-v2" and prof.dim == 384
    assert len(prof.models) == 9 and prof.embedder.fingerprint
    assert prof.training["built_by"] == "tools/build_default_profile.py"
    assert int(prof.cluster_sizes.sum()) == prof.training["rows"] == 5608 - 119


def test_default_routes_a_prompt(default_router):
    """The README's first command works in-process."""
    d = default_router.route("What is the capital of France?")
    assert d.model in default_router.profile.model_ids


def test_cost_bias_one_is_cheaper_than_zero_on_average(default_router):
    """Over a few prompts, the cheap end of the knob costs less than the quality end."""
    prompts = ["Write a Python function to reverse a list.", "Who wrote Hamlet?",
               "Solve 12*x + 7 = 31 for x.", "Name three primary colours."]
    lo = sum(d.cost for d in default_router.route_many(prompts, cost_bias=0.0))
    hi = sum(d.cost for d in default_router.route_many(prompts, cost_bias=1.0))
    assert hi <= lo
