"""Generation backends: the Generator protocol and its implementations (HTTP, libcactus, a callable).

The HTTP backend needs ``pip install "cactus-router[generate]"``; the libcactus one needs libcactus
(see the README). Nothing here opens a connection or a library at import.
"""

from ._types import DEFAULT_PARAMS, Completion, Generation, Generator, Message, Prompt, SamplingParams, as_messages
from .callable import CallableGenerator
from .config import BackendConfig, BackendSpec, load_backends, parse_backends

__all__ = [
    "DEFAULT_PARAMS",
    "BackendConfig",
    "BackendSpec",
    "CallableGenerator",
    "Completion",
    "Generation",
    "Generator",
    "Message",
    "Prompt",
    "SamplingParams",
    "as_messages",
    "load_backends",
    "parse_backends",
]
