"""Taking webhook deliveries: verify over the raw bytes, commit to the inbox, then answer.

:class:`InboxWriter` is a group commit. Each delivery's verified events wait, with those of
every delivery that arrived meanwhile, for one transaction that inserts them all (``ON
CONFLICT DO NOTHING`` on the connection and delivery key) and queues their processing; each
delivery is answered only once the transaction holding it has committed (a 2xx means the
event is durable). One transaction per batch instead of one per request is what lets one API
process keep up with a burst. On PostgreSQL the batch is one statement
(``repository.store_batch_pg``) on a connection the writer holds: rows and jobs in one round
trip, which is its own transaction, no session.

:class:`WebhookTargets` turns a connection id into its live connector instance (cached per
connection revision, so a settings change is seen at the next delivery).
"""

from __future__ import annotations

import asyncio
import hashlib
import math
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
import msgspec
from sqlalchemy.exc import DataError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker

from syncbridge.connections.service import ConnectionContext
from syncbridge.connector.errors import MalformedWebhook
from syncbridge.connector.spec import Connector
from syncbridge.connector.types import WebhookEvent
from syncbridge.inbox import metrics, repository
from syncbridge.inbox.service import process_job, queue_processing
from syncbridge.logs import get_logger
from syncbridge.models import Connection
from syncbridge.models.base import as_utc, utcnow
from syncbridge.models.inbox import ACTION_LENGTH, DELIVERY_KEY_LENGTH, EventStatus
from syncbridge.models.store import EXTERNAL_ID_LENGTH, STREAM_LENGTH
from syncbridge.store import revisions
from syncbridge.store.revision_watch import RevisionWatch
from syncbridge.store.unit_of_work import ConnectionLost, in_unit_of_work, retrying
from syncbridge.sync.service import build_connector
from syncbridge.tasks import cancel_and_wait

log = get_logger(__name__)

Sessionmaker = async_sessionmaker[AsyncSession]

#: Deliveries one group-commit transaction takes at most.
MAX_BATCH = 512
#: Deliveries' body bytes one group-commit transaction takes at most (but for its first):
#: a batch's JSON parameter stays far below PostgreSQL's 1 GB limit.
MAX_BATCH_BYTES = 16 * 1_048_576
#: Seconds the writer keeps a connection out of the engine's pool before handing it back.
HOLD_S = 60.0
#: Closed connections the pool may hand the writer in a row before a batch is refused.
MAX_CLOSED_CHECKOUTS = 16
#: Connection ids remembered by :class:`WebhookTargets` before misses are forgotten.
MAX_KNOWN = 10_000


class StoreUnavailable(Exception):
    """The inbox transaction failed: nothing of the delivery is known to be stored (503)."""


@dataclass
class _Waiting:
    rows: list[dict[str, Any]]
    #: The delivery's body size, what a batch's size is counted in.
    size: int
    done: asyncio.Future[int]


