"""Sync runs: a run and its streams are created (``queued``), then executed stream by stream.

:func:`create_run` and :func:`execute_run` are apart so that a job handler can execute (or,
after a crash, resume) a run from its id alone; :func:`run_sync` does both. A connection's
streams run one at a time; each stream's outcome is its own (a failing stream does not stop
the others) and the run fails when any of its streams failed.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from syncbridge.connections.service import ConnectionContext
from syncbridge.connector.types import StreamSpec
from syncbridge.errors import InvalidInput, NotFound
from syncbridge.logs import get_logger
from syncbridge.models import Connection, Run, RunStream
from syncbridge.models.base import utcnow
from syncbridge.store.unit_of_work import in_unit_of_work
from syncbridge.sync.repository import FINISHED
from syncbridge.sync.service import Sessionmaker, build_connector, describe, sync_stream

log = get_logger(__name__)


async def _connections(session: AsyncSession, connection_id: uuid.UUID | None) -> list[Connection]:
    if connection_id is not None:
        connection = await session.get(Connection, connection_id)
        if connection is None:
            raise NotFound(f"No connection {connection_id}.")
        return [connection]
    rows = await session.scalars(
        select(Connection).where(Connection.enabled.is_(True)).order_by(Connection.name)
    )
    return list(rows)


async def _streams_of(
    ctx: ConnectionContext, client: httpx.AsyncClient, connection: Connection
) -> list[StreamSpec]:
    connector = build_connector(ctx, connection, client)
    try:
        return list(connector.streams())
    finally:
        await connector.aclose()


async def create_run(
    sessionmaker: Sessionmaker,
    ctx: ConnectionContext,
    client: httpx.AsyncClient,
    *,
    connection_id: uuid.UUID | None,
    full: bool,
    streams: Sequence[str] | None,
    requested_by: str,
) -> uuid.UUID:
    """A queued sync run of one connection (or every enabled one) and its streams (all, or
    those named); raises ``NotFound`` for an unknown connection and ``InvalidInput`` for a
    stream name no chosen connection has."""
    connections = await in_unit_of_work(
        sessionmaker, lambda s: _connections(s, connection_id), write=False
    )
    chosen: list[tuple[Connection, StreamSpec]] = []
    for connection in connections:
        try:
            specs = await _streams_of(ctx, client, connection)
        except Exception as exc:
            if connection_id is not None:
                raise InvalidInput(f"Connection cannot be read: {describe(exc)}") from exc
            log.warning("sync.connection_skipped", connection_id=str(connection.id))
            continue
        chosen += [(connection, s) for s in specs if streams is None or s.name in streams]
    unknown = sorted(set(streams or ()) - {spec.name for _, spec in chosen})
    if unknown:
        raise InvalidInput(
            f"Unknown streams: {', '.join(unknown)}.",
            errors=[{"field": "streams", "reason": f"no stream '{name}'"} for name in unknown],
        )
    run = Run(
        id=uuid.uuid4(),
        kind="sync",
        connection_id=connection_id,
        full=full,
        status="queued",
        requested_by=requested_by,
        created_at=utcnow(),
    )

    async def write(session: AsyncSession) -> uuid.UUID:
        session.add(run)
        await session.flush()
        session.add_all(
            RunStream(run_id=run.id, connection_id=c.id, stream=s.name, entity=s.entity)
            for c, s in chosen
        )
        return run.id

    return await in_unit_of_work(sessionmaker, write)


async def _start(session: AsyncSession, run_id: uuid.UUID) -> tuple[Run, list[RunStream]]:
    run = await session.get(Run, run_id, with_for_update=True)
    if run is None:
        raise NotFound(f"No run {run_id}.")
    if run.status not in FINISHED:
        run.status = "running"
        run.started_at = run.started_at or utcnow()
    rows = await session.scalars(
        select(RunStream)
        .where(RunStream.run_id == run_id)
        .order_by(RunStream.connection_id, RunStream.stream)
    )
    return run, list(rows)


async def _conclude(session: AsyncSession, run_id: uuid.UUID) -> Run:
    run = await session.get(Run, run_id, with_for_update=True, populate_existing=True)
    if run is None:
        raise NotFound(f"No run {run_id}.")
    rows = list(await session.scalars(select(RunStream).where(RunStream.run_id == run_id)))
    failed = [r for r in rows if r.status == "failed"]
    run.status = "failed" if failed else "succeeded"
    run.error = "; ".join(f"{r.stream}: {r.error}" for r in failed)[:2000] if failed else None
    run.finished_at = utcnow()
    return run


async def execute_run(
    sessionmaker: Sessionmaker,
    ctx: ConnectionContext,
    client: httpx.AsyncClient,
    run_id: uuid.UUID,
) -> Run:
    """Run (or resume) the run ``run_id``: each unfinished stream from its last committed
    page, then the run's final status. Idempotent: a finished run is returned as it is.

    Store errors propagate and leave the run ``running``: executing it again resumes it.
    """
    run, rows = await in_unit_of_work(sessionmaker, lambda s: _start(s, run_id))
    if run.status in FINISHED:
        return run
    log.info("sync.run_started", run_id=str(run_id), full=run.full, streams=len(rows))
    for rs in rows:
        if rs.status in FINISHED:
            continue
        await sync_stream(
            sessionmaker,
            ctx,
            rs.connection_id,
            rs.stream,
            full=run.full,
            run_id=run_id,
            client=client,
        )
    run = await in_unit_of_work(sessionmaker, lambda s: _conclude(s, run_id))
    log.info("sync.run_finished", run_id=str(run_id), status=run.status)
    return run


async def run_sync(
    sessionmaker: Sessionmaker,
    ctx: ConnectionContext,
    client: httpx.AsyncClient,
    *,
    connection_id: uuid.UUID | None = None,
    full: bool = False,
    streams: Sequence[str] | None = None,
    requested_by: str,
) -> Run:
    """Create a sync run and execute it now (see :func:`create_run`, :func:`execute_run`)."""
    run_id = await create_run(
        sessionmaker,
        ctx,
        client,
        connection_id=connection_id,
        full=full,
        streams=streams,
        requested_by=requested_by,
    )
    return await execute_run(sessionmaker, ctx, client, run_id)


__all__ = ["create_run", "execute_run", "run_sync"]
