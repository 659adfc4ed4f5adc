"""Checkpointed stream syncs: a connection's stream read page by page into the store.

Each page is read from the connector with no transaction open; then one unit of work writes
the page's items, the stream's cursor and the run stream's counters together, so a run killed
at any point resumes from the last committed cursor and nothing is skipped or doubled. A full
read ends by tombstoning the stream's items it did not see.

Two runs never read the same stream of a connection at once: a run *claims* the stream's
``stream_states`` row (``claimed_by_run_id``) before reading and releases it when the stream
ends. A claim held by another run that has not finished makes the stream fail at once with
a clear error (the claim is not a lock held across vendor calls: no transaction stays open).
A claim left by a run that finished, or by the same run (a resume), is taken over; every
page's commit checks that the run still holds it.

A run whose cancel was asked (``runs.cancel_requested_at``) stops each of its streams at the
next page boundary: the page's commit sees the request and ends the stream ``cancelled`` in
the same transaction (committed pages stay, nothing is tombstoned, the claim is released); a
stream that had not started yet ends ``cancelled`` without reading.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import aclosing
from dataclasses import dataclass, replace
from functools import partial

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from syncbridge.connections.service import ConnectionContext, connector_settings
from syncbridge.connector.spec import Connector
from syncbridge.connector.types import Page
from syncbridge.errors import ERROR_MAX_CHARS, Conflict, NotFound, describe_error
from syncbridge.linking.matching import Scope
from syncbridge.linking.pages import PageLinker, SharedIndex, load_rules
from syncbridge.logs import get_logger
from syncbridge.models import Connection, Run, RunStream, StreamState
from syncbridge.models.base import utcnow
from syncbridge.offload import run_cpu
from syncbridge.store.unit_of_work import in_unit_of_work
from syncbridge.sync import pages, repository
from syncbridge.sync.calls import CallCount, counting_client
from syncbridge.sync.pages import MAX_REJECTIONS_KEPT, Counts, PreparedPage, Target
from syncbridge.sync.repository import FINISHED, ItemTable
from syncbridge.tasks import cancel_and_wait

log = get_logger(__name__)

Sessionmaker = async_sessionmaker[AsyncSession]
#: Longest error text kept on a run stream.
MAX_ERROR = ERROR_MAX_CHARS
#: An error as kept on a run stream (one formatter with the job queue's).
describe = describe_error


class StreamBusy(Conflict):
    """Another run that has not finished holds the stream."""


@dataclass(frozen=True)
class _Start:
    cursor: str | None
    #: Whether the stream's pages are linked as they land (``run_streams.linked_since``).
    link: bool = False


async def _run_stream(session: AsyncSession, target: Target) -> RunStream:
    row = await session.scalar(
        select(RunStream)
        .where(
            RunStream.run_id == target.run_id,
            RunStream.connection_id == target.connection_id,
            RunStream.stream == target.stream,
        )
        .execution_options(populate_existing=True)
    )
    if row is None:
        raise NotFound(f"Run {target.run_id} has no stream '{target.stream}' of that connection.")
    return row


async def _cancel_requested(session: AsyncSession, target: Target) -> bool:
    """Whether a cancel was asked of the target's run."""
    asked = await session.scalar(select(Run.cancel_requested_at).where(Run.id == target.run_id))
    return asked is not None


async def _assets_pending(session: AsyncSession, run_id: uuid.UUID) -> bool:
    """Whether an asset stream of the run has not finished (another job may be reading it)."""
    pending = await session.scalar(
        select(RunStream.id)
        .where(
            RunStream.run_id == run_id,
            RunStream.entity == "asset",
            RunStream.status.not_in(FINISHED),
        )
        .limit(1)
    )
    return pending is not None


