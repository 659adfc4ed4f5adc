"""The simulator's HTTP surface: Admin API reads and Upload API tag/context/metadata writes."""

from __future__ import annotations

import uuid
from collections import Counter
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from syncbridge_cloudinary.pipe_pairs import decode_pairs
from syncbridge_cloudinary.simulator_forms import FormValue, parse_form
from syncbridge_cloudinary.simulator_gates import (
    RateLimitSpent,
    check_basic_auth,
    check_upload_signature,
)
from syncbridge_cloudinary.simulator_store import (
    RESOURCE_TYPES,
    CloudinaryApiError,
    Direction,
    SimResource,
)

if TYPE_CHECKING:
    from syncbridge_cloudinary.simulator import CloudinarySimulator

MAX_RESULTS_LIMIT = 500
MAX_PUBLIC_IDS = 1000
MAX_ASSET_IDS = 100
TAG_COMMANDS = frozenset({"add", "remove", "replace", "remove_all", "set_exclusive"})
CONTEXT_COMMANDS = frozenset({"add", "remove_all"})


def error_body(status: int) -> dict[str, object]:
    """Cloudinary's error shape, also used by the fault injector."""
    message = "Rate Limit Exceeded" if status in (420, 429) else "General Error"
    return {"error": {"message": message}}


def _json(payload: Any, status: int = 200, headers: dict[str, str] | None = None) -> JSONResponse:
    merged = {"X-Request-Id": uuid.uuid4().hex, **(headers or {})}
    return JSONResponse(payload, status_code=status, headers=merged)


def _flag(request: Request, name: str) -> bool:
    return request.query_params.get(name, "").lower() in ("true", "1")


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


def _fields(request: Request) -> frozenset[str] | None:
    raw = request.query_params.get("fields")
    return frozenset(f.strip() for f in raw.split(",") if f.strip()) if raw else None


def _resource_type(value: str) -> str:
    if value not in RESOURCE_TYPES:
        raise CloudinaryApiError(404, f"Invalid resource type {value}")
    return value


def _list_param(form: dict[str, FormValue], name: str) -> list[str]:
    value = form.get(name)
    if isinstance(value, list):
        return value
    return [value] if value else []


def _text_param(form: dict[str, FormValue], name: str) -> str:
    value = form.get(name)
    return value if isinstance(value, str) else ""


