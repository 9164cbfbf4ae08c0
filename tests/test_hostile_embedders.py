"""Embedders that return the wrong thing: every path into C checks shape, dtype, layout and values."""

from __future__ import annotations

import numpy as np
import pytest
from cr_factories import make_profile
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cactus_router import ArgumentError, CoreError, EmbedderError, Router
from cactus_router._native import Index, mask_buffer
from cactus_router.embedders.hashing import HashEmbedder

DIM = 16


class Hostile:
    """An object satisfying the Embedder protocol (not a BaseEmbedder) whose outputs we choose."""

    name = "hostile"
    dim = DIM
    fingerprint = "none"

    def __init__(self, make):
        self.make = make
        self.good = HashEmbedder(DIM)

    def probe_embeddings(self):
        return self.good.probe_embeddings()

    def embed(self, text):
        return self.make(self.good.embed(text)[None, :], 1, single=True)

    def embed_many(self, texts):
        return self.make(self.good.embed_many(list(texts)), len(texts), single=False)


def _router(make):
    prof = make_profile(k=3, d=DIM, m=3)  # no fingerprint: the constructor checks only the dimension
    return Router(prof, Hostile(make))


def _entry_points(r):
    yield lambda: r.route("hello there")
    yield lambda: r.route_many(["hello there", "second prompt", "third"])
    yield lambda: r.explain("hello there")


BAD_OUTPUTS = {
    "one float": lambda v, n, single: np.ones(1, dtype=np.float32) if single else np.ones((n, 1), np.float32),
    "too wide": lambda v, n, single: np.ones(DIM + 1, np.float32) if single else np.ones((n, DIM + 1), np.float32),
    "one row for many": lambda v, n, single: np.ones((1, DIM), np.float32) if single or n > 1 else np.ones(DIM),
    "a list": lambda v, n, single: v[0].tolist() if single else v.tolist(),
    "None": lambda v, n, single: None,
    "integers": lambda v, n, single: np.ones(DIM, np.int64) if single else np.ones((n, DIM), np.int64),
    "NaN": lambda v, n, single: np.full(DIM, np.nan, np.float32) if single else np.full((n, DIM), np.nan, np.float32),
    "infinite": lambda v, n, single: np.full(DIM, np.inf) if single else np.full((n, DIM), np.inf),
    "float64 too large for float32": lambda v, n, single: np.full(DIM, 1e300) if single else np.full((n, DIM), 1e300),
    "zero vector": lambda v, n, single: np.zeros(DIM, np.float32) if single else np.zeros((n, DIM), np.float32),
    "3-D": lambda v, n, single: np.ones((1, 1, DIM), np.float32),
}


@pytest.mark.parametrize("kind", sorted(BAD_OUTPUTS))
def test_bad_embedder_output_is_an_embedder_error(kind):
    """Each bad output is refused at every public entry point, naming the embedder and the problem."""
    r = _router(BAD_OUTPUTS[kind])
    for call in _entry_points(r):
        with pytest.raises(EmbedderError, match=r"^embedder 'hostile' returned "):
            call()


def test_float64_and_strided_outputs_are_converted_explicitly():
    """A float64 or non-contiguous output routes exactly as its float32 contiguous copy does."""
    plain = _router(lambda v, n, single: v[0] if single else v)
    f64 = _router(lambda v, n, single: (v[0] if single else v).astype(np.float64))
    strided = _router(lambda v, n, single: np.repeat(v, 2, axis=-1)[..., ::2][0] if single
                      else np.repeat(v, 2, axis=-1)[..., ::2])
    prompts = ["hello there", "write a sort in C", "what is 2 + 2"]
    for r in (f64, strided):
        for p in prompts:
            a, b = plain.route(p), r.route(p)
            assert (a.model, a.cluster, a.similarity, a.ranking) == (b.model, b.cluster, b.similarity, b.ranking)
        assert r.route_many(prompts).models == plain.route_many(prompts).models