async def _begin(
    session: AsyncSession, target: Target, *, linkable: bool = False
) -> _Start | RunStream:
    """Claim the stream and say where to read from; a finished, refused or cancelled stream's
    row.

    A ``linkable`` stream (some direct link rule reads it) is linked in its pages when every
    asset stream of the run has finished (:mod:`syncbridge.linking.pages`): from its first
    page on, or, on a resume, only if it was so far; otherwise ``linked_since`` is cleared and
    the settle pass links the whole stream."""
    rs = await _run_stream(session, target)
    if rs.status in FINISHED:
        return rs
    if await _cancel_requested(session, target):
        await _end(session, target, rs, None, cancelled=True)
        return rs
    state = await repository.stream_state(session, target.connection_id, target.stream)
    now = utcnow()
    if await repository.holder_is_live(session, state, target.run_id):
        rs.status, rs.finished_at = "failed", now
        rs.error = f"StreamBusy: run {state.claimed_by_run_id} is reading this stream"
        return rs
    state.claimed_by_run_id = target.run_id
    link = linkable and not await _assets_pending(session, target.run_id)
    if rs.status == "queued":
        rs.status, rs.started_at = "running", now
        rs.last_cursor = None if target.full else state.cursor
        rs.linked_since = now if link else None
    elif not link:
        rs.linked_since = None
    return _Start(rs.last_cursor, link=rs.linked_since is not None)


def _add(rs: RunStream, counts: Counts, calls: tuple[int, int]) -> None:
    for name, value in counts.as_dict().items():
        setattr(rs, name, getattr(rs, name) + value)
    rs.vendor_calls += calls[0]
    rs.rate_limited += calls[1]


async def _state(session: AsyncSession, target: Target) -> StreamState | None:
    return await session.scalar(
        select(StreamState).where(
            StreamState.connection_id == target.connection_id,
            StreamState.stream == target.stream,
        )
    )


async def _end(
    session: AsyncSession,
    target: Target,
    rs: RunStream,
    error: str | None,
    *,
    cancelled: bool = False,
) -> None:
    """Finish the stream: tombstones after a full read, the claim released, the status set
    (``cancelled``: stopped before the end, so nothing is tombstoned)."""
    now = utcnow()
    state = await _state(session, target)
    if error is None and target.full and not cancelled:
        rs.deleted += await repository.tombstone_unseen(
            session, target.items, target.connection_id, target.stream, target.run_id, now
        )
        if state is not None:
            state.last_full_read_at = now
    if state is not None and state.claimed_by_run_id == target.run_id:
        state.claimed_by_run_id = None
        state.updated_at = now
    rs.status = "failed" if error else "cancelled" if cancelled else "succeeded"
    rs.error = error
    rs.finished_at = now


async def _commit_page(
    session: AsyncSession,
    target: Target,
    page: PreparedPage,
    cursor: str | None,
    calls: tuple[int, int],
    *,
    final: bool,
    total: int | None = None,
) -> RunStream:
    now = utcnow()
    await repository.relax_durability(session)
    rs = await _run_stream(session, target)
    counts = await pages.write(session, target, page, now, keep=MAX_REJECTIONS_KEPT - rs.rejected)
    if not await repository.save_cursor(
        session, target.connection_id, target.stream, target.run_id, cursor, now
    ):
        raise StreamBusy(f"run {target.run_id} no longer holds stream '{target.stream}'")
    if total is not None:  # the read's first page: what it will give, after what came before
        rs.expected = rs.read + total
    _add(rs, counts, calls)
    rs.pages += 1
    rs.last_cursor = cursor
    if final:
        await _end(session, target, rs, None)
    elif await _cancel_requested(session, target):
        await _end(session, target, rs, None, cancelled=True)
    return rs


async def _finish(
    sessionmaker: Sessionmaker, target: Target, calls: tuple[int, int], error: str | None
) -> RunStream:
    async def work(session: AsyncSession) -> RunStream:
        rs = await _run_stream(session, target)
        if rs.status in FINISHED:
            return rs
        _add(rs, Counts(), calls)
        await _end(session, target, rs, error)
        return rs

    return _logged(await in_unit_of_work(sessionmaker, work))


