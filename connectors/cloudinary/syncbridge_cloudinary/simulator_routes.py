"""The simulator's HTTP surface: Admin API reads and Upload API tag/context/metadata writes."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from syncbridge_cloudinary.simulator_context import (
    SimContext,
    checked_resource_type,
    json_response,
)
from syncbridge_cloudinary.simulator_gates import RateLimitSpent
from syncbridge_cloudinary.simulator_store import (
    RESOURCE_TYPES,
    CloudinaryApiError,
    Direction,
)
from syncbridge_cloudinary.simulator_upload_routes import MAX_PUBLIC_IDS, add_upload_routes

if TYPE_CHECKING:
    from syncbridge_cloudinary.simulator import CloudinarySimulator

MAX_RESULTS_LIMIT = 500
MAX_ASSET_IDS = 100


def error_body(status: int) -> dict[str, object]:
    """Cloudinary's error shape, also used by the fault injector."""
    message = "Rate Limit Exceeded" if status in (420, 429) else "General Error"
    return {"error": {"message": message}}


def _max_results(request: Request) -> int:
    raw = request.query_params.get("max_results", "10")
    if not raw.isdigit() or int(raw) < 1:
        raise CloudinaryApiError(400, "max_results must be a positive integer")
    if int(raw) > MAX_RESULTS_LIMIT:
        raise CloudinaryApiError(400, f"max_results must be at most {MAX_RESULTS_LIMIT}")
    return int(raw)


def _direction(request: Request) -> Direction:
    raw = request.query_params.get("direction", "desc").lower()
    if raw in ("asc", "1"):
        return "asc"
    if raw in ("desc", "-1"):
        return "desc"
    raise CloudinaryApiError(400, "direction must be asc or desc")


def _start_at(request: Request) -> datetime | None:
    raw = request.query_params.get("start_at")
    if not raw:
        return None
    try:
        moment = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError as exc:
        raise CloudinaryApiError(400, "start_at must be yyyy-mm-dd hh:mm:ss") from exc
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


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
        return json_response({"status": "ok"}, headers=ctx.admin(request, cloud, "ping"))

    @api.get("/v1_1/{cloud}/usage")
    async def usage(request: Request, cloud: str) -> JSONResponse:
        headers = ctx.admin(request, cloud, "usage")
        return json_response(_usage_body(ctx), headers=headers)

    @api.get("/v1_1/{cloud}/metadata_fields")
    async def metadata_fields(request: Request, cloud: str) -> JSONResponse:
        headers = ctx.admin(request, cloud, "metadata_fields")
        fields = [definition.to_json() for definition in ctx.store.metadata_fields.values()]
        return json_response({"metadata_fields": fields}, headers=headers)


async def _requested_asset_ids(request: Request) -> list[str]:
    ids = request.query_params.getlist("asset_ids[]") or request.query_params.getlist("asset_ids")
    if request.method == "POST" and not ids:
        body = await request.json()
        ids = list(body.get("asset_ids", [])) if isinstance(body, dict) else []
    if not ids:
        raise CloudinaryApiError(400, "Missing required parameter - asset_ids")
    if len(ids) > MAX_ASSET_IDS:
        raise CloudinaryApiError(400, f"Too many asset_ids (max {MAX_ASSET_IDS})")
    return ids


def _add_by_asset_ids_route(api: FastAPI, ctx: SimContext) -> None:
    """Register the batch lookup by asset id on ``api``."""

    @api.api_route("/v1_1/{cloud}/resources/by_asset_ids", methods=["GET", "POST"])
    async def by_asset_ids(request: Request, cloud: str) -> JSONResponse:
        headers = ctx.admin(request, cloud, "by_asset_ids")
        ids = await _requested_asset_ids(request)
        store = ctx.store
        found = [store.by_asset_id[i] for i in ids if i in store.by_asset_id]
        rendered = [ctx.render(request, r) for r in found]
        return json_response({"resources": rendered}, headers=headers)


async def _listing(
    ctx: SimContext, request: Request, cloud: str, resource_type: str, type_: str | None
) -> JSONResponse:
    headers = ctx.admin(request, cloud, "resources")
    page, next_cursor = ctx.store.page(
        checked_resource_type(resource_type),
        type_,
        max_results=_max_results(request),
        cursor=request.query_params.get("next_cursor") or None,
        direction=_direction(request),
        prefix=request.query_params.get("prefix") or None,
        start_at=_start_at(request),
    )
    body: dict[str, Any] = {"resources": [ctx.render(request, r) for r in page]}
    if next_cursor:
        body["next_cursor"] = next_cursor
    return json_response(body, headers=headers)


async def _list_or_asset(
    ctx: SimContext, request: Request, cloud: str, segment: str
) -> JSONResponse:
    if segment in RESOURCE_TYPES:
        return await _listing(ctx, request, cloud, segment, None)
    headers = ctx.admin(request, cloud, "resource_by_asset_id")
    resource = ctx.store.by_asset_id.get(segment)
    if resource is None:
        raise CloudinaryApiError(404, f"Resource not found - {segment}")
    return json_response(ctx.render(request, resource), headers=headers)


async def _resource(
    ctx: SimContext, request: Request, cloud: str, resource_type: str, type_: str, public_id: str
) -> JSONResponse:
    headers = ctx.admin(request, cloud, "resource")
    found = ctx.store.get(checked_resource_type(resource_type), type_, public_id)
    if found is None:
        raise CloudinaryApiError(404, f"Resource not found - {public_id}")
    return json_response(ctx.render(request, found), headers=headers)


def _add_resource_routes(api: FastAPI, ctx: SimContext) -> None:
    """Register the Admin API listings and single-resource lookups on ``api``."""

    @api.get("/v1_1/{cloud}/resources/{segment}")
    async def list_or_asset(request: Request, cloud: str, segment: str) -> JSONResponse:
        return await _list_or_asset(ctx, request, cloud, segment)

    @api.get("/v1_1/{cloud}/resources/{resource_type}/{type_}")
    async def list_typed(
        request: Request, cloud: str, resource_type: str, type_: str
    ) -> JSONResponse:
        return await _listing(ctx, request, cloud, resource_type, type_)

    @api.get("/v1_1/{cloud}/resources/{resource_type}/{type_}/{public_id:path}")
    async def resource(
        request: Request, cloud: str, resource_type: str, type_: str, public_id: str
    ) -> JSONResponse:
        return await _resource(ctx, request, cloud, resource_type, type_, public_id)


def build_api(sim: CloudinarySimulator) -> FastAPI:
    """The FastAPI app behind one simulator."""
    api = FastAPI(title="Cloudinary simulator", openapi_url=None, docs_url=None, redoc_url=None)
    ctx = SimContext.of(sim)
    _add_error_handlers(api, ctx)
    # Registration order matters: ``by_asset_ids`` must win over ``resources/{segment}``.
    _add_account_routes(api, ctx)
    _add_by_asset_ids_route(api, ctx)
    _add_resource_routes(api, ctx)
    add_upload_routes(api, ctx)
    return api


__all__ = ["MAX_PUBLIC_IDS", "MAX_RESULTS_LIMIT", "build_api", "error_body"]
