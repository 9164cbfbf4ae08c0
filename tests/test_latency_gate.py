"""The latency gate's decision rule (benchmarks/latency_gate.py), without installing or timing anything."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

PATH = Path(__file__).resolve().parent.parent / "benchmarks" / "latency_gate.py"


@pytest.fixture(scope="module")
def gate():
    spec = importlib.util.spec_from_file_location("latency_gate", PATH)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve the module's annotations through sys.modules
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        del sys.modules[spec.name]


def test_floor_applies_when_the_rounds_agree(gate):
    """With no spread, a 6% slowdown fails and a 4% one passes: the floor is 5%."""
    assert gate.verdict(1.06, 0.0) == "SLOWER"
    assert gate.verdict(1.04, 0.0) == "same"


def test_spread_widens_the_margin(gate):
    """A spread of 0.04 allows up to 1 + 3 x 0.04 = 1.12, and no further."""
    assert gate.verdict(1.11, 0.04) == "same"
    assert gate.verdict(1.13, 0.04) == "SLOWER"


def test_faster_is_reported_not_failed(gate):
    """A ratio below 1 by more than the margin is called faster."""
    assert gate.verdict(0.80, 0.01) == "faster"
    assert gate.verdict(0.97, 0.01) == "same"


def test_compare_takes_the_median_ratio_and_the_robust_spread(gate):
    """The ratio is the median of the per-round ratios; the spread is 1.4826 x their MAD / their median."""
    c = gate.compare([1.0, 1.0, 1.0, 1.0, 1.0], [1.0, 1.1, 1.2, 1.3, 1.4])
    assert c.ratio == pytest.approx(1.2)
    assert c.rounds == pytest.approx((1.0, 1.1, 1.2, 1.3, 1.4))
    assert c.spread == pytest.approx(1.4826 * 0.1 / 1.2)
    assert gate.margin(c.spread) == pytest.approx(3 * 1.4826 * 0.1 / 1.2)
    assert gate.verdict(c.ratio, c.spread) == "same"


def test_ratio_is_the_median_of_paired_rounds_not_of_the_medians(gate):
    """A machine whose speed drifts between rounds puts the sides' medians in different rounds: here
    13 of 15 rounds are level (the shape of a README-only change's CI run), yet the ratio of the
    medians is 1.16. The paired ratio is 1.0 and the verdict "same"."""
    base = [6.9, 8.0, 6.9, 8.0, 6.9, 8.0, 6.9, 8.0, 6.9, 6.9, 8.0, 8.0, 6.9, 8.0, 6.9]
    work = [8.0, 8.0, 6.9, 8.0, 6.9, 8.0, 6.9, 8.0, 6.9, 8.0, 8.0, 8.0, 6.9, 8.0, 6.9]
    c = gate.compare(base, work)
    assert c.work / c.base == pytest.approx(8.0 / 6.9)
    assert c.ratio == pytest.approx(1.0) and gate.verdict(c.ratio, c.spread) == "same"


def test_noise_common_to_both_sides_cancels(gate):
    """Rounds that the machine slows for both sides alike leave no spread, so a steady 10% slowdown fails."""
    c = gate.compare([1.0, 2.0, 1.0, 3.0, 1.0], [1.1, 2.2, 1.1, 3.3, 1.1])
    assert c.spread == pytest.approx(0.0, abs=1e-12)
    assert gate.verdict(c.ratio, c.spread) == "SLOWER"


def test_one_outlier_round_does_not_decide(gate):
    """A single round slowed on one side only moves neither the ratio of medians nor the spread much."""
    c = gate.compare([1.0] * 9, [1.0] * 8 + [5.0])
    assert c.ratio == pytest.approx(1.0)
    assert gate.verdict(c.ratio, c.spread) == "same"


def test_compare_refuses_unpaired_rounds(gate):
    """Rounds are paired by index, so the two sides must have the same number, at least two."""
    with pytest.raises(ValueError, match="paired rounds"):
        gate.compare([1.0, 1.0], [1.0])
    with pytest.raises(ValueError, match="paired rounds"):
        gate.compare([1.0], [1.0])
