"""Running a reconciliation: the full read of each DAM asset stream compared with the store,
page by page; differences fed to the inbox; owned-tag drift reopened for planning; CRM and
analytics connections re-read over their late-data window; the report.

Per page: the connector's page is read with no transaction open; one read transaction
fetches what the store holds of the page's assets (a few batched statements); the verdict
is pure (:mod:`syncbridge.reconcile.compare`); one write transaction inserts the page's
inbox events (``reconcile:<run>:<stream>:<external id>``, so a retried run adds nothing
twice; a drifted asset whose stored copy differs in owned fields only gets an ``updated``
event too, not counted as a change, so the copy the repair is computed from is the read's),
queues their processing, reopens the drifted write-back states, and counts the
page on the run stream (its progress; a cancel asked of the run is seen there). The store's
assets are changed only by the inbox's processing, the same path as a webhook's.

A stream read to its end then lists the store's live assets it did not see: those are
``deleted`` events (assets the store wrote while the read went on are left out). A stream
whose read failed reports no missing assets. Once every stream is done, one transaction
plans the repair write-backs (:func:`syncbridge.writeback.service.plan_writebacks`, the one
planning path), queues an incremental sync of each CRM and analytics connection (their
reads look back over the late-data window) and writes the report.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import aclosing
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Any

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from syncbridge.connections.service import ConnectionContext
from syncbridge.connector.spec import Connector
from syncbridge.connector.types import Page, WebhookEvent
from syncbridge.errors import NotFound
from syncbridge.inbox.processing import snapshot
from syncbridge.inbox.receiver import event_rows
from syncbridge.inbox.repository import insert_events
from syncbridge.inbox.service import queue_processing
from syncbridge.jobs.service import enqueue
from syncbridge.logs import get_logger
from syncbridge.models import Connection, Run, RunStream
from syncbridge.models.base import utcnow
from syncbridge.reconcile import repository
from syncbridge.reconcile.compare import PageVerdict, judge
from syncbridge.reconcile.report import ConnectionDrift, Report
from syncbridge.reconcile.service import REREAD_KINDS, system_kind
from syncbridge.runs.repository import SYNC_JOB, connection_key
from syncbridge.runs.repository import job_dedupe_key as sync_job_key
from syncbridge.store.unit_of_work import in_unit_of_work
from syncbridge.sync import pages
from syncbridge.sync.calls import CallCount, counting_client
from syncbridge.sync.encoding import Encoded
from syncbridge.sync.repository import FINISHED
from syncbridge.sync.runs import plan_run
from syncbridge.sync.service import MAX_ERROR, Sessionmaker, build_connector, describe
from syncbridge.writeback.repository import is_dry_run
from syncbridge.writeback.service import plan_writebacks

log = get_logger(__name__)

#: Who the re-read sync runs are requested by (the reconciliation run's id follows).
REREAD_ACTOR = "reconcile"


@dataclass(frozen=True)
class ReconcilePolicy:
    """How drift is judged: a state confirmed less than ``drift_grace_s`` before a page was
    read is not (a DAM may apply an accepted write a moment later, as Bynder does)."""

    drift_grace_s: float = 60.0


@dataclass
class _Stream:
    """One stream being reconciled."""

    run_id: uuid.UUID
    connection: Connection
    stream: str
    stamp: str | None
    drift: ConnectionDrift


async def _start(session: AsyncSession, run_id: uuid.UUID) -> tuple[Run, list[RunStream]]:
    run = await session.get(Run, run_id, with_for_update=True, populate_existing=True)
    if run is None:
        raise NotFound(f"No run {run_id}.")
    rows = list(
        await session.scalars(
            select(RunStream)
            .where(RunStream.run_id == run_id)
            .order_by(RunStream.connection_id, RunStream.stream)
            .execution_options(populate_existing=True)
        )
    )
    if run.status in FINISHED:
        return run, rows
    run.status, run.started_at = "running", run.started_at or utcnow()
    for rs in rows:  # an earlier attempt's counts start again: its events stay deduplicated
        if rs.status != "cancelled":
            rs.status, rs.started_at, rs.finished_at, rs.error = "queued", None, None, None
            rs.pages = rs.read = rs.inserted = rs.updated = rs.unchanged = rs.deleted = 0
            rs.vendor_calls = rs.rate_limited = 0
    await session.flush()
    return run, rows


async def execute_reconcile(
    sessionmaker: Sessionmaker,
    ctx: ConnectionContext,
    http: httpx.AsyncClient,
    run_id: uuid.UUID,
    *,
    policy: ReconcilePolicy | None = None,
) -> Run:
    """Run (or run again, after a crash) reconciliation run ``run_id``; returns it finished.
    Idempotent: a finished run is returned as it is; a run again inserts no event twice."""
    policy = policy or ReconcilePolicy()
    run, rows = await in_unit_of_work(sessionmaker, lambda s: _start(s, run_id))
    if run.status in FINISHED:
        return run
    log.info("reconcile.started", run_id=str(run_id), streams=len(rows))
    report = Report()
    by_connection: dict[uuid.UUID, list[RunStream]] = {}
    for rs in rows:
        by_connection.setdefault(rs.connection_id, []).append(rs)
    cancelled = False
    for connection_id, streams in by_connection.items():
        if cancelled:
            break
        cancelled = await _connection(
            sessionmaker, ctx, http, run_id, connection_id, streams, report, policy
        )
    return await in_unit_of_work(
        sessionmaker,
        lambda s: _finish(s, ctx, http, run_id, report, cancelled=cancelled),
    )


async def _connection(
    sessionmaker: Sessionmaker,
    ctx: ConnectionContext,
    http: httpx.AsyncClient,
    run_id: uuid.UUID,
    connection_id: uuid.UUID,
    streams: list[RunStream],
    report: Report,
    policy: ReconcilePolicy,
) -> bool:
    """Reconcile one DAM connection's streams; whether a cancel stopped it."""
    connection = await in_unit_of_work(
        sessionmaker, lambda s: s.get(Connection, connection_id), write=False
    )
    if connection is None:
        return False
    drift = report.of(connection_id, connection.name)
    count = CallCount()
    async with counting_client(http, count) as client:
        connector: Connector | None = None
        try:
            if not connection.enabled:
                raise RuntimeError(f"connection '{connection.name}' is disabled")
            connector = build_connector(ctx, connection, client)
            specs = {s.name: s for s in connector.streams()}
        except Exception as exc:
            drift.status, drift.error = "failed", describe(exc)
            await _end_streams(sessionmaker, [rs.id for rs in streams], drift.error)
            if connector is not None:
                await connector.aclose()
            return False
        try:
            for rs in streams:
                if rs.status == "cancelled":
                    continue
                spec = specs.get(rs.stream)
                target = _Stream(
                    run_id, connection, rs.stream, spec.cursor_field if spec else None, drift
                )
                if await _stream(sessionmaker, connector, target, rs.id, count, report, policy):
                    return True
        finally:
            await connector.aclose()
    return False


