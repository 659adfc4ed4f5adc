"""Map every error to RFC 9457 ``application/problem+json``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from syncbridge.errors import SyncbridgeError
from syncbridge.logs import get_logger

PROBLEM_JSON = "application/problem+json"
log = get_logger(__name__)


def problem(
    status: int,
    title: str,
    detail: str | None = None,
    *,
    errors: list[dict[str, Any]] | None = None,
    headers: Mapping[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    """A problem+json response."""
    body: dict[str, Any] = {"type": "about:blank", "title": title, "status": status}
    if detail:
        body["detail"] = detail
    if errors:
        body["errors"] = errors
    body.update(extra)
    return JSONResponse(
        body, status_code=status, media_type=PROBLEM_JSON, headers=dict(headers or {})
    )


def _field(loc: tuple[Any, ...] | list[Any]) -> str:
    parts = [str(p) for p in loc]
    if parts and parts[0] in ("body", "query", "path", "header"):
        parts = parts[1:] or parts
    return ".".join(parts)


async def _on_syncbridge_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, SyncbridgeError)
    headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
    return problem(
        exc.status, exc.title, exc.detail, errors=exc.errors, headers=headers, **exc.extra
    )


async def _on_validation_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = [
        {"field": _field(e.get("loc", ())), "reason": e.get("msg", "invalid")} for e in exc.errors()
    ]
    return problem(422, "Invalid input", "The request did not validate.", errors=errors)


async def _on_http_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    return problem(exc.status_code, str(exc.detail), headers=exc.headers)


async def _on_unexpected(_request: Request, exc: Exception) -> JSONResponse:
    log.error("api.unhandled_error", error_type=type(exc).__name__)
    return problem(500, "Internal error", "An unexpected error occurred; it has been logged.")


def install_problem_handlers(app: FastAPI) -> None:
    """Register the handlers that turn errors into problem+json."""
    app.add_exception_handler(SyncbridgeError, _on_syncbridge_error)
    app.add_exception_handler(RequestValidationError, _on_validation_error)
    app.add_exception_handler(StarletteHTTPException, _on_http_error)
    app.add_exception_handler(Exception, _on_unexpected)
