"""Hostile prompts through Router.route with the hash and the default MiniLM embedder: a Decision or PromptError."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner
from cr_factories import make_profile
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cactus_router import PromptError, Router
from cactus_router.cli import cli
from cactus_router.embedders.hashing import HashEmbedder
from cactus_router.embedders.minilm import MAX_CHARS_EACH_END

MB = 1 << 20

#: Prompts that must route.
ROUTABLE = {
    "ascii": "What is the capital of France?",
    "one-letter": "a",
    "one-symbol": "!",
    "nul-only": "\x00",
    "nul-inside": "What is\x00 the capital\x00 of France?",
    "emoji": "😀🚀🌍 " * 50 + "👩‍👩‍👧‍👦",
    "arabic-rtl": "ما هي عاصمة فرنسا؟",
    "hebrew-rtl": "מהי בירת צרפת?",
    "bidi-override": "\u202eWhat is the capital of France?\u202c",
    "zero-width": "\u200b\u200d\ufeff",
    "combining": "e\u0301" * 300,
    "cjk": "法国的首都是哪里？",
    "control-chars": "".join(chr(c) for c in range(1, 32)) + "x",
    "private-use": "\ue000\U000f0000",
    "1MB-ascii": "Explain this log line. " * (MB // 23),
    "1MB-emoji": "😀" * (MB // 4),
    "1MB-one-line": "x" * MB,
}
#: Prompts that are not text to route: PromptError (a TypeError and a RouterError).
UNROUTABLE = {
    "empty": "",
    "spaces": "   ",
    "whitespace": " \t\n\r\x0b\x0c\u3000\u2028",
    "1MB-whitespace": " " * MB,
    "none": None,
    "int": 42,
    "bytes": b"What is the capital of France?",
    "list": ["What is the capital of France?"],
    "lone-high-surrogate": "abc\ud800",
    "lone-low-surrogate": "\udfffabc",
    "1MB-with-a-surrogate": "a" * MB + "\ud800",
}


@pytest.fixture(scope="module")
def hash_router():
    emb = HashEmbedder(64)
    return Router(make_profile(k=6, d=64, m=4, embedder=emb, seed=3), emb)


@pytest.fixture(scope="module")
def minilm_router():
    # Router.load imports onnxruntime through cactus_router.embedders._ort (telemetry off); an
    # importorskip here would import it first, with its telemetry on.
    return Router.load("default")


@pytest.fixture(params=["hash", "minilm"])
def router(request):
    return request.getfixturevalue(f"{request.param}_router")


@pytest.mark.parametrize("name", sorted(ROUTABLE))
def test_unusual_but_real_text_routes(router, name):
    """Emoji, RTL scripts, NUL, lone symbols, control characters and 1 MB prompts each give a Decision."""
    d = router.route(ROUTABLE[name])
    assert d.model in router.profile.model_ids
    assert np.isfinite(d.score) and -1.001 <= d.similarity <= 1.001


@pytest.mark.parametrize("name", sorted(UNROUTABLE))
def test_non_text_raises_prompt_error(router, name):
    """Empty, whitespace-only, non-str, bytes and lone surrogates raise PromptError, in route and route_many."""
    with pytest.raises(PromptError):
        router.route(UNROUTABLE[name])
    with pytest.raises(PromptError):
        router.route_many(["a fine prompt", UNROUTABLE[name]])


def test_prompt_error_is_also_a_type_error_and_says_why(hash_router):
    """PromptError can be caught as TypeError, and its message says how to fix the call."""
    with pytest.raises(TypeError, match="decode"):
        hash_router.route(b"bytes")


def test_route_many_of_a_string_is_a_prompt_error(hash_router):
    """route_many('text') (one string, not a list) is a PromptError, not 4 one-letter prompts."""
    with pytest.raises(PromptError):
        hash_router.route_many("text")


@pytest.mark.parametrize("embedder", ["hash", "minilm"])
def test_the_middle_of_a_1mb_prompt_is_never_read(request, embedder):
    """Two 1 MB prompts differing only in their middle route identically: the embedder truncates."""
    router = request.getfixturevalue(f"{embedder}_router")
    head, tail = "Summarise the following report. " * 200, " What is its main finding?" * 200
    a = head + "alpha beta gamma " * (MB // 17) + tail
    b = head + "zzz qqq www " * (MB // 12) + tail
    ea, eb = router.embedder.embed(a), router.embedder.embed(b)
    assert np.array_equal(ea, eb)
    da = router.route(a)
    assert da == _strip_times(router.route(b), da)


def test_minilm_keeps_the_head_and_tail_characters_of_a_long_prompt(minilm_router):
    """A 1 MB prompt embeds exactly as its first and last MAX_CHARS_EACH_END characters joined by a space."""
    text = "".join(chr(0x41 + i % 26) + ("" if i % 7 else " ") for i in range(MB))
    clipped = text[:MAX_CHARS_EACH_END] + " " + text[-MAX_CHARS_EACH_END:]
    assert np.array_equal(minilm_router.embedder.embed(text), minilm_router.embedder.embed(clipped))


def _strip_times(d, like):
    """``d`` with ``like``'s timings, so two decisions compare on what was decided."""
    from dataclasses import replace

    return replace(d, embed_ms=like.embed_ms, score_ms=like.score_ms)


any_text = st.text(alphabet=st.characters(blacklist_categories=()), max_size=200)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(any_text)
def test_any_string_routes_or_raises_prompt_error_hash(hash_router, text):
    """Any str (surrogates, controls, any script) routes with the hash embedder or raises PromptError."""
    _route_or_prompt_error(hash_router, text)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(any_text)
def test_any_string_routes_or_raises_prompt_error_minilm(minilm_router, text):
    """Any str routes with the default MiniLM embedder or raises PromptError."""
    _route_or_prompt_error(minilm_router, text)


def _route_or_prompt_error(router, text):
    try:
        d = router.route(text)
    except PromptError:
        routable = text.strip() and not any(0xD800 <= ord(c) <= 0xDFFF for c in text)
        assert not routable, f"{text!r} is text, yet raised PromptError"
        return
    assert d.model in router.profile.model_ids and np.isfinite(d.score)


# The CLI: a hostile prompt is a one-line error (exit 1) or a decision (exit 0), never a traceback.


@pytest.fixture()
def hash_profile_path(tmp_path):
    emb = HashEmbedder(64)
    path = tmp_path / "p.json"
    make_profile(k=4, d=64, m=3, embedder=emb).save(path)
    return str(path)


@pytest.mark.parametrize("prompt, code", [("", 1), ("   ", 1), ("!", 0), ("😀 مرحبا", 0), ("x" * 100_000, 0)])
def test_cli_route_hostile_prompts(hash_profile_path, prompt, code):
    """cactus-router route exits 0 with a decision or 1 with one line, never a traceback."""
    result = CliRunner().invoke(cli, ["route", prompt, "--profile", hash_profile_path, "--json"])
    assert result.exit_code == code, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    if code == 0:
        assert json.loads(result.stdout)["model"] in {"m0", "m1", "m2"}


def test_cli_route_stdin_with_invalid_utf8_is_one_line(hash_profile_path):
    """Invalid UTF-8 on stdin for 'route -' is a one-line error with exit 1, not a traceback."""
    result = CliRunner().invoke(cli, ["route", "-", "--profile", hash_profile_path],
                                input=b"fine prompt\n\xff\xfe bad\n")
    assert result.exit_code == 1, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