async def _pages(connector: Connector, stream: str) -> AsyncIterator[tuple[datetime, Page]]:
    """The stream's full read, each page with the time it was asked for."""
    reader = connector.read(stream, None)
    async with aclosing(reader):  # type: ignore[type-var]
        while True:
            asked = utcnow()
            try:
                page = await anext(reader)
            except StopAsyncIteration:
                return
            yield asked, page


async def _stream(
    sessionmaker: Sessionmaker,
    connector: Connector,
    target: _Stream,
    rs_id: uuid.UUID,
    count: CallCount,
    report: Report,
    policy: ReconcilePolicy,
) -> bool:
    """Reconcile one stream; whether a cancel stopped it."""
    connection = target.connection
    owned = await in_unit_of_work(
        sessionmaker,
        lambda s: repository.owned_fields(s, connection, target.stamp),
        write=False,
    )
    judge_drift = not is_dry_run(connection)
    started = utcnow()
    seen: set[str] = set()
    first = True
    try:
        async for asked, page in _pages(connector, target.stream):
            calls = count.take()
            prepared = pages.prepare(page)
            seen.update(prepared.live)
            seen.update(prepared.gone)
            hashes = {k: item.hash for k, item in prepared.live.items()}
            gone = list(prepared.gone)
            read_store = partial(
                repository.page_store, connection_id=connection.id, live=hashes, gone=gone
            )
            store = await in_unit_of_work(sessionmaker, read_store, write=False)
            before = asked - timedelta(seconds=policy.drift_grace_s)
            verdict = judge(
                prepared.live, gone, store, owned, drift_before=before if judge_drift else None
            )
            total = page.total if first else None
            first = False
            commit = _page_commit(
                target, rs_id, verdict, prepared.live, prepared.read, calls, total
            )
            stop, events, reopened = await in_unit_of_work(sessionmaker, commit)
            _count(report, target, verdict, prepared.read, calls)
            report.events += events
            report.states_reopened += reopened
            if stop:
                await _end_streams(sessionmaker, [rs_id], None, status="cancelled")
                return True
    except Exception as exc:  # the vendor read gave up (after the connector's own retries)
        target.drift.status, target.drift.error = "failed", describe(exc)
        log.warning("reconcile.stream_failed", stream=target.stream, error=target.drift.error)
        await _end_streams(sessionmaker, [rs_id], target.drift.error, calls=_tail(count, target))
        return False
    await _missing(sessionmaker, target, rs_id, seen, started, report)
    await _end_streams(sessionmaker, [rs_id], None, calls=_tail(count, target))
    return False


