"""Applying a connection's pending events: the same store, link, classify, score and
write-back path as a sync, fed by fresh vendor state.

One ``inbox.process`` job per connection runs at a time (its concurrency key), so two events
of one object never race and a connection's events apply in the order they arrived. A job
takes the pending events in batches. Per batch:

1. the events are grouped by object: ten updates of one asset cost one fetch; an object
   whose last event is a deletion is tombstoned without a fetch;
2. fresh state is fetched from the vendor with no transaction open;
3. one fenced transaction (it commits only while the job holds its lease, so a worker that
   lost its lease changes nothing) writes the objects through the sync path's page writer
   (content hashes: an unchanged object, such as the echo of syncbridge's own write, is no
   change), records an ``events`` run with per-stream counts, and marks the events handled;
4. the run is settled (linking, classification) and concluded, which queues the metric
   facts, scoring and write-back exactly as a sync run's end does.

A failed fetch counts an attempt on the batch's events; a transient failure retries the job
with backoff, a permanent one (refused credentials, a disabled connection) makes the events
dead at once; an event out of attempts is dead with its last error, for an admin to replay.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import httpx
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession

from syncbridge.connections.service import ConnectionContext
from syncbridge.connector.errors import PermanentConnectorError
from syncbridge.connector.spec import Connector
from syncbridge.connector.types import Page, Record, Ref
from syncbridge.errors import describe_error
from syncbridge.inbox import metrics, repository
from syncbridge.inbox.service import queue_processing
from syncbridge.jobs.context import JobContext
from syncbridge.logs import get_logger
from syncbridge.models import Connection, Run, RunStream
from syncbridge.models.base import utcnow
from syncbridge.models.inbox import InboxEvent
from syncbridge.store.unit_of_work import in_unit_of_work
from syncbridge.sync import pages
from syncbridge.sync.calls import CallCount, counting_client
from syncbridge.sync.encoding import Encoded
from syncbridge.sync.pages import MAX_REJECTIONS_KEPT, Target
from syncbridge.sync.repository import ItemTable
from syncbridge.sync.runs import conclude
from syncbridge.sync.service import Sessionmaker, build_connector
from syncbridge.sync.settle import settle_run

log = get_logger(__name__)

#: Who the runs that apply events are requested by.
EVENTS_ACTOR = "system:inbox"

#: Outcomes recorded on handled events.
FETCHED = "fetched"
TOMBSTONED = "tombstoned"
NOT_FOUND = "not found at the vendor"
NOTHING_TO_FETCH = "nothing to fetch"
NOT_A_STREAM = "not a stream of the connection"


#: Outcome of an event applied from the item its payload carries (a reconciliation's read).
FROM_SNAPSHOT = "applied from the read that found it"
#: The key of an event's payload that carries the item as a read returned it.
SNAPSHOT_KEY = "record"


def snapshot(item: Encoded) -> dict[str, Any]:
    """An item as a read returned it, for an event's payload: its canonical JSON as text
    (payload values are made JSON-safe, which would flatten nested structures) and its
    vendor time."""
    updated = item.record.updated_at
    return {"text": item.text, "updated_at": updated.isoformat() if updated else None}


def from_snapshot(stream: str, external_id: str, payload: Mapping[str, Any]) -> Record | None:
    """The item an event's payload carries (see :func:`snapshot`), or None."""
    carried = payload.get(SNAPSHOT_KEY)
    if not isinstance(carried, Mapping) or not isinstance(carried.get("text"), str):
        return None
    try:
        data = json.loads(carried["text"])
        updated = carried.get("updated_at")
        at = datetime.fromisoformat(updated) if isinstance(updated, str) else None
    except ValueError:
        return None
    return Record(stream, external_id, data, at) if isinstance(data, dict) else None


@dataclass(frozen=True)
class ProcessPolicy:
    batch: int = 500
    max_attempts: int = 8


@dataclass
class ProcessReport:
    events: int = 0
    handled: int = 0
    dead: int = 0
    fetched: int = 0
    runs: list[uuid.UUID] = field(default_factory=list)


@dataclass
class _Object:
    stream: str
    external_id: str
    deleted: bool
    events: list[uuid.UUID]
    #: The item as the last event carries it (no fetch needed), if it does.
    carried: Record | None = None