def build_api(sim: CloudinarySimulator) -> FastAPI:
    """The FastAPI app behind one simulator."""
    api = FastAPI(title="Cloudinary simulator", openapi_url=None, docs_url=None, redoc_url=None)
    opts = sim.options
    store = sim.store
    calls: Counter[str] = sim.calls

    @api.exception_handler(CloudinaryApiError)
    async def _api_error(request: Request, exc: CloudinaryApiError) -> JSONResponse:
        headers = getattr(request.state, "rate_headers", None)
        return _json({"error": {"message": exc.message}}, exc.status, headers)

    @api.exception_handler(RateLimitSpent)
    async def _spent(_: Request, exc: RateLimitSpent) -> JSONResponse:
        body = {"error": {"message": "Rate Limit Exceeded"}}
        return _json(body, opts.rate_limit_status, exc.headers)

    @api.exception_handler(StarletteHTTPException)
    async def _http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        return _json({"error": {"message": str(exc.detail)}}, exc.status_code)

    def admin(request: Request, cloud: str, what: str) -> dict[str, str]:
        """Auth, cloud check and budget for one Admin API call; returns its rate headers."""
        calls[f"admin:{what}"] += 1
        check_basic_auth(request.headers.get("authorization"), opts.api_key, opts.api_secret)
        if cloud != opts.cloud_name:
            raise CloudinaryApiError(401, f"Invalid cloud_name {cloud}")
        headers = sim.budget.take()
        request.state.rate_headers = headers
        return headers

    async def upload(request: Request, cloud: str, what: str) -> dict[str, FormValue]:
        """Parse and authenticate one signed Upload API call."""
        calls[f"upload:{what}"] += 1
        if cloud != opts.cloud_name:
            raise CloudinaryApiError(401, f"Invalid cloud_name {cloud}")
        try:
            form = parse_form(request.headers.get("content-type", ""), await request.body())
        except (ValueError, UnicodeDecodeError) as exc:
            raise CloudinaryApiError(400, "Invalid request body") from exc
        check_upload_signature(
            form,
            api_key=opts.api_key,
            api_secret=opts.api_secret,
            algorithm=opts.signature_algorithm,
            max_age_s=opts.max_request_age_s,
            now=opts.clock(),
        )
        return form

    def render(request: Request, resource: SimResource) -> dict[str, Any]:
        return store.render(
            resource,
            tags=_flag(request, "tags"),
            context=_flag(request, "context"),
            metadata=_flag(request, "metadata"),
            fields=_fields(request),
        )

    @api.get("/v1_1/{cloud}/ping")
    async def ping(request: Request, cloud: str) -> JSONResponse:
        return _json({"status": "ok"}, headers=admin(request, cloud, "ping"))

    @api.get("/v1_1/{cloud}/usage")
    async def usage(request: Request, cloud: str) -> JSONResponse:
        headers = admin(request, cloud, "usage")
        total = sum(r.bytes for r in store.by_asset_id.values())
        body = {
            "plan": opts.plan,
            "last_updated": datetime.fromtimestamp(opts.clock(), UTC).strftime("%Y-%m-%d"),
            "resources": store.count(),
            "derived_resources": 0,
            "requests": sum(calls.values()),
            "storage": {"usage": total},
            "objects": {"usage": store.count()},
            "bandwidth": {"usage": 0},
            "transformations": {"usage": 0},
            "rate_limit_allowed": opts.admin_rate_limit,
        }
        return _json(body, headers=headers)

    @api.get("/v1_1/{cloud}/metadata_fields")
    async def metadata_fields(request: Request, cloud: str) -> JSONResponse:
        headers = admin(request, cloud, "metadata_fields")
        fields = [definition.to_json() for definition in store.metadata_fields.values()]
        return _json({"metadata_fields": fields}, headers=headers)

    @api.api_route("/v1_1/{cloud}/resources/by_asset_ids", methods=["GET", "POST"])
    async def by_asset_ids(request: Request, cloud: str) -> JSONResponse:
        headers = admin(request, cloud, "by_asset_ids")
        ids = request.query_params.getlist("asset_ids[]") or request.query_params.getlist(
            "asset_ids"
        )
        if request.method == "POST" and not ids:
            body = await request.json()
            ids = list(body.get("asset_ids", [])) if isinstance(body, dict) else []
        if not ids:
            raise CloudinaryApiError(400, "Missing required parameter - asset_ids")
        if len(ids) > MAX_ASSET_IDS:
            raise CloudinaryApiError(400, f"Too many asset_ids (max {MAX_ASSET_IDS})")
        found = [store.by_asset_id[i] for i in ids if i in store.by_asset_id]
        return _json({"resources": [render(request, r) for r in found]}, headers=headers)

    @api.get("/v1_1/{cloud}/resources/{segment}")
    async def list_or_asset(request: Request, cloud: str, segment: str) -> JSONResponse:
        if segment in RESOURCE_TYPES:
            return await listing(request, cloud, segment, None)
        headers = admin(request, cloud, "resource_by_asset_id")
        resource = store.by_asset_id.get(segment)
        if resource is None:
            raise CloudinaryApiError(404, f"Resource not found - {segment}")
        return _json(render(request, resource), headers=headers)

    @api.get("/v1_1/{cloud}/resources/{resource_type}/{type_}")
    async def list_typed(
        request: Request, cloud: str, resource_type: str, type_: str
    ) -> JSONResponse:
        return await listing(request, cloud, resource_type, type_)

    async def listing(
        request: Request, cloud: str, resource_type: str, type_: str | None
    ) -> JSONResponse:
        headers = admin(request, cloud, "resources")
        page, next_cursor = store.page(
            _resource_type(resource_type),
            type_,
            max_results=_max_results(request),
            cursor=request.query_params.get("next_cursor") or None,
            direction=_direction(request),
            prefix=request.query_params.get("prefix") or None,
            start_at=_start_at(request),
        )
        body: dict[str, Any] = {"resources": [render(request, r) for r in page]}
        if next_cursor:
            body["next_cursor"] = next_cursor
        return _json(body, headers=headers)

    @api.get("/v1_1/{cloud}/resources/{resource_type}/{type_}/{public_id:path}")
    async def resource(
        request: Request, cloud: str, resource_type: str, type_: str, public_id: str
    ) -> JSONResponse:
        headers = admin(request, cloud, "resource")
        found = store.get(_resource_type(resource_type), type_, public_id)
        if found is None:
            raise CloudinaryApiError(404, f"Resource not found - {public_id}")
        return _json(render(request, found), headers=headers)

    @api.post("/v1_1/{cloud}/{resource_type}/tags")
    async def tags(request: Request, cloud: str, resource_type: str) -> JSONResponse:
        form = await upload(request, cloud, "tags")
        command = _text_param(form, "command")
        if command not in TAG_COMMANDS:
            raise CloudinaryApiError(400, f"Invalid command {command}")
        # The SDK sends a list of tags as ``tag[]`` and a single one as ``tag``.
        raw_tags = ",".join(_list_param(form, "tag"))
        names = [t.strip() for t in raw_tags.split(",") if t.strip()]
        if not names and command != "remove_all":
            raise CloudinaryApiError(400, "Missing required parameter - tag")
        if command == "set_exclusive" and len(names) != 1:
            raise CloudinaryApiError(400, "set_exclusive takes exactly one tag")
        targets = _targets(form, resource_type)
        store.apply_tags(command, names, targets, resource_type)
        return _json({"public_ids": [r.public_id for r in targets]})

    @api.post("/v1_1/{cloud}/{resource_type}/context")
    async def context(request: Request, cloud: str, resource_type: str) -> JSONResponse:
        form = await upload(request, cloud, "context")
        command = _text_param(form, "command")
        if command not in CONTEXT_COMMANDS:
            raise CloudinaryApiError(400, f"Invalid command {command}")
        try:
            pairs = decode_pairs(_text_param(form, "context"))
        except ValueError as exc:
            raise CloudinaryApiError(400, "Invalid context") from exc
        targets = _targets(form, resource_type)
        for target in targets:
            if command == "remove_all":
                target.context = {}
            for key, value in pairs.items():
                if value:
                    target.context[key] = value
                else:
                    target.context.pop(key, None)
        return _json({"public_ids": [r.public_id for r in targets]})

    @api.post("/v1_1/{cloud}/{resource_type}/metadata")
    async def metadata(request: Request, cloud: str, resource_type: str) -> JSONResponse:
        form = await upload(request, cloud, "metadata")
        try:
            values = decode_pairs(_text_param(form, "metadata"))
        except ValueError as exc:
            raise CloudinaryApiError(400, "Invalid metadata") from exc
        if not values:
            raise CloudinaryApiError(400, "Missing required parameter - metadata")
        targets = _targets(form, resource_type)
        store.set_metadata(values, targets)
        return _json({"public_ids": [r.public_id for r in targets]})

    def _targets(form: dict[str, FormValue], resource_type: str) -> list[SimResource]:
        public_ids = _list_param(form, "public_ids")
        if not public_ids:
            raise CloudinaryApiError(400, "Missing required parameter - public_ids")
        if len(public_ids) > MAX_PUBLIC_IDS:
            raise CloudinaryApiError(400, f"Too many public_ids (max {MAX_PUBLIC_IDS})")
        type_ = _text_param(form, "type") or "upload"
        return store.resolve(_resource_type(resource_type), type_, public_ids)

    return api


__all__ = ["MAX_PUBLIC_IDS", "MAX_RESULTS_LIMIT", "build_api", "error_body"]