def _logged(rs: RunStream) -> RunStream:
    log.info(
        "sync.stream_finished",
        run_id=str(rs.run_id),
        connection_id=str(rs.connection_id),
        stream=rs.stream,
        status=rs.status,
        read=rs.read,
        inserted=rs.inserted,
        updated=rs.updated,
        deleted=rs.deleted,
        rejected=rs.rejected,
    )
    return rs


def _loop(previous: tuple[tuple[str, ...], str | None] | None, page: Page) -> str | None:
    """Why ``page`` shows the read going round in circles, or None."""
    if previous is None:
        return None
    ids = tuple(r.external_id for r in page.records)
    if ids and ids == previous[0]:
        return f"loop: the vendor repeated the previous page ({len(ids)} items, same ids)"
    if page.next_cursor is not None and page.next_cursor == previous[1]:
        return "loop: the next cursor equals the previous page's"
    return None


class _ReadAhead:
    """The connector's next page, asked for while the current one is being written.

    The vendor call runs in a task of its own that holds no transaction, and a page's write
    never waits on it: each transaction is as short as it would be without the read-ahead,
    whatever the vendor's latency (``test_a_hanging_vendor_holds_no_transaction_open``),
    while the store's work on one page and the connector's on the next overlap. At most one
    page is read ahead, so memory stays at two pages.
    """

    def __init__(self, pages_of: AsyncIterator[Page]) -> None:
        self._pages = pages_of
        self._next: asyncio.Task[Page] | None = None

    def ask(self) -> None:
        """Start reading the next page."""
        self._next = asyncio.ensure_future(anext(self._pages))

    async def take(self) -> Page:
        """The next page (raises ``StopAsyncIteration`` at the end, or the read's error)."""
        task, self._next = self._next, None
        return await (task if task is not None else anext(self._pages))

    async def aclose(self) -> None:
        """Drop a page read ahead and not taken (a cancel, a loop, a busy stream)."""
        task, self._next = self._next, None
        if task is not None:
            await cancel_and_wait([task])


def _prepare(page: Page, linker: PageLinker | None) -> PreparedPage:
    """Check and encode a page, and match it when its stream is linked in its pages (pure:
    runs in a worker thread while the previous page commits)."""
    prepared = pages.prepare(page)
    if linker is not None and prepared.live:
        prepared.matched = linker.match(prepared.data())
    return prepared


async def _read(
    sessionmaker: Sessionmaker,
    pages_of: AsyncIterator[Page],
    target: Target,
    count: CallCount,
) -> RunStream:
    """Read, prepare and commit the stream's pages, in order, each page's commit after the
    last one's.

    Three pages are in flight at most: while page N commits, page N+1 is checked, encoded and
    matched in a worker thread and page N+2 is read from the vendor (:class:`_ReadAhead`), so
    this process's work, the store's and the vendor's overlap. Page N+1 is committed only
    once page N's commit has returned: a cancel, the end or a lost claim seen there drops it.
    """
    previous: tuple[tuple[str, ...], str | None] | None = None
    ahead = _ReadAhead(pages_of)
    committing: asyncio.Task[RunStream] | None = None

    async def committed() -> RunStream | None:
        """Wait for the page in flight: its run stream, or None when there was none."""
        nonlocal committing
        task, committing = committing, None
        return None if task is None else await task

    async with aclosing(pages_of) as _reading:  # type: ignore[type-var]
        try:
            while True:
                try:
                    page = await ahead.take()
                except StopAsyncIteration:
                    break
                except Exception as exc:  # the connector gave up (after its own retries)
                    await committed()
                    return await _finish(sessionmaker, target, count.take(), describe(exc))
                loop = _loop(previous, page)
                if loop is not None:
                    await committed()
                    return await _finish(sessionmaker, target, count.take(), loop)
                final = page.next_cursor is None
                if not final:
                    ahead.ask()
                prepared = await run_cpu(_prepare, page, target.linker)
                rs = await committed()
                if rs is not None and rs.status in FINISHED:  # a cancel seen at the commit
                    return _logged(rs)
                commit = partial(
                    _commit_page,
                    target=target,
                    page=prepared,
                    cursor=page.next_cursor,
                    calls=count.take(),
                    final=final,
                    total=page.total if previous is None else None,
                )
                committing = asyncio.ensure_future(in_unit_of_work(sessionmaker, commit))
                if final:
                    last = await committed()
                    assert last is not None
                    return _logged(last)
                previous = (tuple(r.external_id for r in page.records), page.next_cursor)
            rs = await committed()
            if rs is not None and rs.status in FINISHED:
                return _logged(rs)
        except StreamBusy as exc:  # a commit found that the run no longer holds the stream
            return await _finish(sessionmaker, target, (0, 0), describe(exc))
        finally:
            if committing is not None:  # a failure elsewhere: the commit in flight is dropped
                await cancel_and_wait([committing])
            await ahead.aclose()  # before the reader is closed: it may be running
    return await _finish(sessionmaker, target, count.take(), None)


