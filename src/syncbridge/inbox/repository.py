"""The queries of the inbox (``inbox_events``)."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

import msgspec
from sqlalchemy import Select, Table, delete, func, select, type_coerce, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from syncbridge.jobs.repository import LIVE_KEY_PREDICATE
from syncbridge.jobs.wakeup import CHANNEL
from syncbridge.models import Connection
from syncbridge.models.inbox import EventStatus, InboxEvent
from syncbridge.models.jobs import JobStatus

_NO_SYNC: dict[str, Any] = {"synchronize_session": False}

#: Runs one statement with positional parameters and gives its first row (the driver's
#: ``fetchrow``, as ``receiver`` calls it).
FetchRow = Callable[..., Awaitable[Sequence[Any]]]


#: The insert of inbox rows per dialect: built once, so its compiled form is cached and a
#: batch of any size reuses it (executemany; SQLAlchemy sends the rows as multi-row VALUES).
_INSERTS: dict[str, Any] = {}


def _insert_statement(dialect: str) -> Any:
    statement = _INSERTS.get(dialect)
    if statement is None:
        insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        # Core, not the ORM's bulk insert: the rows are plain values already.
        table = cast(Table, InboxEvent.__table__)
        statement = _INSERTS[dialect] = (
            insert(table)
            .on_conflict_do_nothing(index_elements=[table.c.connection_id, table.c.delivery_key])
            .returning(table.c.id)
        )
    return statement


async def insert_events(session: AsyncSession, rows: Sequence[Mapping[str, Any]]) -> set[uuid.UUID]:
    """Insert events, skipping those whose (connection, delivery key) the inbox holds; the
    ids of the rows inserted. Each row carries every column (see ``receiver.event_rows``)."""
    if not rows:
        return set()
    statement = _insert_statement(session.get_bind().dialect.name)
    result = await session.execute(statement, list(rows))
    return set(result.scalars().all())


#: :func:`insert_events` and the processing jobs of the connections that got a new one
#: (``service.queue_processing``) as one PostgreSQL statement: the rows and the jobs each one
#: JSON parameter (``json_to_recordset``), a job inserted only for a connection that got a new
#: row and only when no live job holds its dedupe key. Through the session the same work took
#: a dozen statements' compiling and binding, row by row: about four times the CPU per
#: delivery of a group commit of 16, the largest share of what a delivery cost the API process
#: (B1); binding the values column by column as arrays still cost the API process more than
#: encoding them as one JSON text, which the database parses instead.
_PG_STORE_BATCH = f"""
WITH new AS (
    INSERT INTO inbox_events (id, connection_id, delivery_key, stream, external_id, action,
        occurred_at, payload, status, attempts, received_at, replays)
    SELECT * FROM json_to_recordset($1::json) AS e(id uuid, connection_id uuid,
        delivery_key text, stream text, external_id text, action text,
        occurred_at timestamptz, payload jsonb, status text, attempts integer,
        received_at timestamptz, replays integer)
    ON CONFLICT (connection_id, delivery_key) DO NOTHING
    RETURNING id, connection_id
), queued AS (
    INSERT INTO jobs (id, kind, payload, dedupe_key, max_attempts, concurrency_key, status,
        attempts, run_after, created_at, updated_at)
    SELECT j.id, j.kind, j.payload, j.dedupe_key, j.max_attempts, j.concurrency_key, $3,
        0, $4, $5, $5
    FROM json_to_recordset($2::json) AS j(id uuid, connection_id uuid, kind text,
        payload jsonb, dedupe_key text, max_attempts integer, concurrency_key text)
    WHERE j.connection_id IN (SELECT connection_id FROM new)
    ON CONFLICT (dedupe_key) WHERE {LIVE_KEY_PREDICATE} DO NOTHING
    RETURNING id
)
SELECT (SELECT coalesce(array_agg(id), '{{}}') FROM new),
    (SELECT count(*) FROM (SELECT pg_notify($6, '') FROM queued WHERE $7 LIMIT 1) AS woke)
