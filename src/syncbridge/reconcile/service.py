"""Queueing a reconciliation run and cancelling one. Services flush, never commit.

A reconciliation run (``kind = reconcile``) reads every asset stream of each enabled DAM
connection in full (or of the one connection asked for); its streams are added when it is
queued, with one ``reconcile.run`` job in the same transaction. Reconciliation jobs share a
concurrency key, so two never run at once.
"""

from __future__ import annotations

import uuid
from datetime import datetime

import httpx
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from syncbridge.connections.service import ConnectionContext
from syncbridge.jobs.service import enqueue
from syncbridge.logs import get_logger
from syncbridge.models import Connection, Run, RunStream
from syncbridge.models.base import utcnow
from syncbridge.models.jobs import Job, JobStatus
from syncbridge.models.store import RECONCILE_KIND
from syncbridge.sync.runs import enabled_connections
from syncbridge.sync.service import build_connector

log = get_logger(__name__)

RECONCILE_JOB = "reconcile.run"
CONCURRENCY_KEY = "reconcile"
#: System kinds of connectors whose connections reconciliation reads in full, or re-reads.
DAM = "dam"
REREAD_KINDS = ("crm", "analytics")


def job_dedupe_key(run_id: uuid.UUID) -> str:
    """The dedupe key of a reconciliation run's job."""
    return f"{RECONCILE_JOB}:{run_id}"


def system_kind(ctx: ConnectionContext, connection: Connection) -> str | None:
    """The connector's system kind (``dam``, ``crm``, ``analytics``); None when unknown."""
    try:
        return str(ctx.registry.get(connection.connector_key).kind)
    except Exception:  # a connector no longer installed: nothing to read there
        return None


async def _asset_streams(
    ctx: ConnectionContext, client: httpx.AsyncClient, connection: Connection
) -> list[str]:
    connector = build_connector(ctx, connection, client)
    try:
        return [s.name for s in connector.streams() if s.entity == "asset"]
    finally:
        await connector.aclose()


async def plan_reconcile(
    session: AsyncSession,
    ctx: ConnectionContext,
    client: httpx.AsyncClient,
    *,
    connection_id: uuid.UUID | None,
    requested_by: str,
    queue: bool = True,
) -> Run:
    """Add a queued reconciliation run, its streams (each enabled DAM connection's asset
    streams, or the one connection's) and, with ``queue``, its job in ``session`` (flushes;
    without ``queue`` the caller runs it, as a job without a run does). Builds
    connectors to list their streams (no vendor call). Raises ``NotFound`` for an unknown
    connection and ``Conflict`` for a disabled one (or none enabled)."""
    connections = await enabled_connections(session, connection_id, verb="reconcile")
    run = Run(
        id=uuid.uuid4(),
        kind=RECONCILE_KIND,
        connection_id=connection_id,
        full=True,
        status="queued",
        requested_by=requested_by,
        created_at=utcnow(),
    )
    session.add(run)
    await session.flush()
    for connection in connections:
        if system_kind(ctx, connection) != DAM:
            continue
        try:
            streams = await _asset_streams(ctx, client, connection)
        except Exception:
            if connection_id is not None:
                raise
            log.warning("reconcile.connection_skipped", connection_id=str(connection.id))
            continue
        session.add_all(
            RunStream(run_id=run.id, connection_id=connection.id, stream=s, entity="asset")
            for s in streams
        )
    await session.flush()
    if not queue:
        return run
    await enqueue(
        session,
        RECONCILE_JOB,
        {"run_id": str(run.id)},
        dedupe_key=job_dedupe_key(run.id),
        concurrency_key=CONCURRENCY_KEY,
    )
    log.info("reconcile.queued", run_id=str(run.id), connection_id=str(connection_id))
    return run


async def job_of(session: AsyncSession, run_id: uuid.UUID) -> Job | None:
    """The job of a reconciliation run."""
    return await session.scalar(select(Job).where(Job.dedupe_key == job_dedupe_key(run_id)))


async def cancel_reconcile(session: AsyncSession, run: Run, *, actor: str) -> bool:
    """Cancel a reconciliation run (flushes): a queued one ends ``cancelled`` at once with
    its job; a running one stops at its next page (``cancel_requested_at``). Returns whether
    anything changed (asking again changes nothing)."""
    if run.cancel_requested_at is not None:
        return False
    now = utcnow()
    run.cancel_requested_at, run.cancelled_by = now, actor
    if run.status == "queued":
        run.status, run.finished_at = "cancelled", now
        await _end_queued(session, run.id, now)
    await session.flush()
    return True


async def _end_queued(session: AsyncSession, run_id: uuid.UUID, now: datetime) -> None:
    await session.execute(
        update(RunStream)
        .where(RunStream.run_id == run_id, RunStream.status.in_(("queued", "running")))
        .values(status="cancelled", finished_at=now)
        .execution_options(synchronize_session=False)
    )
    await session.execute(
        update(Job)
        .where(Job.dedupe_key == job_dedupe_key(run_id), Job.status == JobStatus.queued.value)
        .values(status=JobStatus.cancelled.value, finished_at=now, updated_at=now)
        .execution_options(synchronize_session=False)
    )


__all__ = [
    "CONCURRENCY_KEY",
    "RECONCILE_JOB",
    "RECONCILE_KIND",
    "REREAD_KINDS",
    "cancel_reconcile",
    "job_dedupe_key",
    "job_of",
    "plan_reconcile",
    "system_kind",
]
