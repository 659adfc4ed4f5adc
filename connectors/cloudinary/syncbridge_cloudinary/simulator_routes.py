"""The simulator's HTTP surface: Admin API reads and Upload API tag/context/metadata writes.

Every refusal, and every path the simulator does not serve (404) or method it does not take
on a path (405), is answered in Cloudinary's error shape ``{"error": {"message": ...}}``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from syncbridge_cloudinary.simulator_context import SimContext, json_response
from syncbridge_cloudinary.simulator_errors import CloudinaryApiError
from syncbridge_cloudinary.simulator_gates import RateLimitSpent
from syncbridge_cloudinary.simulator_params import MAX_RESULTS_LIMIT, AdminQuery
from syncbridge_cloudinary.simulator_resource_routes import add_resource_routes
from syncbridge_cloudinary.simulator_upload_routes import MAX_PUBLIC_IDS, add_upload_routes

if TYPE_CHECKING:
    from syncbridge_cloudinary.simulator import CloudinarySimulator


def error_body(status: int) -> dict[str, object]:
    """Cloudinary's error shape, also used by the fault injector."""
    message = "Rate Limit Exceeded" if status in (420, 429) else "General Error"
    return {"error": {"message": message}}


def _add_error_handlers(api: FastAPI, ctx: SimContext) -> None:
    """Render every refusal in Cloudinary's error shape."""

    @api.exception_handler(CloudinaryApiError)
    async def _api_error(request: Request, exc: CloudinaryApiError) -> JSONResponse:
        headers = getattr(request.state, "rate_headers", None)
        return json_response({"error": {"message": exc.message}}, exc.status, headers)

    @api.exception_handler(RateLimitSpent)
    async def _spent(_: Request, exc: RateLimitSpent) -> JSONResponse:
        body = {"error": {"message": "Rate Limit Exceeded"}}
        return json_response(body, ctx.options.rate_limit_status, exc.headers)

    @api.exception_handler(StarletteHTTPException)
    async def _http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        return json_response({"error": {"message": str(exc.detail)}}, exc.status_code)


def _usage_body(ctx: SimContext) -> dict[str, Any]:
    opts, store = ctx.options, ctx.store
    total = sum(r.bytes for r in store.by_asset_id.values())
    return {
        "plan": opts.plan,
        "last_updated": datetime.fromtimestamp(opts.clock(), UTC).strftime("%Y-%m-%d"),
        "resources": store.count(),
        "derived_resources": 0,
        "requests": sum(ctx.calls.values()),
        "storage": {"usage": total},
        "objects": {"usage": store.count()},
        "bandwidth": {"usage": 0},
        "transformations": {"usage": 0},
        "rate_limit_allowed": opts.admin_rate_limit,
    }


def _add_account_routes(api: FastAPI, ctx: SimContext) -> None:
    """Register ping, usage and the metadata field definitions on ``api``."""

    @api.get("/v1_1/{cloud}/ping")
    async def ping(request: Request, cloud: str) -> JSONResponse:
        headers = ctx.admin(request, cloud, "ping")
        AdminQuery(request.query_params, ())
        return json_response({"status": "ok"}, headers=headers)

    @api.get("/v1_1/{cloud}/usage")
    async def usage(request: Request, cloud: str) -> JSONResponse:
        headers = ctx.admin(request, cloud, "usage")
        AdminQuery(request.query_params, ())
        return json_response(_usage_body(ctx), headers=headers)

    @api.get("/v1_1/{cloud}/metadata_fields")
    async def metadata_fields(request: Request, cloud: str) -> JSONResponse:
        headers = ctx.admin(request, cloud, "metadata_fields")
        AdminQuery(request.query_params, ())
        fields = [definition.to_json() for definition in ctx.store.metadata_fields.values()]
        return json_response({"metadata_fields": fields}, headers=headers)


def build_api(sim: CloudinarySimulator) -> FastAPI:
    """The FastAPI app behind one simulator."""
    # No trailing-slash redirects: Cloudinary answers a path it does not serve with its 404.
    api = FastAPI(
        title="Cloudinary simulator",
        openapi_url=None,
        docs_url=None,
        redoc_url=None,
        redirect_slashes=False,
    )
    ctx = SimContext.of(sim)
    _add_error_handlers(api, ctx)
    _add_account_routes(api, ctx)
    add_resource_routes(api, ctx)
    add_upload_routes(api, ctx)
    return api


__all__ = ["MAX_PUBLIC_IDS", "MAX_RESULTS_LIMIT", "build_api", "error_body"]
