"""``/v1/writebacks``: the write-backs planned for each DAM and the ledger of their
attempts. Viewers read."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Query

from syncbridge.api.deps import SessionDep, UnitOfWorkRoute, Viewer
from syncbridge.api.pagination import Page, Paging
from syncbridge.api.problems import problem_responses
from syncbridge.errors import NotFound
from syncbridge.models import WriteBack
from syncbridge.writeback import repository
from syncbridge.writeback.schemas import WriteBackOut

router = APIRouter(prefix="/v1/writebacks", tags=["writebacks"], route_class=UnitOfWorkRoute)

WriteBackStatusParam = Literal["pending", "sending", "done", "dead", "superseded"]


@router.get("", operation_id="list_writebacks")
async def list_writebacks(
    session: SessionDep,
    _principal: Viewer,
    paging: Paging,
    asset_id: Annotated[uuid.UUID | None, Query(description="Write-backs of this asset.")] = None,
    connection_id: Annotated[
        uuid.UUID | None, Query(description="Write-backs to this DAM connection.")
    ] = None,
    status: WriteBackStatusParam | None = None,
) -> Page[WriteBackOut]:
    """Write-backs, newest first, each with its ledger: every attempt with the owned tags it
    added and removed, the metadata it set, the vendor's answer and error, and whether it
    was a dry run."""
    items, total = await repository.list_writebacks(
        session, paging, asset_id=asset_id, connection_id=connection_id, status=status
    )
    return Page.of(items, total, paging)


@router.get("/{writeback_id}", operation_id="get_writeback", responses=problem_responses(404))
async def get_writeback(
    writeback_id: uuid.UUID, session: SessionDep, _principal: Viewer
) -> WriteBackOut:
    """One write-back with every attempt (404 when there is none with this id)."""
    row = await session.get(WriteBack, writeback_id)
    if row is None:
        raise NotFound(f"No write-back {writeback_id}.")
    [view] = await repository.views(session, [row])
    return view
