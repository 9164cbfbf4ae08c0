"""The Generator values, the callable generator, the backend config file, and CactusGenerator's error paths.

CactusGenerator's error paths run against the FAKE libcactus of fake_libcactus.py; the real
library generates in tests/integration (under qemu on x86_64).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from fake_libcactus import compile_fake

from cactus_router.errors import ArgumentError, BackendConfigError, GenerationError, PromptError
from cactus_router.generation import (
    CallableGenerator,
    Completion,
    Generator,
    SamplingParams,
    as_messages,
    parse_backends,
)


@pytest.mark.parametrize("kw", [{"n": 0}, {"n": True}, {"temperature": 3.0}, {"max_tokens": 0}, {"top_p": 0.0},
                                {"stop": ["x"]}, {"stop": ("",)}])
def test_sampling_params_validated(kw):
    """Out-of-range knobs are ArgumentErrors (also ValueErrors)."""
    with pytest.raises(ArgumentError):
        SamplingParams(**kw)


def test_messages_validated():
    """A str is one user message; malformed messages are PromptErrors naming the message."""
    assert as_messages("hi", "x") == [{"role": "user", "content": "hi"}]
    with pytest.raises(PromptError, match="x: message 1 needs a role"):
        as_messages([{"role": "user", "content": "a"}, {"role": "robot", "content": "b"}], "x")
    with pytest.raises(PromptError, match="empty"):
        as_messages("  ", "x")


def test_callable_generator_called_until_n():
    """A function returning one text is called n times; the calls are counted; it is a Generator."""
    seen = []

    def fn(messages, params):  # type: ignore[no-untyped-def]
        seen.append(messages[-1]["content"])
        return f"reply {len(seen)}"

    g = CallableGenerator(fn, model="m")
    assert isinstance(g, Generator)
    out = g.generate("q", SamplingParams(n=3, temperature=1.0))
    assert [c.text for c in out.completions] == ["reply 1", "reply 2", "reply 3"] and out.calls == 3
    assert out.model == "m" and seen == ["q", "q", "q"]


def test_callable_generator_lists_and_completions():
    """A function may return n texts or Completions at once (one call)."""
    g = CallableGenerator(lambda m, p: [Completion("a", logprobs=(-0.1,)), "b"], model="m")
    out = g.generate("q", SamplingParams(n=2))
    assert out.calls == 1 and out.completions[0].logprobs == (-0.1,) and out.completions[1].text == "b"


def test_callable_generator_errors_are_typed():
    """An exception or a wrong return type from the function is a GenerationError naming the model."""
    def boom(messages, params):  # type: ignore[no-untyped-def]
        raise KeyError("gone")

    with pytest.raises(GenerationError, match="callable backend \\(model 'm'\\) failed: KeyError"):
        CallableGenerator(boom, model="m").generate("q")
    with pytest.raises(GenerationError, match="must return str"):
        CallableGenerator(lambda m, p: 42, model="m").generate("q")


CONFIG = """
[models."big"]
backend = "openai"
base_url = "http://127.0.0.1:9/v1"
served_model = "big-q4"
max_retries = 1

[models."small"]
backend = "cactus"
model_path = "bundles/small"
"""


def test_backend_config_parses_and_makes_generators_lazily():
    """The TOML maps ids to backends; relative paths are from the file's folder; generators are made on use."""
    cfg = parse_backends(CONFIG, base="/etc/cr")
    assert cfg.models == ("big", "small")
    assert cfg.specs["small"].options["model_path"] == "/etc/cr/bundles/small"
    pytest.importorskip("httpx")
    big = cfg.generator("big")
    assert big is cfg.generator("big") and big.model == "big"
    with pytest.raises(BackendConfigError, match="no backend is configured for model 'nope'"):
        cfg.generator("nope")


