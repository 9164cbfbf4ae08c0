"""Embedders: prompt text to an L2-normalised vector, and the registry that picks one by name."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..errors import EmbedderError
from ._base import PROBE_TEXTS, BaseEmbedder, CallableEmbedder, Embedder, check_prompt

if TYPE_CHECKING:
    from ..profile import EmbedderInfo

__all__ = [
    "PROBE_TEXTS",
    "BaseEmbedder",
    "CallableEmbedder",
    "Embedder",
    "check_prompt",
    "DEFAULT_EMBEDDER",
    "NAMES",
    "get_embedder",
    "embedder_for_profile",
]

#: Names accepted by get_embedder.
NAMES = ("minilm-l3:fp32", "minilm-l3", "minilm", "hash", "hash:DIM", "cactus:PATH")
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
    if spec == "minilm":
        from .minilm import MiniLMEmbedder

        return MiniLMEmbedder()
    if spec in ("minilm-l3", "minilm-l3:fp32"):
        from .minilm_l3 import MiniLML3Embedder

        return MiniLML3Embedder(int8=spec == "minilm-l3")
    if spec == "hash" or spec.startswith("hash:"):
        from .hashing import DEFAULT_DIM, HashEmbedder

        dim = spec.partition(":")[2] or str(DEFAULT_DIM)
        if not dim.isdigit():
            raise EmbedderError(f"embedder {spec!r}: the hash dimension must be an integer, e.g. hash:512")
        return HashEmbedder(int(dim))
    if spec.startswith("cactus:"):
        from .cactus import CactusEmbedder

        cactus: Embedder = CactusEmbedder(spec.partition(":")[2])
        return cactus
    raise EmbedderError(f"unknown embedder {spec!r}; choose one of: {', '.join(NAMES)}")


def embedder_for_profile(info: EmbedderInfo) -> Embedder:
    """The bundled embedder a profile was built with, created from its recorded name and dim.

    Raises:
        EmbedderError: the profile's embedder cannot be recreated from its name alone.
    """
    from .hashing import HashEmbedder
    from .minilm import MiniLMEmbedder

    if info.name == MiniLMEmbedder.name:
        return MiniLMEmbedder()
    if info.name in ("paraphrase-minilm-l3-v2-int8", "paraphrase-minilm-l3-v2"):
        from .minilm_l3 import MiniLML3Embedder

        return MiniLML3Embedder(int8=info.name.endswith("-int8"))
    if info.name == "hash-ngram-v1":
        return HashEmbedder(info.dim)
    raise EmbedderError(
        f"the profile was built with embedder {info.name!r}, which cactus-router cannot create by "
        "name; pass it explicitly, e.g. Router.load(profile, embedder=CactusEmbedder(bundle_path)) "
        "or --embedder cactus:PATH"
    )
