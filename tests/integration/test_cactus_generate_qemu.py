"""CactusGenerator against the real libcactus (aarch64: natively on ARM, or under qemu-user).

The tiny bundle's weights are random, so its texts are gibberish; what is tested is our side:
cactus_complete through the shared loader, the reply parsed, samples independent, no handoff.
"""

from __future__ import annotations

import os

import pytest

from cactus_router.errors import GenerationError
from cactus_router.generation import Generator, SamplingParams
from cactus_router.generation.cactus import CactusGenerator


@pytest.fixture
def gen(tiny_lm, tmp_path):  # type: ignore[no-untyped-def]
    with CactusGenerator(tiny_lm, model="tiny-lm", cache_dir=tmp_path / "tele") as g:
        yield g


def test_greedy_generation_is_deterministic(gen):  # type: ignore[no-untyped-def]
    """Greedy decoding gives the same text twice, with libcactus' token counts and confidence."""
    assert isinstance(gen, Generator)
    params = SamplingParams(max_tokens=6)
    first = gen.generate("the cat sat", params)
    again = gen.generate("the cat sat", params)
    assert first.text == again.text and first.text
    c = first.completions[0]
    assert c.completion_tokens is not None and 1 <= c.completion_tokens <= 6
    assert first.prompt_tokens is not None and first.prompt_tokens > 3
    assert c.confidence is not None and 0.0 <= c.confidence <= 1.0
    assert first.calls == 1 and first.seconds > 0


def test_samples_are_reset_between_calls(gen):  # type: ignore[no-untyped-def]
    """n greedy samples of one prompt are identical: each starts from a reset model, not the last context."""
    out = gen.generate("the cat sat", SamplingParams(n=3, max_tokens=4))
    assert len({c.text for c in out.completions}) == 1 and out.calls == 3
    other = gen.generate([{"role": "system", "content": "be brief"}, {"role": "user", "content": "a dog ran"}],
                         SamplingParams(max_tokens=4))
    assert other.prompt_tokens != out.prompt_tokens


def test_context_overflow_is_a_generation_error(gen):  # type: ignore[no-untyped-def]
    """A prompt past the bundle's context is libcactus' error, typed and naming the model."""
    with pytest.raises(GenerationError, match="model 'tiny-lm'.*cactus_complete failed.*context"):
        gen.generate("word " * 400, SamplingParams(max_tokens=4))


def test_telemetry_variable_not_left_behind(tiny_lm, tmp_path):  # type: ignore[no-untyped-def]
    """Starting a generator leaves CACTUS_NO_CLOUD_TELE as it was."""
    before = os.environ.get("CACTUS_NO_CLOUD_TELE")
    with CactusGenerator(tiny_lm, cache_dir=tmp_path):
        assert os.environ.get("CACTUS_NO_CLOUD_TELE") == before