def build_connector(
    ctx: ConnectionContext, connection: Connection, http: httpx.AsyncClient
) -> Connector:
    """A connector instance of ``connection`` on ``http`` (no vendor call)."""
    spec = ctx.registry.get(connection.connector_key)
    return spec.factory(connector_settings(ctx, connection), http)


async def sync_stream(
    sessionmaker: Sessionmaker,
    ctx: ConnectionContext,
    connection_id: uuid.UUID,
    stream: str,
    *,
    full: bool,
    run_id: uuid.UUID,
    client: httpx.AsyncClient,
    shared: SharedIndex | None = None,
) -> RunStream:
    """Read one stream of a connection into the store as part of run ``run_id`` (whose
    run stream row must exist), resuming where the run's last committed page left off.
    A stream linked in its pages takes its asset index from ``shared`` (or builds it there).

    Vendor failures (after the connector's own retries), loops and a busy stream end the
    stream as ``failed`` with the reason; store errors propagate (the run stays resumable).
    Idempotent: a finished run stream is returned as it is.
    """
    connection = await in_unit_of_work(
        sessionmaker, lambda s: s.get(Connection, connection_id), write=False
    )
    if connection is None:
        raise NotFound(f"No connection {connection_id}.")
    count = CallCount()
    async with counting_client(client, count) as http:
        connector: Connector | None = None
        try:
            if not connection.enabled:
                raise Conflict(f"connection '{connection.name}' is disabled")
            connector = build_connector(ctx, connection, http)
            spec = next(s for s in connector.streams() if s.name == stream)
            items = ItemTable.of(spec.entity)
        except Exception as exc:  # no connector, unreadable secrets, bad settings, no stream
            dummy = Target(connection_id, stream, ItemTable.of("record"), run_id, full)
            if connector is not None:
                await connector.aclose()
            reason = describe(exc) if not isinstance(exc, StopIteration) else "no such stream"
            return await _finish(sessionmaker, dummy, count.take(), reason)
        try:
            target = Target(connection_id, stream, items, run_id, full)
            records = items.per_stream  # asset streams are never linked in their pages
            rules = await load_rules(sessionmaker, connection_id, stream) if records else None
            start = await in_unit_of_work(
                sessionmaker, lambda s: _begin(s, target, linkable=rules is not None)
            )
            if isinstance(start, RunStream):
                return start
            if start.link and rules is not None:
                scope = Scope(connection.connector_key, connection_id, stream)
                linker = await PageLinker.build(sessionmaker, scope, *rules, shared)
                target = replace(target, linker=linker)
            log.info(
                "sync.stream_started", run_id=str(run_id), stream=stream, full=full,
                linked_in_pages=start.link,
            )  # fmt: skip
            return await _read(sessionmaker, connector.read(stream, start.cursor), target, count)
        finally:
            await connector.aclose()


__all__ = ["Sessionmaker", "StreamBusy", "build_connector", "describe", "sync_stream"]
