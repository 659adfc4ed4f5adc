"""``/v1/connections``: connection CRUD and checks. Secrets are write-only."""

from __future__ import annotations

import uuid
from typing import Annotated

import httpx
from fastapi import APIRouter, Depends, FastAPI, Request, status

from syncbridge.api.deps import Admin, SessionDep, Viewer
from syncbridge.api.pagination import Page, Paging
from syncbridge.api.problems import problem_responses
from syncbridge.audit.service import record
from syncbridge.connections import repository, service
from syncbridge.connections.checks import check_connection
from syncbridge.connections.schemas import (
    ConnectionCheckOut,
    ConnectionCreate,
    ConnectionOut,
    ConnectionUpdate,
)
from syncbridge.connections.service import ConnectionContext

router = APIRouter(prefix="/v1/connections", tags=["connections"])


def app_context(app: FastAPI) -> ConnectionContext:
    """The connection context of ``app``, built from what its lifespan set up."""
    state = app.state
    return ConnectionContext(
        registry=state.registry,
        box=state.secret_box,
        allow_local=state.settings.allow_local_connections,
        resolver=state.ssrf_resolver,
    )


def connection_context(request: Request) -> ConnectionContext:
    """The request's connection context."""
    return app_context(request.app)


def http_client(request: Request) -> httpx.AsyncClient:
    """The process's shared HTTP client (SSRF-guarded unless local hosts are allowed)."""
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
    stmt = repository.connections_query(connector=connector)
    rows, total = await repository.page(session, stmt, paging.limit, paging.offset)
    return Page.of([service.view(ctx, r) for r in rows], total, paging)


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    operation_id="create_connection",
    responses=problem_responses(409),
)
async def create_connection(
    body: ConnectionCreate, session: SessionDep, ctx: ContextDep, principal: Admin
) -> ConnectionOut:
    """Configure a connection. 422 names the bad field (``settings.base_url``); 409 on the name."""
    connection = await service.create_connection(session, ctx, body, actor=principal.actor)
    await session.commit()
    return service.view(ctx, connection)


@router.get("/{connection_id}", operation_id="get_connection")
async def get_connection(
    connection_id: uuid.UUID, session: SessionDep, ctx: ContextDep, _principal: Viewer
) -> ConnectionOut:
    """One connection; secret fields read ``"***"`` when set."""
    return service.view(ctx, await repository.get(session, connection_id))


@router.patch(
    "/{connection_id}", operation_id="update_connection", responses=problem_responses(409)
)
async def update_connection(
    connection_id: uuid.UUID,
    body: ConnectionUpdate,
    session: SessionDep,
    ctx: ContextDep,
    principal: Admin,
) -> ConnectionOut:
    """Merge settings; a secret left out or sent as ``"***"`` keeps its stored value."""
    connection = await repository.get(session, connection_id)
    connection = await service.update_connection(
        session, ctx, connection, body, actor=principal.actor
    )
    await session.commit()
    return service.view(ctx, connection)


@router.delete(
    "/{connection_id}", status_code=status.HTTP_204_NO_CONTENT, operation_id="delete_connection"
)
async def delete_connection(
    connection_id: uuid.UUID, session: SessionDep, ctx: ContextDep, principal: Admin
) -> None:
    """Delete a connection."""
    connection = await repository.get(session, connection_id)
    await service.delete_connection(session, ctx, connection, actor=principal.actor)
    await session.commit()


@router.post("/{connection_id}/check", operation_id="check_connection")
async def check(
    connection_id: uuid.UUID,
    session: SessionDep,
    ctx: ContextDep,
    client: HttpDep,
    principal: Admin,
) -> ConnectionCheckOut:
    """Call the vendor once: ``ok``, ``auth_failed``, ``unreachable`` or ``error``, with why."""
    connection = await repository.get(session, connection_id)
    # No transaction stays open while the vendor is called.
    await session.commit()
    outcome = await check_connection(ctx, connection, client)
    await record(
        session,
        actor=principal.actor,
        action="connection.check",
        entity_type=service.ENTITY,
        entity_id=connection.id,
        after=outcome.model_dump(mode="json", exclude={"account"}),
    )
    await session.commit()
    return outcome