@pytest.mark.parametrize(("text", "match"), [
    ("[models.a]\nbackend = 'grpc'", "backend must be one of"),
    ("[models.a]\nbackend = 'openai'", "needs 'base_url'"),
    ("[models.a]\nbackend = 'openai'\nbase_url = 'http://x'\napi_key = 'sk-1'", "unknown key\\(s\\) api_key"),
    ("[models.a]\nbackend = 'openai'\nbase_url = 'http://x'\nmax_retries = '3'", "max_retries must be int"),
    ("[models.a]\nbackend = 'cactus'\nmodel_path = 'p'\ntelemetry = 1", "telemetry must be bool"),
    ("[model.a]\nbackend = 'cactus'", "unknown top-level key"),
    ("models = 3 = 4", "not valid TOML"),
])
def test_backend_config_errors(text, match):
    """Each malformed config is one BackendConfigError naming the model and the key."""
    with pytest.raises(BackendConfigError, match=match):
        parse_backends(text, where="b.toml")


# -- CactusGenerator against the fake library ------------------------------------------------


@pytest.fixture(scope="module")
def fake_lib(tmp_path_factory) -> Path:  # type: ignore[no-untyped-def]
    return compile_fake(tmp_path_factory.mktemp("fakegen"), "fake_libcactus_gen.so")


@pytest.fixture
def bundle(tmp_path) -> Path:  # type: ignore[no-untyped-def]
    d = tmp_path / "tiny-lm"
    d.mkdir()
    return d


def test_cactus_generator_through_the_fake(fake_lib, bundle, tmp_path):
    """Each sample resets the model; the reply's counts and confidence are kept; no cloud handoff is allowed."""
    import json

    import cffi

    from cactus_router.generation.cactus import CactusGenerator

    probe = cffi.FFI()
    probe.cdef("int fake_resets(void); const char* fake_last_options(void);")
    seen = probe.dlopen(str(fake_lib))
    before = seen.fake_resets()
    with CactusGenerator(bundle, lib_path=fake_lib, cache_dir=tmp_path / "c") as g:
        out = g.generate("hello", SamplingParams(n=2, temperature=0.5, stop=("\n",)))
        assert g.model == "tiny-lm" and out.calls == 2 and seen.fake_resets() - before == 2
        assert [c.text for c in out.completions] == ["fake reply"] * 2
        assert out.completions[0].completion_tokens == 2 and out.completions[0].confidence == 0.75
        assert out.prompt_tokens is not None and out.completions[0].logprobs is None
        options = json.loads(probe.string(seen.fake_last_options()))
        assert options == {"temperature": 0.5, "max_tokens": 256, "auto_handoff": False, "stop_sequences": ["\n"]}
        with pytest.raises(GenerationError, match="backend 'cactus' \\(model 'tiny-lm'\\): cactus_complete failed"
                                                  " \\(-1\\): fake: completion failed"):
            g.generate("please FAIL")
        with pytest.raises(GenerationError, match="malformed reply from cactus_complete"):
            g.generate("BADJSON")
    with pytest.raises(GenerationError, match="closed"):
        g.generate("hello")


def test_cactus_generator_needs_cactus_complete(tmp_path, bundle):
    """A libcactus without cactus_complete is refused when the generator is made, naming the functions."""
    from cactus_router.errors import NativeLibraryError
    from cactus_router.generation.cactus import CactusGenerator

    lib = compile_fake(tmp_path, "fake_libcactus_nocomplete.so", "-DNO_COMPLETE_SYMBOL")
    with pytest.raises(NativeLibraryError, match="lacks cactus_complete, cactus_reset"):
        CactusGenerator(bundle, lib_path=lib)


def test_cactus_generator_bad_bundle(fake_lib, tmp_path):
    """A missing folder, or one libcactus cannot start, is a GenerationError with libcactus' message."""
    from cactus_router.generation.cactus import CactusGenerator

    with pytest.raises(GenerationError, match="not a directory"):
        CactusGenerator(tmp_path / "nope", lib_path=fake_lib)
    (tmp_path / "broken").mkdir()
    with pytest.raises(GenerationError, match="fake: no components/manifest.json"):
        CactusGenerator(tmp_path / "broken", lib_path=fake_lib, cache_dir=tmp_path)
