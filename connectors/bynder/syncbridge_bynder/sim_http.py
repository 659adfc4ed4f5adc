"""HTTP pieces every simulated Bynder route shares: the error shape, paging, form bodies."""

from __future__ import annotations

from collections.abc import Mapping
from http import HTTPStatus
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import JSONResponse

from syncbridge_bynder.sim_params import BadRequest

MAX_LIMIT = 1000
DEFAULT_LIMIT = 50


def error_body(status: int, message: str | None = None) -> dict[str, object]:
    """Bynder's v4 answer shape for a status: ``{"message": ..., "statuscode": N}``."""
    return {"message": message or HTTPStatus(status).phrase, "statuscode": status}


def error(status: int, message: str | None = None) -> JSONResponse:
    """A JSON error in Bynder's shape."""
    return JSONResponse(error_body(status, message), status_code=status)


def accepted(status: int = 202, message: str = "Accepted") -> JSONResponse:
    """Bynder's acknowledgement of a write, e.g. ``{"message":"Accepted","statuscode":202}``."""
    return JSONResponse({"message": message, "statuscode": status}, status_code=status)


def paging(params: Mapping[str, str]) -> tuple[int, int]:
    """``(page, limit)``: 1-based page, limit default 50 capped at 1000; else BadRequest."""
    try:
        page = int(params.get("page", "1"))
        limit = int(params.get("limit", str(DEFAULT_LIMIT)))
    except ValueError as exc:
        raise BadRequest("page and limit must be integers") from exc
    if page < 1 or limit < 1:
        raise BadRequest("page and limit must be at least 1")
    return page, min(limit, MAX_LIMIT)


async def form(request: Request) -> dict[str, str]:
    """The urlencoded form of a request; other bodies (JSON) read as empty, as Bynder does."""
    content_type = request.headers.get("content-type", "")
    if not content_type.startswith("application/x-www-form-urlencoded"):
        return {}
    body = (await request.body()).decode("utf-8", errors="replace")
    return dict(parse_qsl(body, keep_blank_values=True))


__all__ = ["DEFAULT_LIMIT", "MAX_LIMIT", "accepted", "error", "error_body", "form", "paging"]
