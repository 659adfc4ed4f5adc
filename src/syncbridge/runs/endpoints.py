"""``/v1/runs``: start a sync, follow it, cancel it. Viewers read; editors start and cancel."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from syncbridge.api.deps import Editor, SessionDep, UnitOfWorkRoute, Viewer
from syncbridge.api.pagination import Page, Paging
from syncbridge.api.problems import problem_responses
from syncbridge.connections.endpoints import ContextDep, HttpDep
from syncbridge.runs import service
from syncbridge.runs.schemas import RunCreate, RunDetail, RunOut, RunStatus
from syncbridge.sync.repository import FINISHED

router = APIRouter(prefix="/v1/runs", tags=["runs"], route_class=UnitOfWorkRoute)


@router.post(
    "",
    status_code=status.HTTP_202_ACCEPTED,
    operation_id="start_run",
    responses=problem_responses(404, 409),
)
async def start_run(
    body: RunCreate,
    session: SessionDep,
    ctx: ContextDep,
    client: HttpDep,
    principal: Editor,
    response: Response,
) -> RunDetail:
    """Queue a sync of one connection (or every enabled one): the run and its jobs are
    written together, and a worker runs it (`Location` names the run to follow). The same
    for a scoring run (`kind: "score"`) and a reconciliation (`kind: "reconcile"`, whose
    findings show in the run's `report`).

    404 for an unknown connection, 409 for a disabled one (or none enabled), 422 for an
    unknown stream; each problem says why in `reason`. A run of a connection that another
    run is reading waits, queued, until that one's job ends (one vendor reader per
    connection). No vendor is called here.
    """
    out = await service.start_run(session, ctx, client, body, actor=principal.actor)
    response.headers["Location"] = f"/v1/runs/{out.id}"
    return out


@router.get("", operation_id="list_runs")
async def list_runs(
    session: SessionDep,
    _principal: Viewer,
    paging: Paging,
    connection_id: Annotated[
        uuid.UUID | None, Query(description="Runs that read this connection.")
    ] = None,
    status: RunStatus | None = None,
    kind: Annotated[str | None, Query(max_length=20)] = None,
) -> Page[RunOut]:
    """Runs, newest first, with each stream's counts."""
    return await service.list_runs(
        session, paging, connection_id=connection_id, status=status, kind=kind
    )


@router.get("/{run_id}", operation_id="get_run")
async def get_run(run_id: uuid.UUID, session: SessionDep, _principal: Viewer) -> RunDetail:
    """A run: status, timing, per-stream counts (read, inserted, updated, unchanged, deleted,
    rejected, pages, vendor calls and 429s), each failed stream's error, and the items it
    refused with why."""
    return await service.show_run(session, run_id)


@router.post(
    "/{run_id}/cancel",
    operation_id="cancel_run",
    responses={
        202: {"description": "The run is stopping: its streams end at their next page."},
        **problem_responses(409),
    },
)
async def cancel_run(
    run_id: uuid.UUID, session: SessionDep, principal: Editor, response: Response
) -> RunDetail:
    """Cancel a run. A queued run is `cancelled` at once (200); a running one stops at the
    next page boundary, its streams end `cancelled` and the pages committed so far stay
    (202, `cancel_requested_at` set). 409 for a run that has already finished."""
    out = await service.cancel_run(session, run_id, actor=principal.actor)
    if out.status not in FINISHED:
        response.status_code = status.HTTP_202_ACCEPTED
    return out