class InboxWriter:
    """Group commit of inbox rows (see the module docstring)."""

    def __init__(self, sessionmaker: Sessionmaker, *, debounce_s: float) -> None:
        self._sessionmaker = sessionmaker
        self._debounce_s = debounce_s
        engine: AsyncEngine = sessionmaker.kw["bind"]
        #: PostgreSQL: a batch is one statement (``repository.store_batch_pg``) on a held
        #: connection.
        self._connection = _HeldConnection(engine) if engine.dialect.name == "postgresql" else None
        self._waiting: list[_Waiting] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="inbox-writer")

    async def stop(self) -> None:
        """Stop taking deliveries; those waiting are refused (the vendor retries), and so are
        those of a transaction cut short (whether it committed is unknown)."""
        try:
            if self._task is not None:
                await cancel_and_wait([self._task])
                self._task = None
        finally:
            try:
                if self._connection is not None:
                    await self._connection.release()
            finally:
                _refuse(self._waiting, StoreUnavailable("the inbox writer stopped"))
                self._waiting.clear()

    async def write(self, rows: list[dict[str, Any]], *, size: int = 0) -> int:
        """Store ``rows`` (inbox event values of one delivery, whose body had ``size`` bytes)
        durably; how many were new. Returns after the commit; raises
        :class:`StoreUnavailable` when it failed."""
        if self._task is None or self._task.done():
            raise StoreUnavailable("the inbox writer is not running")
        done: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._waiting.append(_Waiting(rows, size, done))
        self._wake.set()
        return await done  # a request cancelled meanwhile cancels only its own future

    async def _run(self) -> None:
        """Take what waits as soon as the last commit is done (:meth:`_next_batch`), and
        commit it, in this task (a task per batch cost each delivery another turn of the
        event loop). One transaction at a time: a second one in flight wrote smaller batches
        for no more throughput (B1), and commits in order keep the process's events visible
        in the order they arrived. Idle for :data:`HOLD_S`, the writer hands its PostgreSQL
        connection back to the pool."""
        while True:
            if self._connection is not None and self._connection.held:
                try:
                    async with asyncio.timeout(HOLD_S):
                        await self._wake.wait()
                except TimeoutError:
                    await self._connection.release()
                    continue
            else:
                await self._wake.wait()
            self._wake.clear()
            while self._waiting:
                await self._commit(self._next_batch())

    def _next_batch(self) -> list[_Waiting]:
        """The oldest waiting deliveries, at most :data:`MAX_BATCH` of them and (but for
        the first) :data:`MAX_BATCH_BYTES` of bodies in all."""
        taken = size = 0
        for waiting in self._waiting:
            size += waiting.size
            if taken == MAX_BATCH or (taken and size > MAX_BATCH_BYTES):
                break
            taken += 1
        batch = self._waiting[:taken]
        del self._waiting[:taken]
        return batch

    async def _store(self, rows: list[dict[str, Any]]) -> set[uuid.UUID]:
        """One transaction: insert the rows, queue the processing of the connections that
        got a new one; the ids inserted."""
        if self._connection is not None:
            return await self._store_pg(self._connection, rows)

        async def write(session: AsyncSession) -> set[uuid.UUID]:
            inserted = await repository.insert_events(session, rows)
            if inserted:
                connections = {row["connection_id"] for row in rows if row["id"] in inserted}
                await queue_processing(session, connections, delay_s=self._debounce_s)
            return inserted

        return await in_unit_of_work(self._sessionmaker, write)

    async def _store_pg(
        self, connection: _HeldConnection, rows: list[dict[str, Any]]
    ) -> set[uuid.UUID]:
        """``_store`` on PostgreSQL: the same work as one statement, atomic on its own (no
        session, no ``BEGIN``/``COMMIT`` round trips), on the writer's held connection;
        retried as a unit of work is (a lost connection, a deadlock between API
        processes). A retry after a commit whose answer was lost inserts nothing: the
        rows keep their delivery keys."""
        jobs = [
            {**process_job(connection_id), "id": uuid.uuid4(), "connection_id": connection_id}
            for connection_id in dict.fromkeys(row["connection_id"] for row in rows)
        ]
        async for attempt in retrying():
            with attempt:
                now = utcnow()
                inserted = await repository.store_batch_pg(
                    connection.fetchrow,
                    rows,
                    jobs,
                    run_after=now + timedelta(seconds=self._debounce_s),
                    now=now,
                    announce=self._debounce_s <= 0,  # wake idle workers at the commit
                )
        return inserted

    async def _commit(self, batch: list[_Waiting]) -> None:
        rows = [row for waiting in batch for row in waiting.rows]
        try:
            new = await self._store(rows)
        except Exception as exc:
            if len(batch) > 1 and _refused_values(exc):
                # One delivery's values may be to blame: each is written on its own, so only
                # the deliveries the store refuses are refused.
                split = {"deliveries": len(batch), "error_type": type(exc).__name__}
                log.warning("webhook.inbox_batch_split", **split)
                await self._commit_each(batch)
                return
            # The store is down, or refused the delivery: the vendor retries.
            log.warning("webhook.inbox_write_failed", error_type=type(exc).__name__)
            _refuse(batch, StoreUnavailable(type(exc).__name__))
            return
        except BaseException:
            # Stopped mid-transaction: whether it committed is unknown, so every delivery
            # of the batch is refused (the vendor retries; a redelivery is one event).
            _refuse(batch, StoreUnavailable("the inbox writer stopped"))
            raise
        _answer(batch, new)

    async def _commit_each(self, batch: list[_Waiting]) -> None:
        """A batch the store refused for its values, written delivery by delivery: only those
        it refuses again are refused; at a failure of the store itself, the rest are too."""
        try:
            for waiting in batch:
                try:
                    new = await self._store(waiting.rows)
                except Exception as exc:
                    error = StoreUnavailable(type(exc).__name__)
                    _refuse([waiting], error)
                    if not _refused_values(exc):
                        log.warning("webhook.inbox_write_failed", error_type=type(exc).__name__)
                        _refuse(batch, error)
                        return
                    log.warning("webhook.inbox_delivery_refused", error_type=type(exc).__name__)
                    continue
                _answer([waiting], new)
        except BaseException:  # stopped meanwhile: those not answered are refused
            _refuse(batch, StoreUnavailable("the inbox writer stopped"))
            raise