def _tail(count: CallCount, target: _Stream) -> tuple[int, int]:
    """The calls made since the last page (the read's end), counted for the connection."""
    calls = count.take()
    target.drift.vendor_calls += calls[0]
    return calls


def _events(
    target: _Stream,
    action: str,
    external_ids: list[str],
    now: datetime,
    read: Mapping[str, Encoded] | None = None,
) -> list[dict[str, Any]]:
    """Inbox rows of one kind of difference. A new or changed asset's event carries what the
    full read returned (``payload.record``), so processing applies it without fetching the
    asset again (QUALITY B3: the calls stay the read's pages and the writes)."""
    base = {"source": "reconcile", "run_id": str(target.run_id)}
    return event_rows(
        target.connection.id,
        [
            WebhookEvent(
                f"reconcile:{target.run_id}:{target.stream}:{external_id}",
                target.stream,
                external_id,
                action,
                occurred_at=now,
                payload=base if read is None else {**base, "record": snapshot(read[external_id])},
            )
            for external_id in external_ids
        ],
    )


async def _queue_events(session: AsyncSession, target: _Stream, rows: list[dict[str, Any]]) -> int:
    inserted = await insert_events(session, rows)
    if inserted:
        await queue_processing(session, [target.connection.id], delay_s=0)
    return len(inserted)


def _page_commit(
    target: _Stream,
    rs_id: uuid.UUID,
    verdict: PageVerdict,
    live: Mapping[str, Encoded],
    read: int,
    calls: tuple[int, int],
    total: int | None,
) -> Callable[[AsyncSession], Awaitable[tuple[bool, int, int]]]:
    """The page's write: its events, its reopened states, its counts. Answers whether a
    cancel was asked of the run, the events inserted and the states reopened."""

    async def work(session: AsyncSession) -> tuple[bool, int, int]:
        now = utcnow()
        rows = (
            _events(target, "created", verdict.new, now, live)
            + _events(target, "updated", verdict.changed, now, live)
            + _events(target, "updated", verdict.refresh, now, live)
            + _events(target, "deleted", verdict.gone, now)
        )
        events = await _queue_events(session, target, rows)
        reopened = await repository.reopen_drifted(session, target.connection.id, verdict.drift)
        rs = await session.get(RunStream, rs_id, populate_existing=True)
        assert rs is not None
        if rs.status == "queued":
            rs.status, rs.started_at = "running", now
        if total is not None:
            rs.expected = total
        rs.pages += 1
        rs.read += read
        rs.inserted += len(verdict.new)
        rs.updated += len(verdict.changed)
        rs.deleted += len(verdict.gone)
        rs.unchanged += verdict.unchanged
        rs.vendor_calls += calls[0]
        rs.rate_limited += calls[1]
        asked = await session.scalar(select(Run.cancel_requested_at).where(Run.id == target.run_id))
        return asked is not None, events, reopened

    return work


def _count(
    report: Report, target: _Stream, verdict: PageVerdict, read: int, calls: tuple[int, int]
) -> None:
    """Add a committed page to the report (after its commit: a unit of work retried after a
    deadlock runs its work again)."""
    drift, stream = target.drift, target.stream
    report.found(drift, stream, "new", verdict.new)
    report.found(drift, stream, "changed", verdict.changed)
    report.found(drift, stream, "missing", verdict.gone)
    report.found(drift, stream, "tag_drift", [d.external_id for d in verdict.drift])
    drift.read += read
    drift.vendor_calls += calls[0]
    report.rate_limited += calls[1]


