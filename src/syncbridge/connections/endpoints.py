"""``/v1/connections``: connection CRUD, checks and uploads. Secrets are write-only.

A connection's ``revision`` is its ``ETag``; PATCH and DELETE honour ``If-Match``.
"""

from __future__ import annotations

import uuid
from typing import Annotated

import httpx
from fastapi import APIRouter, Depends, FastAPI, Query, Request, Response, status

from syncbridge.api.deps import (
    Admin,
    AdminCallingVendor,
    EditorCallingVendor,
    SessionDep,
    SessionmakerDep,
    UnitOfWorkRoute,
    Viewer,
)
from syncbridge.api.etags import IfMatch, set_etag
from syncbridge.api.pagination import Page, Paging
from syncbridge.api.problems import problem_responses
from syncbridge.connections import service
from syncbridge.connections.checks import check_and_record
from syncbridge.connections.schemas import (
    ConnectionCheckOut,
    ConnectionCreate,
    ConnectionOut,
    ConnectionUpdate,
    UploadOut,
)
from syncbridge.connections.service import ConnectionContext
from syncbridge.connections.uploads import receive_upload

#: The path of the upload endpoint, which takes larger bodies than the rest of the API.
UPLOAD_PATH = r"^/v1/connections/[^/]+/uploads$"

router = APIRouter(prefix="/v1/connections", tags=["connections"], route_class=UnitOfWorkRoute)


def app_context(app: FastAPI) -> ConnectionContext:
    """The connection context of ``app``, built from what its lifespan set up."""
    state = app.state
    return ConnectionContext(
        registry=state.registry,
        box=state.secret_box,
        allow_local=state.settings.allow_local_connections,
        resolver=state.ssrf_resolver,
        allowed_origins=state.sandbox_origins,
        policy=state.host_policy,
    )


async def connection_context(request: Request) -> ConnectionContext:
    """The request's connection context."""
    return app_context(request.app)


async def http_client(request: Request) -> httpx.AsyncClient:
    """The process's shared HTTP client (always behind the SSRF guard)."""
    client: httpx.AsyncClient = request.app.state.http
    return client


ContextDep = Annotated[ConnectionContext, Depends(connection_context)]
HttpDep = Annotated[httpx.AsyncClient, Depends(http_client)]


@router.get("", operation_id="list_connections")
async def list_connections(
    session: SessionDep,
    ctx: ContextDep,
    _principal: Viewer,
    paging: Paging,
    connector: str | None = None,
) -> Page[ConnectionOut]:
    """Every connection by name; secret fields read ``"***"`` when set."""
    return await service.list_page(session, ctx, paging, connector)


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    operation_id="create_connection",
    responses=problem_responses(409),
)
async def create_connection(
    body: ConnectionCreate,
    session: SessionDep,
    ctx: ContextDep,
    principal: Admin,
    response: Response,
) -> ConnectionOut:
    """Configure a connection. 422 names the bad field (``settings.base_url``); 409 on the name."""
    out = await service.create(session, ctx, body, actor=principal.actor)
    set_etag(response, out.revision)
    return out


@router.get("/{connection_id}", operation_id="get_connection")
async def get_connection(
    connection_id: uuid.UUID,
    session: SessionDep,
    ctx: ContextDep,
    _principal: Viewer,
    response: Response,
) -> ConnectionOut:
    """One connection; secret fields read ``"***"`` when set."""
    out = await service.show(session, ctx, connection_id)
    set_etag(response, out.revision)
    return out


@router.patch(
    "/{connection_id}",
    operation_id="update_connection",
    responses=problem_responses(409, 412, 428),
)
async def update_connection(
    connection_id: uuid.UUID,
    body: ConnectionUpdate,
    session: SessionDep,
    ctx: ContextDep,
    principal: Admin,
    expect: IfMatch,
    response: Response,
) -> ConnectionOut:
    """Merge settings; a secret left out or sent as ``"***"`` keeps its stored value."""
    out = await service.update(
        session, ctx, connection_id, body, actor=principal.actor, expect=expect
    )
    set_etag(response, out.revision)
    return out


@router.delete(
    "/{connection_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    operation_id="delete_connection",
    responses=problem_responses(409, 412, 428),
)
async def delete_connection(
    connection_id: uuid.UUID,
    session: SessionDep,
    ctx: ContextDep,
    principal: Admin,
    expect: IfMatch,
) -> None:
    """Delete a connection (409 while live mapping rules are scoped to it)."""
    await service.delete(session, ctx, connection_id, actor=principal.actor, expect=expect)


@router.post("/{connection_id}/check", operation_id="check_connection")
async def check(
    connection_id: uuid.UUID,
    sessionmaker: SessionmakerDep,
    ctx: ContextDep,
    client: HttpDep,
    principal: AdminCallingVendor,
) -> ConnectionCheckOut:
    """Call the vendor once: ``ok``, ``auth_failed``, ``unreachable`` or ``error``, with why.

    No transaction is open while the vendor is called.
    """
    return await check_and_record(sessionmaker, ctx, connection_id, client, actor=principal.actor)


@router.post(
    "/{connection_id}/uploads",
    status_code=status.HTTP_201_CREATED,
    operation_id="upload_to_connection",
    responses=problem_responses(400, 404, 409, 413, 422),
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "text/csv": {"schema": {"type": "string", "format": "binary"}},
                "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
            },
        }
    },
)
async def upload(
    connection_id: uuid.UUID,
    request: Request,
    sessionmaker: SessionmakerDep,
    ctx: ContextDep,
    client: HttpDep,
    principal: EditorCallingVendor,
    filename: Annotated[
        str, Query(min_length=1, max_length=255, description="The file's name, e.g. deals.csv.")
    ],
) -> UploadOut:
    """Push a file to a connection that takes uploads (CSV exports): the raw body is the
    file. It is stored whole or not at all: a file that a read of its streams would refuse
    is refused here (422 naming file, line, column and reason), and one larger than
    ``SYNCBRIDGE_UPLOAD_MAX_BYTES`` gets 413. Re-uploading the same bytes changes nothing.
    """
    max_bytes: int = request.app.state.settings.upload_max_bytes
    return await receive_upload(
        sessionmaker,
        ctx,
        connection_id,
        client,
        filename,
        request.stream(),
        max_bytes,
        actor=principal.actor,
    )
