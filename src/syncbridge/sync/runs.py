"""Sync runs: a run and its streams are created (``queued``), then executed stream by stream.

:func:`create_run` and :func:`execute_run` are apart so that a job handler can execute (or,
after a crash, resume) a run from its id alone; :func:`run_sync` does both. A connection's
streams run one at a time; each stream's outcome is its own (a failing stream does not stop
the others) and the run fails when any of its streams failed.

:func:`plan_run` adds the rows in the caller's transaction, so ``POST /v1/runs`` writes the
run and its jobs together; a job may execute only one connection's streams of a run, and the
run finishes with its last stream (:func:`conclude`).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

import httpx
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession

from syncbridge.connections.service import ConnectionContext
from syncbridge.connector.types import StreamSpec
from syncbridge.errors import Conflict, InvalidInput, NotFound
from syncbridge.linking.pages import SharedIndex
from syncbridge.logs import get_logger
from syncbridge.metrics import triggers as metrics_triggers
from syncbridge.models import Connection, Run, RunStream
from syncbridge.models.base import utcnow
from syncbridge.store.unit_of_work import in_unit_of_work
from syncbridge.sync.repository import FINISHED
from syncbridge.sync.service import (
    MAX_ERROR,
    Sessionmaker,
    build_connector,
    describe,
    sync_stream,
)
from syncbridge.sync.settle import settle_run

log = get_logger(__name__)


async def enabled_connections(
    session: AsyncSession, connection_id: uuid.UUID | None, *, verb: str = "sync"
) -> list[Connection]:
    """The connection named (404 unknown, 409 disabled) or every enabled one (409 when there
    is none), for a run that will ``verb`` them (the word the errors use)."""
    if connection_id is not None:
        connection = await session.get(Connection, connection_id)
        if connection is None:
            raise NotFound(f"No connection {connection_id}.", extra={"reason": "no_connection"})
        if not connection.enabled:
            raise Conflict(
                f"Connection '{connection.name}' is disabled: enable it to {verb} it.",
                extra={"reason": "connection_disabled"},
            )
        return [connection]
    rows = await session.scalars(
        select(Connection).where(Connection.enabled.is_(True)).order_by(Connection.name)
    )
    connections = list(rows)
    if not connections:
        raise Conflict(
            f"No connection is enabled: there is nothing to {verb}.",
            extra={"reason": "no_enabled_connection"},
        )
    return connections


async def _streams_of(
    ctx: ConnectionContext, client: httpx.AsyncClient, connection: Connection
) -> list[StreamSpec]:
    connector = build_connector(ctx, connection, client)
    try:
        return list(connector.streams())
    finally:
        await connector.aclose()


async def _chosen(
    ctx: ConnectionContext,
    client: httpx.AsyncClient,
    connections: Sequence[Connection],
    streams: Sequence[str] | None,
    *,
    one: bool,
) -> list[tuple[Connection, StreamSpec]]:
    chosen: list[tuple[Connection, StreamSpec]] = []
    for connection in connections:
        try:
            specs = await _streams_of(ctx, client, connection)
        except Exception as exc:
            if one:
                raise InvalidInput(f"Connection cannot be read: {describe(exc)}") from exc
            log.warning("sync.connection_skipped", connection_id=str(connection.id))
            continue
        chosen += [(connection, s) for s in specs if streams is None or s.name in streams]
    unknown = sorted(set(streams or ()) - {spec.name for _, spec in chosen})
    if unknown:
        raise InvalidInput(
            f"Unknown streams: {', '.join(unknown)}.",
            errors=[{"field": "streams", "reason": f"no stream '{name}'"} for name in unknown],
            extra={"reason": "unknown_stream"},
        )
    return chosen


async def plan_run(
    session: AsyncSession,
    ctx: ConnectionContext,
    client: httpx.AsyncClient,
    *,
    connection_id: uuid.UUID | None,
    full: bool,
    streams: Sequence[str] | None,
    requested_by: str,
) -> tuple[Run, list[uuid.UUID]]:
    """Add a queued sync run of one connection (or every enabled one) and its streams (all,
    or those named) in ``session`` (flushed); returns it and the ids of its connections.

    Builds each connector to list its streams (no vendor call). Raises ``NotFound`` for an
    unknown connection, ``Conflict`` for a disabled one (or none enabled) and
    ``InvalidInput`` for a stream name no chosen connection has.
    """
    connections = await enabled_connections(session, connection_id)
    one = connection_id is not None
    chosen = await _chosen(ctx, client, connections, streams, one=one)
    run = Run(
        id=uuid.uuid4(),
        kind="sync",
        connection_id=connection_id,
        full=full,
        status="queued",
        requested_by=requested_by,
        created_at=utcnow(),
    )
    session.add(run)
    await session.flush()
    session.add_all(
        RunStream(run_id=run.id, connection_id=c.id, stream=s.name, entity=s.entity)
        for c, s in chosen
    )
    await session.flush()
    return run, list(dict.fromkeys(c.id for c, _ in chosen))


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
    """A queued sync run in a unit of work of its own (see :func:`plan_run`); its id."""

    async def write(session: AsyncSession) -> uuid.UUID:
        run, _connections = await plan_run(
            session,
            ctx,
            client,
            connection_id=connection_id,
            full=full,
            streams=streams,
            requested_by=requested_by,
        )
        return run.id

    return await in_unit_of_work(sessionmaker, write)


async def _start(
    session: AsyncSession, run_id: uuid.UUID, connection_id: uuid.UUID | None
) -> tuple[Run, list[RunStream]]:
    run = await session.get(Run, run_id, with_for_update=True)
    if run is None:
        raise NotFound(f"No run {run_id}.")
    if run.status not in FINISHED:
        run.status = "running"
        run.started_at = run.started_at or utcnow()
    statement = select(RunStream).where(RunStream.run_id == run_id)
    if connection_id is not None:
        statement = statement.where(RunStream.connection_id == connection_id)
    rows = await session.scalars(statement.order_by(RunStream.connection_id, RunStream.stream))
    # Asset streams first: a record stream read after every asset stream of its run has
    # finished is linked in its pages (syncbridge.linking.pages), not in a settle pass.
    return run, sorted(rows, key=lambda rs: rs.entity != "asset")


def run_outcome(streams: Sequence[RunStream]) -> tuple[str, str | None]:
    """A finished run's status and error from its streams: ``cancelled`` when a stream was
    cancelled, else ``failed`` when one failed (the error names each), else ``succeeded``."""
    failed = [r for r in streams if r.status == "failed"]
    error = "; ".join(f"{r.stream}: {r.error}" for r in failed)[:MAX_ERROR] if failed else None
    if any(r.status == "cancelled" for r in streams):
        return "cancelled", error
    return ("failed" if failed else "succeeded"), error


async def _streams_finished(session: AsyncSession, run_id: uuid.UUID) -> bool:
    unfinished = await session.scalar(
        select(RunStream.id)
        .where(RunStream.run_id == run_id, RunStream.status.not_in(FINISHED))
        .limit(1)
    )
    return unfinished is None


async def conclude(
    session: AsyncSession, run_id: uuid.UUID, settle_error: str | None = None
) -> Run:
    """Finish run ``run_id`` if every stream of it has finished (flushed); the run as it is.
    A ``settle_error`` (the streams landed, linking or classifying them failed) fails it.
    Finishing a run that started queues the computation of the metric facts its changes
    touch. Idempotent: a finished run is left as it is."""
    run = await session.get(Run, run_id, with_for_update=True, populate_existing=True)
    if run is None:
        raise NotFound(f"No run {run_id}.")
    if run.status in FINISHED:
        return run
    rows = list(
        await session.scalars(
            select(RunStream)
            .where(RunStream.run_id == run_id)
            .execution_options(populate_existing=True)
        )
    )
    if any(r.status not in FINISHED for r in rows):
        return run
    run.status, run.error = run_outcome(rows)
    if settle_error is not None:
        run.status = "failed" if run.status == "succeeded" else run.status
        run.error = "; ".join(filter(None, (run.error, settle_error)))[:MAX_ERROR]
    run.finished_at = utcnow()
    await session.flush()
    if run.started_at is not None:
        # Whatever the outcome: the pages a failed or cancelled run committed are in the
        # store (and linked), and no later run sees them as changed again.
        await metrics_triggers.run_finished(session, run.id)
    return run


async def execute_run(
    sessionmaker: Sessionmaker,
    ctx: ConnectionContext,
    client: httpx.AsyncClient,
    run_id: uuid.UUID,
    *,
    connection_id: uuid.UUID | None = None,
) -> Run:
    """Run (or resume) the run ``run_id`` (only its streams of ``connection_id`` when given):
    each unfinished stream from its last committed page; the run finishes with the last of
    its streams. Idempotent: a finished run is returned as it is.

    A stream of a run whose cancel was asked stops at its next page boundary (``cancelled``).
    Store errors propagate and leave the run ``running``: executing it again resumes it.
    """
    run, rows = await in_unit_of_work(sessionmaker, lambda s: _start(s, run_id, connection_id))
    if run.status in FINISHED:
        return run
    log.info("sync.run_started", run_id=str(run_id), full=run.full, streams=len(rows))
    shared = SharedIndex()  # the record streams linked in their pages share one index
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
            shared=shared,
        )
    del shared
    # The run finishes once what it read is linked and classified: whoever finishes its last
    # stream settles it first, so a finished run's trace is complete (settling is idempotent,
    # and a crash here leaves the run running for the job's retry).
    settle_error: str | None = None
    if await in_unit_of_work(sessionmaker, lambda s: _streams_finished(s, run_id), write=False):
        try:
            await settle_run(sessionmaker, run_id)
        except SQLAlchemyError:
            raise  # the store: the job retries, and settling again is harmless
        except Exception as exc:  # a defect in linking or classification fails the run
            log.exception("sync.settle_failed", run_id=str(run_id))
            settle_error = f"settling (linking, classification): {describe(exc)}"
    run = await in_unit_of_work(sessionmaker, lambda s: conclude(s, run_id, settle_error))
    if run.status in FINISHED:
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


__all__ = [
    "conclude",
    "create_run",
    "enabled_connections",
    "execute_run",
    "plan_run",
    "run_outcome",
    "run_sync",
]