#: PostgreSQL's errors that end the session: an administrator's or a crash's shutdown, and
#: ``08``, connection exceptions.
_SESSION_ENDED = frozenset({"57P01", "57P02", "57P03"})


def _lost(exc: BaseException, driver: Any) -> bool:
    """True when ``exc`` under a statement means the connection is gone."""
    state = getattr(exc, "sqlstate", None) or ""
    return driver.is_closed() or state in _SESSION_ENDED or state.startswith("08")


def _refused_values(exc: BaseException) -> bool:
    """True when the store refused what a batch holds rather than the writing of it: values
    it cannot encode or take (``22``, data exceptions) or that break a constraint (``23``:
    an event of a connection deleted meanwhile)."""
    if isinstance(exc, IntegrityError | DataError | msgspec.EncodeError | UnicodeError | TypeError):
        return True
    return _refused_by_database(exc)


def _refused_by_database(exc: BaseException) -> bool:
    """A statement PostgreSQL refused for its values (classes ``22`` and ``23``): it changed
    nothing, and an autocommit connection stays as good as it was."""
    state = getattr(exc, "sqlstate", None) or ""
    return state[:2] in ("22", "23")


class _HeldConnection:
    """The PostgreSQL connection of an :class:`InboxWriter`: checked out of the engine's pool
    and kept, and used through the driver (autocommit: each statement its own transaction).
    A pool checkout and SQLAlchemy's cursor per batch cost the API process more CPU than the
    batch's statement itself (B1).

    It goes back to the pool at the first batch after it was held for :data:`HOLD_S` (and
    one is taken again, so the pool's recycling applies to it) and when the writer has been
    idle that long; one that failed under a statement is invalidated, and one the pool hands
    out already closed (the server restarted) is invalidated and another taken."""

    def __init__(self, engine: AsyncEngine, clock: Callable[[], float] = time.monotonic) -> None:
        self._engine = engine
        self._clock = clock
        #: (taken at, the connection, its driver connection) while one is held.
        self._held: tuple[float, AsyncConnection, Any] | None = None

    @property
    def held(self) -> bool:
        return self._held is not None

    async def fetchrow(self, sql: str, *args: Any) -> Any:
        """Run ``sql`` on the held connection; its first row."""
        _, connection, driver = await self._take()
        try:
            return await driver.fetchrow(sql, *args)
        except BaseException as exc:
            if _refused_by_database(exc) and not driver.is_closed():
                raise  # the values, not the connection: it is kept
            self._held = None
            lost = _lost(exc, driver)
            await _discard(connection)
            if lost and isinstance(exc, Exception):
                raise ConnectionLost(type(exc).__name__) from exc
            raise

    async def _take(self) -> tuple[float, AsyncConnection, Any]:
        now = self._clock()
        if self._held is not None:
            if now - self._held[0] < HOLD_S:
                return self._held
            await self.release()
        for _ in range(MAX_CLOSED_CHECKOUTS):
            connection = await self._engine.connect()
            try:
                driver: Any = (await connection.get_raw_connection()).driver_connection
            except BaseException:
                await _discard(connection)
                raise
            if not driver.is_closed():
                self._held = (now, connection, driver)
                return self._held
            await _discard(connection)
        raise ConnectionLost("the pool's connections are closed")

    async def release(self) -> None:
        """Hand the connection back to the pool (invalidated if that fails)."""
        if self._held is not None:
            connection, self._held = self._held[1], None
            try:
                await connection.close()
            except BaseException:  # failed or cut short: it never goes back half-closed
                await asyncio.shield(_discard(connection))
                raise


