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
    """The C scoring core returned an error status (``status``: its cr_status code; ``row``: the
    failing row of a batch)."""

    def __init__(self, message: str, status: int | None = None, row: int | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.row = row


class GenerationError(RouterError, RuntimeError):
    """A generation backend failed (down, slow, an error status, a malformed reply), after its retries."""


class BackendConfigError(RouterError, ValueError):
    """A backend config file (model ids to generation backends) is malformed."""


class CascadeTableError(RouterError, ValueError):
    """A verification table (JSONL for training and evaluating a cascade) is malformed."""


class JudgeCacheError(RouterError, ValueError):
    """A judge's cache of judgements (DIR/judgements.jsonl) is damaged other than by a cut-off last line."""


class ClusterError(RouterError, ConnectionError):
    """A Ray cluster could not be reached or used (``cactus_router.integrations.ray``)."""


class OutputConflictError(RouterError, FileExistsError):
    """An output path exists and belongs to another job (a different input, profile or knobs)."""


class ArgumentError(RouterError, ValueError):
    """An argument of a call is invalid (cost_bias outside [0, 1], an unknown capability, ...)."""


class PolicyError(RouterError, RuntimeError):
    """A policy failed, or returned a decision the request does not allow."""


class BudgetExceededError(RouterError, RuntimeError):
    """A budget rule's spend reached its budget, and the rule is set to refuse (or no eligible model is free)."""


class LedgerError(RouterError, OSError):
    """A spend ledger is corrupt (a line fails its checksum) or cannot be read or written."""


def error_to_dict(exc: BaseException) -> dict[str, str]:
    """The JSON shape of an error, as the CLI's ``--json`` and the HTTP service give it:
    ``{"type": class name, "message": one line}``."""
    message = " ".join(str(exc).split()) or type(exc).__name__
    return {"type": type(exc).__name__, "message": message}


class OutputError(RouterError, OSError):
    """An output path is not a file that may be replaced (a device, pipe, directory, symlink, hard-linked file)."""
