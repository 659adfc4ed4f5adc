"""Runs: start a sync as jobs, show what runs did, cancel them. Services flush, never commit.

A sync run is queued with one ``sync.run`` job per connection it reads, in the transaction
that adds the run: the run exists exactly when its jobs do. Each job carries the
connection's concurrency key (``connection:<id>``), so however many workers run, one
connection's vendor is read by one job at a time; a second run of a busy connection waits,
queued, until the first one's job ends.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from syncbridge.audit.service import record
from syncbridge.connections.service import ConnectionContext
from syncbridge.errors import Conflict, NotFound
from syncbridge.jobs.service import enqueue
from syncbridge.logs import get_logger
from syncbridge.models import Run
from syncbridge.models.base import utcnow
from syncbridge.reconcile.service import RECONCILE_KIND, cancel_reconcile, plan_reconcile
from syncbridge.runs import repository
from syncbridge.runs.repository import SYNC_JOB, connection_key, job_dedupe_key
from syncbridge.runs.schemas import (
    RejectionOut,
    RunCreate,
    RunDetail,
    RunOut,
    RunStreamOut,
    ScoreRuleOut,
)
from syncbridge.scoring.repository import rule_results_of
from syncbridge.scoring.runs import SCORE_KIND, cancel_queued_score_job, queue_score_run
from syncbridge.store.paging import Page, PageParams, fetch_page
from syncbridge.sync.repository import FINISHED
from syncbridge.sync.runs import conclude, plan_run

log = get_logger(__name__)
ENTITY = "run"


async def start_run(
    session: AsyncSession,
    ctx: ConnectionContext,
    client: httpx.AsyncClient,
    body: RunCreate,
    *,
    actor: str,
) -> RunDetail:
    """Queue a sync run and its jobs, or a scoring run and its job (audited); raises
    ``NotFound`` for an unknown connection, ``Conflict`` for a disabled one and
    ``InvalidInput`` for an unknown stream."""
    if body.kind == "score":
        return await _start_score_run(session, body, actor=actor)
    if body.kind == RECONCILE_KIND:
        return await _start_reconcile_run(session, ctx, client, body, actor=actor)
    run, connections = await plan_run(
        session,
        ctx,
        client,
        connection_id=body.connection_id,
        full=body.full,
        streams=body.streams,
        requested_by=actor,
    )
    for connection_id in connections:
        await enqueue(
            session,
            SYNC_JOB,
            {"run_id": str(run.id), "connection_id": str(connection_id)},
            dedupe_key=job_dedupe_key(run.id, connection_id),
            concurrency_key=connection_key(connection_id),
        )
    if not connections:  # nothing to read: the run is over before it starts
        run = await conclude(session, run.id)
    await record(
        session,
        actor=actor,
        action="run.start",
        entity_type=ENTITY,
        entity_id=run.id,
        after=body.model_dump(mode="json"),
    )
    log.info("run.queued", run_id=str(run.id), connections=len(connections), full=body.full)
    return await show_run(session, run.id)


async def _start_score_run(session: AsyncSession, body: RunCreate, *, actor: str) -> RunDetail:
    run = await queue_score_run(session, requested_by=actor)
    await record(
        session,
        actor=actor,
        action="run.start",
        entity_type=ENTITY,
        entity_id=run.id,
        after=body.model_dump(mode="json", include={"kind"}),
    )
    log.info("run.queued", run_id=str(run.id), kind=run.kind)
    return await show_run(session, run.id)


async def _start_reconcile_run(
    session: AsyncSession,
    ctx: ConnectionContext,
    client: httpx.AsyncClient,
    body: RunCreate,
    *,
    actor: str,
) -> RunDetail:
    run = await plan_reconcile(
        session, ctx, client, connection_id=body.connection_id, requested_by=actor
    )
    after = body.model_dump(mode="json", include={"kind", "connection_id"})
    await record(
        session, actor=actor, action="run.start", entity_type=ENTITY, entity_id=run.id, after=after
    )
    log.info("run.queued", run_id=str(run.id), kind=run.kind)
    return await show_run(session, run.id)


async def cancel_run(session: AsyncSession, run_id: uuid.UUID, *, actor: str) -> RunDetail:
    """Cancel a run (audited): streams not started end ``cancelled`` now, as do the jobs no
    worker took yet; running streams stop at their next page boundary. A run with nothing
    running is ``cancelled`` at once. Raises ``NotFound``, and ``Conflict`` for a finished
    run. Asking again while the run stops changes nothing more."""
    run = await repository.locked_run(session, run_id)
    if run is None:
        raise NotFound(f"No run {run_id}.")
    if run.status in FINISHED:
        raise Conflict(
            f"Run {run_id} has already finished ({run.status}); there is nothing to cancel.",
            extra={"reason": "run_finished", "run_status": run.status},
        )
    if run.kind == SCORE_KIND:
        return await _cancel_score_run(session, run, actor=actor)
    if run.kind == RECONCILE_KIND:
        before = {"status": run.status, "cancel_requested_at": None}
        if await cancel_reconcile(session, run, actor=actor):
            asked = run.cancel_requested_at.isoformat() if run.cancel_requested_at else None
            after = {"status": run.status, "cancel_requested_at": asked}
            await record(
                session, actor=actor, action="run.cancel", entity_type=ENTITY,
                entity_id=run_id, before=before, after=after,
            )  # fmt: skip
        return await show_run(session, run_id)
    before = {"status": run.status, "cancel_requested_at": None}
    if run.cancel_requested_at is None:
        now = utcnow()
        asked = now.isoformat()
        run.cancel_requested_at, run.cancelled_by = now, actor
        await session.flush()
        await repository.cancel_queued_streams(session, run_id, now)
        await repository.cancel_queued_jobs(session, run_id, now)
        run = await conclude(session, run_id)
        await record(
            session,
            actor=actor,
            action="run.cancel",
            entity_type=ENTITY,
            entity_id=run_id,
            before=before,
            after={
                "status": run.status,
                "cancel_requested_at": asked,
            },
        )
        log.info("run.cancel_requested", run_id=str(run_id), status=run.status)
    return await show_run(session, run_id)


async def _cancel_score_run(session: AsyncSession, run: Run, *, actor: str) -> RunDetail:
    """A queued scoring run ends ``cancelled`` with its job; a running one runs to its end
    (its batches are short and each leaves the desired tags consistent): ``Conflict``."""
    if run.status != "queued":
        raise Conflict(
            f"Run {run.id} is scoring; a scoring run cannot be stopped once it runs.",
            extra={"reason": "run_running", "run_status": run.status},
        )
    now = utcnow()
    run.status, run.finished_at = "cancelled", now
    run.cancel_requested_at, run.cancelled_by = now, actor
    await session.flush()
    await cancel_queued_score_job(session, run.id, now)
    await record(
        session,
        actor=actor,
        action="run.cancel",
        entity_type=ENTITY,
        entity_id=run.id,
        before={"status": "queued", "cancel_requested_at": None},
        after={"status": "cancelled", "cancel_requested_at": now.isoformat()},
    )
    log.info("run.cancel_requested", run_id=str(run.id), status=run.status)
    return await show_run(session, run.id)


def _out(run: Run, streams: Sequence[RunStreamOut]) -> RunOut:
    return RunOut.model_validate(
        {**{k: getattr(run, k) for k in _RUN_FIELDS}, "streams": list(streams)}
    )


_RUN_FIELDS = tuple(name for name in RunOut.model_fields if name != "streams")


async def show_run(session: AsyncSession, run_id: uuid.UUID) -> RunDetail:
    """One run with its streams' counts and its kept rejections; raises ``NotFound``."""
    run = await session.get(Run, run_id, populate_existing=True)
    if run is None:
        raise NotFound(f"No run {run_id}.")
    streams = (await repository.streams_of(session, [run_id]))[run_id]
    rejections = await repository.rejections_of(session, run_id)
    scoring = await rule_results_of(session, run_id) if run.kind == SCORE_KIND else []
    return RunDetail.model_validate(
        {
            **{k: getattr(run, k) for k in _RUN_FIELDS},
            "streams": [RunStreamOut.model_validate(s) for s in streams],
            "rejections": [RejectionOut.model_validate(r) for r in rejections],
            "scoring": [ScoreRuleOut.model_validate(r) for r in scoring],
            "report": run.report,
        }
    )


async def list_runs(
    session: AsyncSession,
    paging: PageParams,
    *,
    connection_id: uuid.UUID | None = None,
    status: str | None = None,
    kind: str | None = None,
) -> Page[RunOut]:
    """One page of runs matching every filter given, newest first, with their streams."""
    statement = repository.runs_query(connection_id=connection_id, status=status, kind=kind)
    runs, total = await fetch_page(session, statement, paging)
    streams = await repository.streams_of(session, [r.id for r in runs])
    items = [_out(r, [RunStreamOut.model_validate(s) for s in streams[r.id]]) for r in runs]
    return Page.of(items, total, paging)
