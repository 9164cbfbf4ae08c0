"""The exception hierarchy: every error the SDK raises derives from RouterError."""

from __future__ import annotations


class RouterError(Exception):
    """Base class of every error raised by cactus_router."""


class ProfileError(RouterError, ValueError):
    """A profile is malformed, inconsistent or unreadable."""


class RoutingTableError(RouterError, ValueError):
    """A routing table (JSONL of prompts and per-model scores) is malformed."""


class EmbedderError(RouterError, RuntimeError):
    """An embedder could not be created or failed to embed a prompt."""


class EmbedderMismatchError(EmbedderError):
    """The active embedder is not the one the profile was built with."""


class NativeLibraryError(EmbedderError, OSError):
    """A native library (libcactus) could not be found, loaded or used."""


class NoEligibleModelError(RouterError, LookupError):
    """No model satisfies the routing constraints (require, allow, max_size_mb)."""


class PromptError(RouterError, TypeError):
    """A prompt is not routable text (wrong type, or not valid Unicode)."""


class CoreError(RouterError, RuntimeError):
    """The C scoring core returned an error status."""


class OutputError(RouterError, OSError):
    """An output path is not a file that may be replaced (a device, pipe, directory, symlink, hard-linked file)."""
