"""Fixtures of the real-libcactus tests: the loaded library and a tiny bundle built with it."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # tiny_bundle.py, a helper beside these tests


@pytest.fixture(scope="session")
def libcactus():  # type: ignore[no-untyped-def]
    """The real libcactus of this machine, or a skip saying every place that was tried."""
    from cactus_router._libcactus import COMPLETE_SYMBOLS, find_libcactus

    loaded, tried = find_libcactus(needs=COMPLETE_SYMBOLS)
    if loaded is None:
        pytest.skip("libcactus is not usable on this machine (it ships for arm64 only; run "
                    ".ci/cactus-qemu.sh on x86_64): " + "; ".join(tried))
    return loaded


@pytest.fixture(scope="session")
def tiny_bundle(libcactus, tmp_path_factory):  # type: ignore[no-untyped-def]
    """A tiny text-embedding bundle written with libcactus' own graph API."""
    import tiny_bundle as tb

    return tb.build(libcactus.path, tmp_path_factory.mktemp("bundle") / "tiny-embed")


@pytest.fixture(scope="session")
def tiny_lm(libcactus, tmp_path_factory):  # type: ignore[no-untyped-def]
    """A tiny generating bundle (decoder_full_context) written with libcactus' own graph API."""
    import tiny_bundle as tb

    return tb.build_lm(libcactus.path, tmp_path_factory.mktemp("lm") / "tiny-lm")