@dataclass
class _Plan:
    objects: dict[tuple[str, str], _Object] = field(default_factory=dict)
    #: Events handled without touching the store, with their outcome.
    settled: dict[uuid.UUID, str] = field(default_factory=dict)


def plan(events: Sequence[InboxEvent], streams: Mapping[str, str]) -> _Plan:
    """Group events by object (arrival order: the last event of an object decides whether
    it is fetched or tombstoned)."""
    result = _Plan()
    for event in events:
        if event.external_id is None:
            result.settled[event.id] = NOTHING_TO_FETCH
            continue
        if event.stream not in streams:
            result.settled[event.id] = NOT_A_STREAM
            continue
        key = (event.stream, event.external_id)
        found = result.objects.get(key)
        if found is None:
            found = result.objects[key] = _Object(event.stream, event.external_id, False, [])
        found.deleted = event.action == "deleted"
        found.carried = None if found.deleted else from_snapshot(*key, event.payload)
        found.events.append(event.id)
    return result


async def process_connection(
    ctx: JobContext, connection_id: uuid.UUID, policy: ProcessPolicy
) -> ProcessReport:
    """Apply the connection's pending events until none is left (see the module docstring)."""
    sessionmaker = ctx.sessionmaker
    services = ctx.services
    await ctx.release_dedupe_key()
    report = ProcessReport()
    await _settle_left_over(sessionmaker, connection_id)
    while not ctx.stopping:
        events = await in_unit_of_work(
            sessionmaker, lambda s: repository.pending(s, connection_id, policy.batch), write=False
        )
        if not events:
            break
        report.events += len(events)
        await _apply(ctx, services.connections, services.http, connection_id, events, policy,
                     report)  # fmt: skip
    else:
        # The worker is stopping with events left: this job freed its key when it started,
        # so nothing else would pick them up. Hand them to a follow-up job.
        async def follow_up(session: AsyncSession) -> bool:
            if not await repository.pending(session, connection_id, 1):
                return False
            await queue_processing(session, [connection_id], delay_s=0)
            return True

        if await ctx.fenced(follow_up):
            log.info("inbox.follow_up_queued", connection_id=str(connection_id))
    return report


async def _apply(
    ctx: JobContext,
    connections: ConnectionContext,
    http: httpx.AsyncClient,
    connection_id: uuid.UUID,
    events: list[InboxEvent],
    policy: ProcessPolicy,
    report: ProcessReport,
) -> None:
    sessionmaker = ctx.sessionmaker
    ids = [e.id for e in events]
    connection = await in_unit_of_work(
        sessionmaker, lambda s: s.get(Connection, connection_id), write=False
    )
    if connection is None:  # deleted: its events went with it
        return
    key = connection.connector_key
    count = CallCount()
    async with counting_client(http, count) as client:
        connector: Connector | None = None
        try:
            if not connection.enabled:
                raise PermanentConnectorError(f"connection '{connection.name}' is disabled")
            connector = build_connector(connections, connection, client)
            streams = {s.name: s.entity for s in connector.streams()}
            todo = plan(events, streams)
            refs = [
                Ref(o.stream, o.external_id)
                for o in todo.objects.values()
                if not o.deleted and o.carried is None
            ]
            fetched = await connector.fetch(refs) if refs else []
        except Exception as exc:
            await _failed(ctx, key, ids, exc, policy, report)
            return
        finally:
            if connector is not None:
                await connector.aclose()
    calls, limited = count.take()
    report.fetched += len(refs)
    by_key = {(r.stream, r.external_id): r for r in fetched}
    outcomes = dict(todo.settled)
    records: dict[str, list[Record]] = {}
    for (stream, external_id), obj in todo.objects.items():
        if obj.deleted:
            records.setdefault(stream, []).append(Record(stream, external_id, {}, deleted=True))
            outcome = TOMBSTONED
        elif obj.carried is not None:
            records.setdefault(stream, []).append(obj.carried)
            outcome = FROM_SNAPSHOT
        else:
            record = by_key.get((stream, external_id))
            if record is None:
                outcome = NOT_FOUND
            else:
                records.setdefault(stream, []).append(record)
                outcome = FETCHED
        for event_id in obj.events:
            outcomes[event_id] = outcome

    async def write(session: AsyncSession) -> tuple[uuid.UUID | None, int]:
        now = utcnow()
        run_id: uuid.UUID | None = None
        if records:
            run = Run(
                id=uuid.uuid4(),
                kind="events",
                connection_id=connection_id,
                full=False,
                status="running",
                requested_by=EVENTS_ACTOR,
                created_at=now,
                started_at=now,
            )
            session.add(run)
            await session.flush()
            run_id = run.id
            first = True
            for stream, items in records.items():
                entity = streams[stream]
                target = Target(connection_id, stream, ItemTable.of(entity), run.id, full=False)
                counts = await pages.write(
                    session, target, pages.prepare(Page(items, None)), now,
                    keep=MAX_REJECTIONS_KEPT,
                )  # fmt: skip
                session.add(
                    RunStream(
                        run_id=run.id,
                        connection_id=connection_id,
                        stream=stream,
                        entity=entity,
                        status="succeeded",
                        pages=1,
                        vendor_calls=calls if first else 0,
                        rate_limited=limited if first else 0,
                        started_at=now,
                        finished_at=now,
                        **counts.as_dict(),
                    )
                )
                first = False
            await session.flush()
        handled = await repository.mark_handled(session, outcomes, run_id=run_id, now=now)
        return run_id, handled

    run_id, handled = await ctx.fenced(write)
    report.handled += handled
    metrics.events_processed.labels(key, "handled").inc(handled)
    if run_id is not None:
        report.runs.append(run_id)
        await settle(sessionmaker, run_id)
    log.info(
        "inbox.events_applied",
        connection_id=str(connection_id),
        events=len(events),
        objects=len(todo.objects),
        fetched=len(refs),
        run_id=str(run_id) if run_id else None,
    )


