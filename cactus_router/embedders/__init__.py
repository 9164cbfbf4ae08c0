"""Embedders: prompt text to an L2-normalised vector, and the registry that picks one by name."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..errors import EmbedderError
from ._base import PROBE_TEXTS, BaseEmbedder, CallableEmbedder, Embedder, check_prompt, l2_normalise

if TYPE_CHECKING:
    from ..profile import EmbedderInfo

__all__ = [
    "PROBE_TEXTS",
    "BaseEmbedder",
    "CallableEmbedder",
    "Embedder",
    "check_prompt",
    "l2_normalise",
    "DEFAULT_EMBEDDER",
    "NAMES",
    "REGISTRY",
    "get_embedder",
    "embedder_for_profile",
]

@dataclass(frozen=True)
class _Entry:
    """One bundled embedder: its spec name (``get_embedder``), the name profiles store, and how
    to make it (given the dimension a profile records, for the embedders that take one)."""

    spec: str
    stored: str
    make: Callable[[int | None], Embedder]


def _minilm_l3(int8: bool) -> Callable[[int | None], Embedder]:
    def make(dim: int | None) -> Embedder:
        from .minilm_l3 import MiniLML3Embedder

        return MiniLML3Embedder(int8=int8)

    return make


def _minilm(dim: int | None) -> Embedder:
    from .minilm import MiniLMEmbedder

    return MiniLMEmbedder()


def _e5(dim: int | None) -> Embedder:
    from .e5 import E5Embedder

    return E5Embedder()


def _hash(dim: int | None) -> Embedder:
    from .hashing import DEFAULT_DIM, HashEmbedder

    return HashEmbedder(DEFAULT_DIM if dim is None else dim)


#: The one table of bundled embedders. ``hash:DIM`` and ``cactus:PATH`` take an argument.
REGISTRY: tuple[_Entry, ...] = (
    _Entry("minilm-l3:fp32", "paraphrase-minilm-l3-v2", _minilm_l3(False)),
    _Entry("minilm-l3", "paraphrase-minilm-l3-v2-int8", _minilm_l3(True)),
    _Entry("minilm", "minilm-l6-v2-int8", _minilm),
    _Entry("e5-multilingual", "multilingual-e5-small-q4", _e5),
    _Entry("hash", "hash-ngram-v1", _hash),
)
_BY_SPEC = {e.spec: e for e in REGISTRY}
_BY_STORED = {e.stored: e for e in REGISTRY}

#: Names accepted by get_embedder.
NAMES = (*(e.spec for e in REGISTRY), "hash:DIM", "cactus:PATH", "minilm-l3-tuned:PATH")
#: The embedder train uses unless told otherwise, and the bundled default profile's: chosen by
#: routing quality and latency side by side (README, "The embedders side by side").
DEFAULT_EMBEDDER = "minilm-l3:fp32"


def get_embedder(spec: str | Embedder) -> Embedder:
    """An embedder from a name (see ``NAMES``) or an Embedder object.

    Raises:
        EmbedderError: the name is unknown, or the backend cannot be created here.
    """
    if not isinstance(spec, str):
        if isinstance(spec, Embedder):
            return spec
        raise EmbedderError(
            f"embedder must be a name ({', '.join(NAMES)}) or an Embedder, got {type(spec).__name__}; "
            "wrap a function with cactus_router.embedders.CallableEmbedder"
        )
    if spec in _BY_SPEC:
        return _BY_SPEC[spec].make(None)
    if spec.startswith("hash:"):
        dim = spec.partition(":")[2]
        if not dim.isdigit():
            raise EmbedderError(f"embedder {spec!r}: the hash dimension must be an integer, e.g. hash:512")
        return _hash(int(dim))
    if spec.startswith("cactus:"):
        from .cactus import CactusEmbedder

        cactus: Embedder = CactusEmbedder(spec.partition(":")[2])
        return cactus
    if spec.startswith("minilm-l3-tuned:"):
        from .minilm_l3 import TunedMiniLML3Embedder

        return TunedMiniLML3Embedder(spec.partition(":")[2])
    raise EmbedderError(f"unknown embedder {spec!r}; choose one of: {', '.join(NAMES)}")


def embedder_for_profile(info: EmbedderInfo) -> Embedder:
    """The bundled embedder a profile was built with, created from its recorded name and dim.

    Raises:
        EmbedderError: the profile's embedder cannot be recreated from its name alone.
    """
    entry = _BY_STORED.get(info.name)
    if entry is not None:
        return entry.make(info.dim)
    raise EmbedderError(
        f"the profile was built with embedder {info.name!r}, which cactus-router cannot create by "
        "name; pass it explicitly, e.g. Router.load(profile, embedder=CactusEmbedder(bundle_path)) "
        "or --embedder cactus:PATH (a tuned encoder: --embedder minilm-l3-tuned:PATH)"
    )