async def _discard(connection: AsyncConnection) -> None:
    """Invalidate a connection whose state is unknown (it never goes back to the pool)."""
    try:
        await connection.invalidate()
        await connection.close()
    except Exception:  # it is gone either way
        log.debug("webhook.inbox_connection_discarded")


def _answer(batch: list[_Waiting], new: set[uuid.UUID]) -> None:
    """Answer a committed batch's deliveries: how many of each one's rows were new."""
    metrics.commit_batch.observe(len(batch))
    for waiting in batch:
        if not waiting.done.done():
            waiting.done.set_result(sum(1 for row in waiting.rows if row["id"] in new))


def _refuse(batch: list[_Waiting], error: StoreUnavailable) -> None:
    for waiting in batch:
        if not waiting.done.done():
            waiting.done.set_exception(error)


@dataclass(frozen=True)
class Target:
    """A connection that takes webhooks, and its connector instance."""

    connection_id: uuid.UUID
    connector_key: str
    connector: Connector
    #: The connection's own revision the instance was built from.
    revision: int


class WebhookTargets:
    """Connector instances by connection, valid for one revision of the store's
    ``connections`` counter (:mod:`syncbridge.store.revisions`).

    While the process's revision watch vouches for the counter and it has not moved since
    a connection was looked up, a delivery costs no query at all; unknown and disabled
    connections are remembered the same way, so a flood of deliveries to a wrong id does
    not reach the store either. Any change to a connection (settings, enabled, deletion,
    secret rotation) moves the counter and the next delivery reads it again."""

    def __init__(
        self,
        sessionmaker: Sessionmaker,
        ctx: ConnectionContext,
        http: httpx.AsyncClient,
        watch: RevisionWatch | None = None,
    ) -> None:
        self._sessionmaker = sessionmaker
        self._ctx = ctx
        self._http = http
        self._watch = watch
        #: connection id -> (the counter it was read at, its target or None).
        self._known: dict[uuid.UUID, tuple[int, Target | None]] = {}

    async def get(self, connection_id: uuid.UUID) -> Target | None:
        """The enabled connection's target; None for an unknown or disabled connection.
        Raises the store's error when it cannot be read."""
        counters = self._watch.known() if self._watch is not None else None
        cached = self._known.get(connection_id)
        if (
            counters is not None
            and cached is not None
            and cached[0] == counters.get(revisions.CONNECTIONS)
        ):
            return cached[1]

        async def read(session: AsyncSession) -> tuple[int, Connection | None]:
            counter = (await revisions.current(session, fresh=True)).get(revisions.CONNECTIONS, 0)
            return counter, await session.get(Connection, connection_id)

        counter, connection = await in_unit_of_work(self._sessionmaker, read, write=False)
        target: Target | None = None
        if connection is not None and connection.enabled:
            old = cached[1] if cached is not None else None
            if old is not None and old.revision == connection.revision:
                target = old
            else:
                target = Target(
                    connection_id,
                    connection.connector_key,
                    build_connector(self._ctx, connection, self._http),
                    connection.revision,
                )
        if cached is not None and cached[1] is not None and cached[1] is not target:
            _close_later(cached[1].connector)
        if len(self._known) >= MAX_KNOWN and connection_id not in self._known:
            self._forget_unknown()
        self._known[connection_id] = (counter, target)
        return target

    def _forget_unknown(self) -> None:
        """Drop the remembered misses (ids of no enabled connection) to stay bounded."""
        for key in [k for k, (_, t) in self._known.items() if t is None]:
            del self._known[key]

    async def aclose(self) -> None:
        for _, target in self._known.values():
            if target is not None:
                await target.connector.aclose()
        self._known.clear()


