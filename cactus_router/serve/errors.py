"""The service's own errors (each a RouterError with its HTTP status) and the status of every error."""

from __future__ import annotations

from ..errors import GenerationError, NoEligibleModelError, RouterError


class ServiceError(RouterError):
    """A request the service refuses before or around routing; ``status`` is its HTTP status."""

    status = 400


class UnauthorizedError(ServiceError, PermissionError):
    """The request lacks the service's bearer token, or carries a wrong one."""

    status = 401


class NotFoundError(ServiceError, LookupError):
    """No endpoint at this path (or not for this method)."""

    status = 404


class RequestTooLargeError(ServiceError, ValueError):
    """The body, a prompt or a batch is over the service's limit."""

    status = 413


class ServiceBusyError(ServiceError, RuntimeError):
    """Every embedding worker is busy and the queue is full: try again shortly."""

    status = 429


class RequestTimeoutError(ServiceError, TimeoutError):
    """Routing (or the backend) took longer than the service's per-request timeout."""

    status = 504


def status_for(exc: RouterError) -> int:
    """The HTTP status of an error: its own for a ServiceError, 422 when no model is eligible,
    502 when the backend failed, 400 for any other bad input."""
    if isinstance(exc, ServiceError):
        return exc.status
    if isinstance(exc, NoEligibleModelError):
        return 422
    if isinstance(exc, GenerationError):
        return 502
    return 400