async def _failed(
    ctx: JobContext,
    connector_key: str,
    ids: list[uuid.UUID],
    exc: Exception,
    policy: ProcessPolicy,
    report: ProcessReport,
) -> None:
    """Count the failure on the events; re-raise a transient one (the job retries)."""
    permanent = isinstance(exc, PermanentConnectorError)
    error = describe_error(exc)

    async def record(session: AsyncSession) -> int:
        return await repository.record_failure(
            session, ids, error, max_attempts=policy.max_attempts, permanent=permanent,
            now=utcnow(),
        )  # fmt: skip

    dead = await ctx.fenced(record)
    report.dead += dead
    metrics.events_processed.labels(connector_key, "failed").inc(len(ids))
    if dead:
        metrics.events_processed.labels(connector_key, "dead").inc(dead)
    log.warning(
        "inbox.events_failed",
        connector=connector_key,
        events=len(ids),
        dead=dead,
        error=error,
        permanent=permanent,
    )
    if not permanent:
        raise exc


async def settle(sessionmaker: Sessionmaker, run_id: uuid.UUID) -> None:
    """Link and classify what an events run changed, then finish it (which queues the metric
    facts, then scoring and write-back). Idempotent."""
    settle_error: str | None = None
    try:
        await settle_run(sessionmaker, run_id)
    except SQLAlchemyError:
        raise  # the store: the job retries, and settling again is harmless
    except Exception as exc:  # a defect in linking or classification fails the run, as a sync
        log.exception("inbox.settle_failed", run_id=str(run_id))
        settle_error = f"settling (linking, classification): {describe_error(exc)}"
    await in_unit_of_work(sessionmaker, lambda s: conclude(s, run_id, settle_error))


async def _settle_left_over(sessionmaker: Sessionmaker, connection_id: uuid.UUID) -> None:
    """Settle the connection's events runs an earlier attempt committed but did not finish
    (it crashed between the commit and settling)."""

    async def left(session: AsyncSession) -> list[Any]:
        return list(
            await session.scalars(
                select(Run.id).where(
                    Run.kind == "events",
                    Run.connection_id == connection_id,
                    Run.status == "running",
                )
            )
        )

    for run_id in await in_unit_of_work(sessionmaker, left, write=False):
        await settle(sessionmaker, run_id)


__all__ = [
    "EVENTS_ACTOR",
    "ProcessPolicy",
    "ProcessReport",
    "from_snapshot",
    "plan",
    "process_connection",
    "settle",
    "snapshot",
]