"""

#: The JSON of the statement's rows: uuids and datetimes as text (``receiver.event_rows``
#: gives datetimes in UTC, which ``timestamptz`` reads exactly).
_encode = msgspec.json.Encoder().encode


async def store_batch_pg(
    fetchrow: FetchRow,
    rows: Sequence[Mapping[str, Any]],
    jobs: Sequence[Mapping[str, Any]],
    *,
    run_after: datetime,
    now: datetime,
    announce: bool,
) -> set[uuid.UUID]:
    """On PostgreSQL, as one statement (atomic on its own: ``fetchrow`` runs it on an
    autocommit connection): insert ``rows`` as :func:`insert_events` does and, for each
    connection of ``jobs`` (``service.process_job`` values with ``id`` and ``connection_id``)
    that got a new row, its job as ``jobs.repository.insert_job`` does, due at ``run_after``;
    with ``announce``, wake idle workers at the commit when a job was queued (as
    ``jobs.repository.announce`` does). Datetimes must be in UTC. The ids of the rows inserted."""
    row = await fetchrow(
        _PG_STORE_BATCH,
        _encode(rows).decode(),
        _encode(jobs).decode(),
        JobStatus.queued.value,
        run_after,
        now,
        CHANNEL,
        announce,
    )
    return set(row[0])


async def pending(session: AsyncSession, connection_id: uuid.UUID, limit: int) -> list[InboxEvent]:
    """A connection's pending events, oldest first (at most ``limit``)."""
    statement = (
        select(InboxEvent)
        .where(
            InboxEvent.connection_id == connection_id,
            InboxEvent.status == EventStatus.pending.value,
        )
        .order_by(InboxEvent.received_at, InboxEvent.id)
        .limit(limit)
        .execution_options(populate_existing=True)
    )
    return list(await session.scalars(statement))


async def mark_handled(
    session: AsyncSession,
    outcomes: Mapping[uuid.UUID, str],
    *,
    run_id: uuid.UUID | None,
    now: datetime,
) -> int:
    """Mark pending events handled, each with its outcome; how many were."""
    by_outcome: dict[str, list[uuid.UUID]] = {}
    for event_id, outcome in outcomes.items():
        by_outcome.setdefault(outcome, []).append(event_id)
    done = 0
    for outcome, ids in by_outcome.items():
        result = await session.execute(
            update(InboxEvent)
            .where(InboxEvent.id.in_(ids), InboxEvent.status == EventStatus.pending.value)
            .values(
                status=EventStatus.handled.value,
                outcome=outcome,
                handled_at=now,
                run_id=run_id,
                last_error=None,
            )
            .execution_options(**_NO_SYNC)
        )
        done += int(getattr(result, "rowcount", 0) or 0)
    return done


async def record_failure(
    session: AsyncSession,
    ids: Sequence[uuid.UUID],
    error: str,
    *,
    max_attempts: int,
    permanent: bool,
    now: datetime,
) -> int:
    """Count a failed attempt on pending events; those out of attempts (all of them when the
    failure is ``permanent``) are dead. Returns how many died."""
    if not ids:
        return 0
    await session.execute(
        update(InboxEvent)
        .where(InboxEvent.id.in_(ids), InboxEvent.status == EventStatus.pending.value)
        .values(attempts=InboxEvent.attempts + 1, last_error=error)
        .execution_options(**_NO_SYNC)
    )
    dying = InboxEvent.id.in_(ids) & (InboxEvent.status == EventStatus.pending.value)
    if not permanent:
        dying = dying & (InboxEvent.attempts >= max_attempts)
    result = await session.execute(
        update(InboxEvent)
        .where(dying)
        .values(status=EventStatus.dead.value, handled_at=now)
        .execution_options(**_NO_SYNC)
    )
    return int(getattr(result, "rowcount", 0) or 0)


