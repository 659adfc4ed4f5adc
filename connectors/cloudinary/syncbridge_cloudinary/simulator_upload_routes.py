"""The simulator's Upload API writes: tags, context and structured metadata.

Each call takes the fields the official SDK sends to it (``uploader.call_tags_api``,
``call_context_api``, ``update_metadata``) and refuses any other with 400, after the
signature is checked. ``notification_url`` and ``batch_id`` are refused (the simulator posts
no completion notifications) and so is ``clear_invalid=true`` (it holds no conditional
metadata rules that could make a stored value invalid).
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from syncbridge_cloudinary.pipe_pairs import decode_pairs
from syncbridge_cloudinary.simulator_context import (
    SimContext,
    checked_resource_type,
    json_response,
)
from syncbridge_cloudinary.simulator_errors import CloudinaryApiError
from syncbridge_cloudinary.simulator_forms import FormValue, parse_form
from syncbridge_cloudinary.simulator_gates import check_upload_signature
from syncbridge_cloudinary.simulator_store import DELIVERY_TYPES, ResourceStore, SimResource

MAX_PUBLIC_IDS = 1000
#: Fields of every signed call (``api_key`` is added after signing).
SIGNED = frozenset({"timestamp", "signature", "api_key", "public_ids", "type"})
TAGS_FIELDS = SIGNED | {"command", "tag"}
CONTEXT_FIELDS = SIGNED | {"command", "context"}
METADATA_FIELDS = SIGNED | {"metadata", "clear_invalid"}
NOT_SIMULATED = {
    "notification_url": "notification_url: the simulator sends no completion notifications",
    "batch_id": "batch_id: the simulator sends no completion notifications",
}
TAG_COMMANDS = frozenset({"add", "remove", "replace", "remove_all", "set_exclusive"})
CONTEXT_COMMANDS = frozenset({"add", "remove_all"})


def _list_param(form: dict[str, FormValue], name: str) -> list[str]:
    value = form.get(name)
    if isinstance(value, list):
        return value
    return [value] if value else []


def _text_param(form: dict[str, FormValue], name: str) -> str:
    value = form.get(name)
    return value if isinstance(value, str) else ""


async def _signed_form(
    ctx: SimContext, request: Request, cloud: str, what: str, accepted: frozenset[str]
) -> dict[str, FormValue]:
    """Parse and authenticate one signed Upload API call; 400 for fields it does not take."""
    opts = ctx.options
    ctx.calls[f"upload:{what}"] += 1
    ctx.check_cloud(cloud)
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
    for name in form:
        if name in NOT_SIMULATED:
            raise CloudinaryApiError(400, NOT_SIMULATED[name])
        if name not in accepted:
            raise CloudinaryApiError(400, f"Unknown parameter - {name}")
    return form


def _targets(ctx: SimContext, form: dict[str, FormValue], resource_type: str) -> list[SimResource]:
    public_ids = _list_param(form, "public_ids")
    if not public_ids:
        raise CloudinaryApiError(400, "Missing required parameter - public_ids")
    if len(public_ids) > MAX_PUBLIC_IDS:
        raise CloudinaryApiError(400, f"Too many public_ids (max {MAX_PUBLIC_IDS})")
    type_ = _text_param(form, "type") or "upload"
    if type_ not in DELIVERY_TYPES:
        raise CloudinaryApiError(400, f"Invalid type {type_}")
    return ctx.store.resolve(checked_resource_type(resource_type), type_, public_ids)


def _updated(targets: list[SimResource]) -> JSONResponse:
    return json_response({"public_ids": [r.public_id for r in targets]})


async def _tags(ctx: SimContext, request: Request, cloud: str, resource_type: str) -> JSONResponse:
    form = await _signed_form(ctx, request, cloud, "tags", TAGS_FIELDS)
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
    targets = _targets(ctx, form, resource_type)
    ctx.store.apply_tags(command, names, targets, resource_type)
    return _updated(targets)


def _apply_context(
    store: ResourceStore, command: str, pairs: dict[str, str], targets: list[SimResource]
) -> None:
    for target in targets:
        context = {} if command == "remove_all" else dict(target.context)
        for key, value in pairs.items():
            if value:
                context[key] = value
            else:
                context.pop(key, None)
        store.set_context(target, context)


async def _context(
    ctx: SimContext, request: Request, cloud: str, resource_type: str
) -> JSONResponse:
    form = await _signed_form(ctx, request, cloud, "context", CONTEXT_FIELDS)
    command = _text_param(form, "command")
    if command not in CONTEXT_COMMANDS:
        raise CloudinaryApiError(400, f"Invalid command {command}")
    try:
        pairs = decode_pairs(_text_param(form, "context"))
    except ValueError as exc:
        raise CloudinaryApiError(400, "Invalid context") from exc
    targets = _targets(ctx, form, resource_type)
    _apply_context(ctx.store, command, pairs, targets)
    return _updated(targets)


async def _metadata(
    ctx: SimContext, request: Request, cloud: str, resource_type: str
) -> JSONResponse:
    form = await _signed_form(ctx, request, cloud, "metadata", METADATA_FIELDS)
    if _text_param(form, "clear_invalid").lower() in ("true", "1"):
        raise CloudinaryApiError(400, "clear_invalid: the simulator holds no metadata rules")
    try:
        values = decode_pairs(_text_param(form, "metadata"))
    except ValueError as exc:
        raise CloudinaryApiError(400, "Invalid metadata") from exc
    if not values:
        raise CloudinaryApiError(400, "Missing required parameter - metadata")
    targets = _targets(ctx, form, resource_type)
    ctx.store.set_metadata(values, targets)
    return _updated(targets)


def add_upload_routes(api: FastAPI, ctx: SimContext) -> None:
    """Register the Upload API tag, context and metadata writes on ``api``."""

    @api.post("/v1_1/{cloud}/{resource_type}/tags")
    async def tags(request: Request, cloud: str, resource_type: str) -> JSONResponse:
        return await _tags(ctx, request, cloud, resource_type)

    @api.post("/v1_1/{cloud}/{resource_type}/context")
    async def context(request: Request, cloud: str, resource_type: str) -> JSONResponse:
        return await _context(ctx, request, cloud, resource_type)

    @api.post("/v1_1/{cloud}/{resource_type}/metadata")
    async def metadata(request: Request, cloud: str, resource_type: str) -> JSONResponse:
        return await _metadata(ctx, request, cloud, resource_type)


__all__ = ["MAX_PUBLIC_IDS", "add_upload_routes"]
