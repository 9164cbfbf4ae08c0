"""Shared fixtures: small profiles built in memory, with the hash embedder."""

from __future__ import annotations

import os

import pytest
from cr_factories import make_profile

from cactus_router.embedders.hashing import HashEmbedder


@pytest.fixture(scope="session", autouse=True)
def outside_the_checkout(tmp_path_factory):
    """Run the tests from a temporary folder. From the checkout, the subprocesses that the tests
    start (``python -m cactus_router``, ``python -c``, Ray's workers) would put it first on their
    path and import its unbuilt source tree instead of the installed package."""
    here = os.getcwd()
    os.chdir(tmp_path_factory.mktemp("cwd"))
    yield
    os.chdir(here)


@pytest.fixture(scope="session")
def hash_embedder():
    return HashEmbedder(64)


@pytest.fixture()
def hash_profile(hash_embedder):
    return make_profile(k=4, d=64, m=3, embedder=hash_embedder)

# The serve tests' subprocess harness and its session-wide service (tests/serve_harness.py).
pytest_plugins = ["serve_harness"]