def test_wrong_rows_never_shrink_a_batch():
    """An embedder returning fewer rows than prompts fails rather than giving a short batch."""
    r = _router(lambda v, n, single: v[0] if single else v[:1])
    with pytest.raises(EmbedderError, match=r"shape \(1, 16\), expected \(3, 16\)"):
        r.route_many(["a", "b", "c"])


def test_the_constructor_checks_the_probe_embeddings():
    """A profile with a fingerprint embeds its probes at load: a bad embedder fails there, typed."""
    good = HashEmbedder(DIM)
    prof = make_profile(k=3, d=DIM, m=3, embedder=good)
    with pytest.raises(EmbedderError, match="returned shape"):
        Router(prof, Hostile(lambda v, n, single: v[:, :1]))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=st.integers(0, 4), cols=st.integers(0, 2 * DIM), dtype=st.sampled_from(["f2", "f4", "f8", "i4", "u1"]),
       fill=st.sampled_from([0.0, 1.0, -2.5, np.nan, np.inf, 1e30]), one_d=st.booleans())
def test_any_array_from_an_embedder_routes_or_fails_typed(rows, cols, dtype, fill, one_d):
    """Whatever array an embedder returns, routing gives a valid decision or an EmbedderError:
    never a crash, never another exception, never a batch of the wrong length."""
    def make(v, n, single):
        shape = (cols,) if one_d and single else (rows, cols)
        with np.errstate(over="ignore", invalid="ignore"):
            return np.full(shape, fill).astype(dtype)

    r = _router(make)
    prompts = ["one", "two", "three"]
    for call in (lambda: r.route("one"), lambda: r.route_many(prompts), lambda: r.explain("one")):
        try:
            out = call()
        except EmbedderError:
            continue
        models = out.models if hasattr(out, "models") else [getattr(out, "decision", out).model]
        assert len(models) == (len(prompts) if hasattr(out, "models") else 1)
        assert set(models) <= set(r.profile.model_ids)


@pytest.mark.parametrize("bad", [np.ones(DIM - 1), np.ones(DIM + 1), np.ones((2, DIM)), [np.nan] * DIM,
                                 np.zeros(DIM), np.ones(DIM, dtype=np.int32), "text", None, [[1.0], [1.0, 2.0]]])
def test_route_embedding_refuses_bad_vectors(bad):
    """A caller's own embedding is checked like an embedder's, as an ArgumentError."""
    r = _router(lambda v, n, single: v[0] if single else v)
    with pytest.raises(ArgumentError):
        r.route_embedding(bad)


@pytest.mark.parametrize("bad", [np.ones(DIM), np.ones((2, DIM + 1)), np.full((2, DIM), np.inf), np.zeros((1, DIM)),
                                 np.ones((1, 1, DIM)), "text", None])
def test_route_embeddings_refuses_bad_arrays(bad):
    """The batch form checks rows x D, values and dtype the same way."""
    r = _router(lambda v, n, single: v[0] if single else v)
    with pytest.raises(ArgumentError):
        r.route_embeddings(bad)


def test_the_c_core_refuses_another_width():
    """The binding passes the vector's length and C refuses one that is not the index's D."""
    index = Index(np.eye(4, dtype=np.float32), np.full((4, 2), 0.5, np.float32), np.array([1.0, 2.0]))
    for n in (1, 3, 5, 4096):
        with pytest.raises(CoreError, match="dimension is out of range"):
            index.route(np.ones(n, dtype=np.float32), mask_buffer(None), 0.0)
        with pytest.raises(CoreError, match="dimension is out of range"):
            index.route_batch(np.ones((2, n), dtype=np.float32), mask_buffer(None), 0.0)
    with pytest.raises(CoreError, match="float32"):
        index.route(np.ones(4, dtype=np.float64), mask_buffer(None), 0.0)