def events_query(
    *,
    connection_id: uuid.UUID | None = None,
    status: str | None = None,
    action: str | None = None,
    stream: str | None = None,
    external_id: str | None = None,
    received_from: datetime | None = None,
    received_to: datetime | None = None,
) -> Select[Any]:
    """Events matching the filters, newest first."""
    statement = select(InboxEvent)
    if connection_id is not None:
        statement = statement.where(InboxEvent.connection_id == connection_id)
    if status is not None:
        statement = statement.where(InboxEvent.status == status)
    if action is not None:
        statement = statement.where(InboxEvent.action == action)
    if stream is not None:
        statement = statement.where(InboxEvent.stream == stream)
    if external_id is not None:
        statement = statement.where(InboxEvent.external_id == external_id)
    if received_from is not None:
        statement = statement.where(InboxEvent.received_at >= received_from)
    if received_to is not None:
        statement = statement.where(InboxEvent.received_at < received_to)
    return statement.order_by(InboxEvent.received_at.desc(), InboxEvent.id.desc())


async def make_pending(
    session: AsyncSession, *, ids: Sequence[uuid.UUID] | None = None, **filters: Any
) -> list[tuple[uuid.UUID, uuid.UUID]]:
    """Make events pending again (a replay): attempts and error cleared, ``replays`` counted.
    Either the ``ids`` given or every event matching ``filters`` (see :func:`events_query`).
    Returns ``(id, connection_id)`` of the events replayed."""
    chosen = events_query(**filters).with_only_columns(InboxEvent.id).order_by(None)
    if ids is not None:
        chosen = chosen.where(InboxEvent.id.in_(ids))
    chosen = chosen.where(InboxEvent.status != EventStatus.pending.value)
    statement = (
        update(InboxEvent)
        .where(InboxEvent.id.in_(chosen.scalar_subquery()))
        .values(
            status=EventStatus.pending.value,
            attempts=0,
            last_error=None,
            handled_at=None,
            outcome=None,
            replays=InboxEvent.replays + 1,
        )
        .returning(InboxEvent.id, InboxEvent.connection_id)
        .execution_options(**_NO_SYNC)
    )
    return [(row[0], row[1]) for row in await session.execute(statement)]


async def prune(session: AsyncSession, before: datetime, limit: int) -> int:
    """Delete at most ``limit`` handled events handled before ``before``; how many."""
    doomed = (
        select(InboxEvent.id)
        .where(InboxEvent.status == EventStatus.handled.value, InboxEvent.handled_at < before)
        .limit(limit)
        .scalar_subquery()
    )
    result = await session.execute(
        delete(InboxEvent).where(InboxEvent.id.in_(doomed)).execution_options(**_NO_SYNC)
    )
    return int(getattr(result, "rowcount", 0) or 0)


@dataclass(frozen=True)
class Depth:
    """Pending events per connector, and the oldest pending event's receipt time."""

    pending: dict[str, int]
    oldest: datetime | None
    dead: int


async def depth(session: AsyncSession) -> Depth:
    """How deep the inbox is (pending by connector, oldest pending, dead)."""
    rows = await session.execute(
        select(
            Connection.connector_key,
            func.count(),
            type_coerce(func.min(InboxEvent.received_at), InboxEvent.received_at.type),
        )
        .join(Connection, Connection.id == InboxEvent.connection_id)
        .where(InboxEvent.status == EventStatus.pending.value)
        .group_by(Connection.connector_key)
    )
    pending: dict[str, int] = {}
    oldest: datetime | None = None
    for row in rows.all():
        key, count, first = str(row[0]), int(row[1]), row[2]
        pending[key] = count
        if isinstance(first, datetime) and (oldest is None or first < oldest):
            oldest = first
    dead = await session.scalar(
        select(func.count())
        .select_from(InboxEvent)
        .where(InboxEvent.status == EventStatus.dead.value)
    )
    return Depth(pending=pending, oldest=oldest, dead=int(dead or 0))


__all__ = [
    "Depth",
    "depth",
    "events_query",
    "insert_events",
    "make_pending",
    "mark_handled",
    "pending",
    "prune",
    "record_failure",
    "store_batch_pg",
]
