"""The Admin API resources family: listings, lookups by ids, details, tag names.

Paths under ``/v1_1/{cloud}``, all ``GET``, each with the parameters the official SDK sends
to it (``cloudinary/api.py``) and nothing else (see :mod:`simulator_params`):

* ``/resources``: the resource types in use (``resource_types()``);
* ``/resources/{rt}[/{type}]``: every resource, paged by ``next_cursor``/``max_results``
  (``resources()``), or with ``public_ids[]`` (up to 100) only those that exist
  (``resources_by_ids()``; unknown ids are left out, no paging);
* ``/resources/{rt}/tags/{tag}``, ``/resources/{rt}/context?key=&value=``,
  ``/resources/by_asset_folder?asset_folder=``: paged listings by creation;
* ``/resources/by_asset_ids?asset_ids[]=`` (up to 100), ``/resources/{asset_id}``,
  ``/resources/{rt}/{type}/{public_id}``: lookups (details answers carry tags always);
* ``/tags/{rt}``: the tag names in use, alphabetically, paged, with ``prefix``.

Refused with 400: moderation queues and the ``moderations`` flag (the simulator holds no
moderation data) and details analyses (``colors=true``...). A ``type`` other than ``upload``
lists nothing: every simulated resource is an upload.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import Response

from syncbridge_cloudinary.simulator_context import (
    SimContext,
    checked_resource_type,
    json_response,
    json_text_response,
)
from syncbridge_cloudinary.simulator_errors import CloudinaryApiError
from syncbridge_cloudinary.simulator_listing import ResourceQuery, resources_page, tags_page
from syncbridge_cloudinary.simulator_params import DETAILS_PARAMS, INCLUDE, PAGING, AdminQuery
from syncbridge_cloudinary.simulator_render import DETAILS
from syncbridge_cloudinary.simulator_store import DELIVERY_TYPES, RESOURCE_TYPES, SimResource

MAX_IDS = 100
LISTING_PARAMS = INCLUDE | PAGING | {"prefix", "start_at", "public_ids", "public_ids[]"}
NO_MODERATION = "Moderation queues are not available in this simulator"


def _delivery_type(value: str) -> str:
    if value not in DELIVERY_TYPES:
        raise CloudinaryApiError(400, f"Invalid type {value}")
    return value


def _page_body(
    ctx: SimContext, q: AdminQuery, query: ResourceQuery, headers: dict[str, str]
) -> Response:
    shape = q.shape()
    found, next_cursor = resources_page(
        ctx.store, query, max_results=q.max_results(), cursor=q.text("next_cursor")
    )
    if shape.fields is not None:
        body: dict[str, Any] = {"resources": [ctx.store.render(r, shape) for r in found]}
        if next_cursor:
            body["next_cursor"] = next_cursor
        return json_response(body, headers=headers)
    # The common read: each resource written as JSON text directly (the same bytes as above;
    # the cursor is hex, so it needs no escaping).
    listed = ",".join(ctx.store.listing_json(r, shape) for r in found)
    tail = f',"next_cursor":"{next_cursor}"' if next_cursor else ""
    return json_text_response(f'{{"resources":[{listed}]{tail}}}', headers=headers)


def _found_body(
    ctx: SimContext, q: AdminQuery, found: list[SimResource], headers: dict[str, str]
) -> Response:
    shape = q.shape()
    return json_response(
        {"resources": [ctx.store.render(r, shape) for r in found]}, headers=headers
    )


def _ids(q: AdminQuery, name: str, *, required: bool) -> list[str]:
    given = q.values(name)
    if required and not given:
        raise CloudinaryApiError(400, f"Missing required parameter - {name}")
    if len(given) > MAX_IDS:
        raise CloudinaryApiError(400, f"Too many {name} (max {MAX_IDS})")
    return list(dict.fromkeys(given))


async def _listing(
    ctx: SimContext, request: Request, cloud: str, resource_type: str, path_type: str | None
) -> Response:
    headers = ctx.admin(request, cloud, "resources")
    rt = checked_resource_type(resource_type)
    accepted = LISTING_PARAMS if path_type else LISTING_PARAMS | {"type"}
    q = AdminQuery(request.query_params, accepted)
    raw_type = path_type or q.text("type")
    type_ = _delivery_type(raw_type) if raw_type else None
    public_ids = _ids(q, "public_ids", required=False)
    if public_ids:
        q.refuse_with("public_ids", "prefix", "start_at", "next_cursor", "max_results", "direction")
        found = ctx.store.resolve(rt, type_ or "upload", public_ids)
        return _found_body(ctx, q, found, headers)
    query = ResourceQuery(
        "all",
        rt,
        type=type_,
        prefix=q.text("prefix"),
        start_at=q.start_at(),
        descending=q.descending(),
    )
    return _page_body(ctx, q, query, headers)


async def _details(ctx: SimContext, request: Request, found: SimResource | None, name: str) -> Any:
    AdminQuery(request.query_params, DETAILS_PARAMS).check_details()
    if found is None:
        raise CloudinaryApiError(404, f"Resource not found - {name}")
    return ctx.store.render(found, DETAILS)


def _add_lookup_routes(api: FastAPI, ctx: SimContext) -> None:
    """Resource types, lookups by asset ids and by asset folder (fixed paths first)."""

    @api.get("/v1_1/{cloud}/resources")
    async def resource_types(request: Request, cloud: str) -> Response:
        headers = ctx.admin(request, cloud, "resource_types")
        AdminQuery(request.query_params, ())
        return json_response({"resource_types": ctx.store.resource_types()}, headers=headers)

    @api.get("/v1_1/{cloud}/resources/by_asset_ids")
    async def by_asset_ids(request: Request, cloud: str) -> Response:
        headers = ctx.admin(request, cloud, "by_asset_ids")
        accepted = INCLUDE | {"asset_ids", "asset_ids[]", "resource_type"}
        q = AdminQuery(request.query_params, accepted)
        rt = q.text("resource_type")
        only = checked_resource_type(rt) if rt else None
        found = [ctx.store.by_asset_id.get(i) for i in _ids(q, "asset_ids", required=True)]
        hits = [r for r in found if r is not None and only in (None, r.resource_type)]
        return _found_body(ctx, q, hits, headers)

    @api.get("/v1_1/{cloud}/resources/by_asset_folder")
    async def by_asset_folder(request: Request, cloud: str) -> Response:
        headers = ctx.admin(request, cloud, "by_asset_folder")
        q = AdminQuery(request.query_params, INCLUDE | PAGING | {"asset_folder", "resource_type"})
        rt = q.text("resource_type")
        query = ResourceQuery(
            "folder",
            checked_resource_type(rt) if rt else None,
            folder=q.text("asset_folder") or "",
            descending=q.descending(),
        )
        return _page_body(ctx, q, query, headers)


def _add_listing_routes(api: FastAPI, ctx: SimContext) -> None:
    """Listings by resource type (and delivery type, tag, context) and the details."""

    @api.get("/v1_1/{cloud}/resources/{segment}")
    async def list_or_asset(request: Request, cloud: str, segment: str) -> Any:
        if segment in RESOURCE_TYPES:
            return await _listing(ctx, request, cloud, segment, None)
        headers = ctx.admin(request, cloud, "resource_by_asset_id")
        found = ctx.store.by_asset_id.get(segment)
        return json_response(await _details(ctx, request, found, segment), headers=headers)

    @api.get("/v1_1/{cloud}/resources/{resource_type}/{second}")
    async def typed(request: Request, cloud: str, resource_type: str, second: str) -> Any:
        if second == "context":
            return await _by_context(ctx, request, cloud, resource_type)
        if second in ("tags", "moderations"):
            ctx.admin(request, cloud, "resources")
            checked_resource_type(resource_type)
            missing = "Missing required parameter - tag" if second == "tags" else NO_MODERATION
            raise CloudinaryApiError(400, missing)
        return await _listing(ctx, request, cloud, resource_type, second)

    @api.get("/v1_1/{cloud}/resources/{resource_type}/{second}/{rest:path}")
    async def tagged_or_details(
        request: Request, cloud: str, resource_type: str, second: str, rest: str
    ) -> Any:
        if second == "tags":
            return await _by_tag(ctx, request, cloud, resource_type, rest)
        headers = ctx.admin(request, cloud, "resource")
        rt = checked_resource_type(resource_type)
        if second == "moderations":
            raise CloudinaryApiError(400, NO_MODERATION)
        found = ctx.store.get(rt, _delivery_type(second), rest)
        return json_response(await _details(ctx, request, found, rest), headers=headers)

    @api.get("/v1_1/{cloud}/tags/{resource_type}")
    async def tags(request: Request, cloud: str, resource_type: str) -> Response:
        headers = ctx.admin(request, cloud, "tags")
        rt = checked_resource_type(resource_type)
        q = AdminQuery(request.query_params, {"prefix", "max_results", "next_cursor"})
        names, next_cursor = tags_page(
            ctx.store,
            rt,
            prefix=q.text("prefix"),
            max_results=q.max_results(),
            cursor=q.text("next_cursor"),
        )
        body: dict[str, Any] = {"tags": names}
        if next_cursor:
            body["next_cursor"] = next_cursor
        return json_response(body, headers=headers)


async def _by_tag(
    ctx: SimContext, request: Request, cloud: str, resource_type: str, tag: str
) -> Response:
    headers = ctx.admin(request, cloud, "resources_by_tag")
    rt = checked_resource_type(resource_type)
    q = AdminQuery(request.query_params, INCLUDE | PAGING)
    query = ResourceQuery("tag", rt, tag=tag, descending=q.descending())
    return _page_body(ctx, q, query, headers)


async def _by_context(
    ctx: SimContext, request: Request, cloud: str, resource_type: str
) -> Response:
    headers = ctx.admin(request, cloud, "resources_by_context")
    rt = checked_resource_type(resource_type)
    q = AdminQuery(request.query_params, INCLUDE | PAGING | {"key", "value"})
    query = ResourceQuery(
        "context", rt, key=q.text("key") or "", value=q.text("value"), descending=q.descending()
    )
    return _page_body(ctx, q, query, headers)


def add_resource_routes(api: FastAPI, ctx: SimContext) -> None:
    """Register the resources family on ``api`` (fixed paths before path parameters)."""
    _add_lookup_routes(api, ctx)
    _add_listing_routes(api, ctx)


__all__ = ["LISTING_PARAMS", "MAX_IDS", "add_resource_routes"]
