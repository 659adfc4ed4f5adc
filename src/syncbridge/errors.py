"""The error tree of syncbridge, mapped once to ``application/problem+json``.

    SyncbridgeError
    +-- NotFound            404
    +-- Conflict            409  (duplicate label, cycle, concept in use...)
    +-- InvalidInput        422  (field-level reasons)
    +-- Unauthorized        401
    +-- Forbidden           403
    +-- PreconditionFailed  412  (If-Match names a revision that is no longer current)
    +-- PreconditionRequired 428 (a write that must say which revision it changes)

Connector errors live in :mod:`syncbridge.connector.errors`.
"""

from __future__ import annotations

from typing import Any

#: Longest error text kept on a job, a run or a run stream.
ERROR_MAX_CHARS = 2000


def describe_error(exc: BaseException) -> str:
    """An error as kept on a job or a run: ``"Type: message"``, cut to
    :data:`ERROR_MAX_CHARS` (connector errors already keep secrets out of messages)."""
    message = str(exc)
    text = f"{type(exc).__name__}: {message}" if message else type(exc).__name__
    return text if len(text) <= ERROR_MAX_CHARS else text[: ERROR_MAX_CHARS - 1] + "…"


class SyncbridgeError(Exception):
    """Base of every error the service raises on purpose."""

    status = 500
    title = "Internal error"

    def __init__(
        self,
        detail: str,
        *,
        errors: list[dict[str, Any]] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.errors = errors or []
        self.extra = extra or {}


class NotFound(SyncbridgeError):
    status = 404
    title = "Not found"


class Conflict(SyncbridgeError):
    status = 409
    title = "Conflict"


class InvalidInput(SyncbridgeError):
    status = 422
    title = "Invalid input"


class Unauthorized(SyncbridgeError):
    status = 401
    title = "Unauthorized"


class Forbidden(SyncbridgeError):
    status = 403
    title = "Forbidden"


class PreconditionFailed(SyncbridgeError):
    status = 412
    title = "Precondition failed"


class PreconditionRequired(SyncbridgeError):
    status = 428
    title = "Precondition required"
