"""Map every error to RFC 9457 ``application/problem+json``, and document it in OpenAPI."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict
from sqlalchemy.exc import DBAPIError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from syncbridge.errors import SyncbridgeError
from syncbridge.logs import get_logger

PROBLEM_JSON = "application/problem+json"
log = get_logger(__name__)

#: What each error status means here; the OpenAPI document uses these descriptions.
STATUS_MEANINGS: dict[int, str] = {
    400: "The request is malformed.",
    401: "The API key is missing, unknown or revoked.",
    403: "The API key's role does not allow this.",
    404: "Nothing has this key or id.",
    409: "The change clashes with stored data (duplicate, cycle, in use, archived...).",
    413: "The request body is over the size cap.",
    412: "If-Match names a revision that is no longer current: reload and retry.",
    415: "The body's media type is not one this operation reads.",
    422: "The request did not validate; `errors` names each field and why.",
    428: "This write needs an If-Match header with the revision it was made against.",
    503: "Not ready to serve.",
}


class FieldProblem(BaseModel):
    """One field-level reason (imports add ``file`` and ``line``)."""

    model_config = ConfigDict(extra="allow")

    field: str
    reason: str


class Problem(BaseModel):
    """An error body (RFC 9457), with field-level ``errors``; some errors add members."""

    model_config = ConfigDict(extra="allow")

    type: str = "about:blank"
    title: str
    status: int
    detail: str | None = None
    errors: list[FieldProblem] | None = None


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for the error statuses an operation answers besides the
    ones every operation gets (401/403 with a key, 404 with path ids, 413, 422)."""
    return {status: {"description": STATUS_MEANINGS[status]} for status in statuses}


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


def _allowed_methods(request: Request) -> str:
    """Every method some route serves at this path (Starlette names only one route's)."""
    allowed = []
    for method in ("DELETE", "GET", "PATCH", "POST", "PUT"):
        probe = {**request.scope, "method": method}
        if any(route.matches(probe)[0] is Match.FULL for route in request.app.router.routes):
            allowed.append(method)
    return ", ".join(allowed)


async def _on_http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    headers = dict(exc.headers or {})
    if exc.status_code == 405:
        headers["Allow"] = _allowed_methods(request)
    return problem(exc.status_code, str(exc.detail), headers=headers)


#: PostgreSQL's "character not in repertoire" and "untranslatable character": a NUL
#: (``\\u0000``) in text or JSON, which PostgreSQL cannot store and SQLite can.
_UNSTORABLE_TEXT = frozenset({"22021", "22P05"})


async def _on_database_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, DBAPIError)
    if getattr(exc.orig, "pgcode", None) in _UNSTORABLE_TEXT:
        # Which field held it is not known here; the detail says what to fix.
        return problem(422, "Invalid input", "Text must not contain NUL (\\u0000) characters.")
    return await _on_unexpected(request, exc)


async def _on_unexpected(_request: Request, exc: Exception) -> JSONResponse:
    # With its traceback; SQL parameters are never in it (engines hide them).
    log.error("api.unhandled_error", error_type=type(exc).__name__, exc_info=exc)
    return problem(500, "Internal error", "An unexpected error occurred; it has been logged.")


def install_problem_handlers(app: FastAPI) -> None:
    """Register the handlers that turn errors into problem+json, and document them."""
    app.add_exception_handler(SyncbridgeError, _on_syncbridge_error)
    app.add_exception_handler(RequestValidationError, _on_validation_error)
    app.add_exception_handler(StarletteHTTPException, _on_http_error)
    app.add_exception_handler(DBAPIError, _on_database_error)
    app.add_exception_handler(Exception, _on_unexpected)

    def openapi() -> dict[str, Any]:
        fresh = app.openapi_schema is None
        document: dict[str, Any] = FastAPI.openapi(app)
        if fresh:
            document_problems(document)
        return document

    # FastAPI's documented way to customise the document is to replace this method.
    app.openapi = openapi  # type: ignore[method-assign]


def _generic_statuses(operation: dict[str, Any]) -> set[int]:
    """The error statuses every operation of its kind can answer."""
    statuses: set[int] = set()
    if operation.get("security"):
        statuses |= {401, 403}
    parameters = operation.get("parameters", [])
    if any(p.get("in") == "path" for p in parameters):
        statuses.add(404)
    if "requestBody" in operation:
        statuses |= {400, 413, 422}
    if parameters:
        statuses.add(422)
    return statuses


def document_problems(document: dict[str, Any]) -> None:
    """Make every error response in an OpenAPI document a problem+json ``Problem``.

    Adds the statuses every operation can answer, replaces FastAPI's default 422 body
    (which this API never sends) and registers the ``Problem`` schema.
    """
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    ref_template = "#/components/schemas/{model}"
    problem_schema = Problem.model_json_schema(ref_template=ref_template)
    schemas.update(problem_schema.pop("$defs", {}))
    schemas["Problem"] = problem_schema
    ref = ref_template.format(model="Problem")
    for item in document.get("paths", {}).values():
        for operation in item.values():
            responses = operation.setdefault("responses", {})
            declared = {int(code) for code in responses if code.isdigit() and int(code) >= 400}
            for status in declared | _generic_statuses(operation):
                responses[str(status)] = {
                    "description": STATUS_MEANINGS.get(status, "An error."),
                    "content": {PROBLEM_JSON: {"schema": {"$ref": ref}}},
                }
            operation["responses"] = dict(sorted(responses.items()))
    for unused in ("HTTPValidationError", "ValidationError"):
        schemas.pop(unused, None)