def _close_later(connector: Connector) -> None:
    task = asyncio.ensure_future(connector.aclose())
    task.add_done_callback(lambda t: t.exception() if not t.cancelled() else None)


def event_rows(connection_id: uuid.UUID, events: Sequence[WebhookEvent]) -> list[dict[str, Any]]:
    """The inbox rows of a delivery's events (ids chosen here, so the writer can say which
    of them were new)."""
    now = utcnow()
    return [
        {
            "id": uuid.uuid4(),
            "connection_id": connection_id,
            "delivery_key": _key(event.delivery_key),
            "stream": _text(event.stream),
            "external_id": None if event.external_id is None else _text(event.external_id),
            "action": _text(event.action),
            # In UTC (naive taken as UTC), so both stores' paths write the same instant (the
            # JSON encoder would round an offset's seconds).
            "occurred_at": None if event.occurred_at is None else as_utc(event.occurred_at),
            "payload": _json_safe(event.payload),
            "status": EventStatus.pending.value,
            "attempts": 0,
            "received_at": now,
            "replays": 0,
        }
        for event in events
    ]


def _key(delivery_key: str) -> str:
    """The delivery key as stored: as given, or its sha256 when too long to keep whole or
    holding what a store cannot keep (a cut or mended key could make two deliveries one)."""
    if len(delivery_key) <= DELIVERY_KEY_LENGTH and _text(delivery_key) == delivery_key:
        return delivery_key
    whole = delivery_key.encode("utf-8", "surrogatepass")
    return "sha256:" + hashlib.sha256(whole).hexdigest()


def _text(value: str) -> str:
    """``value`` as every store can keep it: NUL characters (which PostgreSQL refuses and
    SQLite keeps) and lone surrogates (which cannot be encoded) as U+FFFD."""
    if "\x00" in value:
        value = value.replace("\x00", "\ufffd")
    if value.isascii():
        return value
    try:
        value.encode()
    except UnicodeEncodeError:
        return value.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    return value


def _value(value: Any) -> Any:
    """A payload value as every store keeps it alike (see :func:`_json_safe`): plain JSON
    types only (an ``int``, ``str`` or ``float`` of a subclass as its plain value)."""
    if value is None or value is True or value is False:
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, str):
        return _text(str.__str__(value))
    if isinstance(value, float):
        number = float(value)
        if math.isfinite(number):
            return number
        return "NaN" if number != number else "Infinity" if number > 0 else "-Infinity"
    if isinstance(value, Mapping):
        return _json_safe(value)
    if isinstance(value, list | tuple):
        return [_value(v) for v in value]
    return _text(str(value))


def _json_safe(payload: Mapping[str, Any]) -> dict[str, Any]:
    """The payload as JSON values that both stores keep alike: datetimes and the like as
    strings, non-finite numbers as ``"NaN"``, ``"Infinity"``, ``"-Infinity"``, NUL
    characters and lone surrogates as U+FFFD (:func:`_text`)."""
    out: dict[str, Any] = {}
    for key, value in payload.items():
        # Plain text and integers (most of a payload) are taken as they are, inline.
        if type(key) is not str or not key.isascii() or "\x00" in key:
            key = _text(str(key))
        kind = type(value)
        if kind is str:
            out[key] = value if value.isascii() and "\x00" not in value else _text(value)
        elif kind is int or value is None:
            out[key] = value
        else:
            out[key] = _value(value)
    return out


def check_fits(events: Sequence[WebhookEvent]) -> None:
    """Raise ``MalformedWebhook`` for an event the inbox cannot hold as it is: a stream,
    object id or action longer than its column (a defect at the sender or in its connector;
    stored, it would be refused by PostgreSQL at every redelivery and kept by SQLite)."""
    for event in events:
        if (
            len(event.stream) > STREAM_LENGTH
            or len(event.action) > ACTION_LENGTH
            or (event.external_id is not None and len(event.external_id) > EXTERNAL_ID_LENGTH)
        ):
            raise MalformedWebhook("an event's stream, object id or action is too long")


__all__ = [
    "InboxWriter",
    "StoreUnavailable",
    "Target",
    "WebhookTargets",
    "check_fits",
    "event_rows",
]