async def _missing(
    sessionmaker: Sessionmaker,
    target: _Stream,
    rs_id: uuid.UUID,
    seen: set[str],
    started: datetime,
    report: Report,
) -> None:
    """Feed the stream's live assets the read did not see to the inbox as deletions."""
    batches = repository.live_ids(
        sessionmaker, target.connection.id, target.stream, unchanged_since=started
    )
    async for batch in batches:
        missing = [external_id for external_id in batch if external_id not in seen]
        if not missing:
            continue

        async def write(session: AsyncSession, missing: list[str] = missing) -> int:
            events = await _queue_events(
                session, target, _events(target, "deleted", missing, utcnow())
            )
            rs = await session.get(RunStream, rs_id, populate_existing=True)
            assert rs is not None
            rs.deleted += len(missing)
            return events

        report.events += await in_unit_of_work(sessionmaker, write)
        report.found(target.drift, target.stream, "missing", missing)


async def _end_streams(
    sessionmaker: Sessionmaker,
    ids: list[uuid.UUID],
    error: str | None,
    *,
    status: str | None = None,
    calls: tuple[int, int] = (0, 0),
) -> None:
    async def work(session: AsyncSession) -> None:
        now = utcnow()
        for rs_id in ids:
            rs = await session.get(RunStream, rs_id, populate_existing=True)
            if rs is None or rs.status in FINISHED:
                continue
            rs.status = status or ("failed" if error else "succeeded")
            rs.error = error
            rs.started_at = rs.started_at or now
            rs.finished_at = now
            rs.vendor_calls += calls[0]
            rs.rate_limited += calls[1]

    await in_unit_of_work(sessionmaker, work)


async def _rereads(
    session: AsyncSession,
    ctx: ConnectionContext,
    http: httpx.AsyncClient,
    run: Run,
    report: Report,
) -> None:
    """Queue an incremental sync run of each CRM and analytics connection reconciled: their
    incremental reads start before their cursor (a look-back window), so late and revised
    rows are read again, and unchanged ones cost nothing in the store."""
    statement = select(Connection).where(Connection.enabled.is_(True))
    if run.connection_id is not None:
        statement = statement.where(Connection.id == run.connection_id)
    for connection in await session.scalars(statement.order_by(Connection.name)):
        kind = system_kind(ctx, connection)
        if kind not in REREAD_KINDS:
            continue
        sync, connections = await plan_run(
            session, ctx, http, connection_id=connection.id, full=False, streams=None,
            requested_by=f"{REREAD_ACTOR}:{run.id}",
        )  # fmt: skip
        for connection_id in connections:
            await enqueue(
                session,
                SYNC_JOB,
                {"run_id": str(sync.id), "connection_id": str(connection_id)},
                dedupe_key=sync_job_key(sync.id, connection_id),
                concurrency_key=connection_key(connection_id),
            )
        report.rereads[str(kind)].append(str(sync.id))


async def _finish(
    session: AsyncSession,
    ctx: ConnectionContext,
    http: httpx.AsyncClient,
    run_id: uuid.UUID,
    report: Report,
    *,
    cancelled: bool,
) -> Run:
    run = await session.get(Run, run_id, with_for_update=True, populate_existing=True)
    if run is None:
        raise NotFound(f"No run {run_id}.")
    report.rereads = {kind: [] for kind in REREAD_KINDS}  # this unit of work may run again
    if report.states_reopened:
        planned = await plan_writebacks(session, run_id=run_id)
        report.writebacks_planned = planned.total
    if not cancelled:
        await _rereads(session, ctx, http, run, report)
    failed = [c for c in report.connections.values() if c.status == "failed"]
    run.status = "cancelled" if cancelled else "failed" if failed else "succeeded"
    run.error = "; ".join(f"{c.name}: {c.error}" for c in failed)[:MAX_ERROR] or None
    run.finished_at = utcnow()
    run.report = report.as_json()
    await session.flush()
    log.info("reconcile.finished", run_id=str(run_id), status=run.status, **report.counts())
    return run


__all__ = ["REREAD_ACTOR", "ReconcilePolicy", "execute_reconcile"]
