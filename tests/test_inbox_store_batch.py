"""The group commit on PostgreSQL is one statement (``repository.store_batch_pg``): it must
write exactly what the session path writes (``insert_events`` and ``queue_processing``),
column by column, for new events, duplicates and connections that got nothing new."""

from __future__ import annotations

import asyncio
import math
import uuid
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import asyncpg
import pytest
from sqlalchemy import event, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession
from structlog.testing import capture_logs

from syncbridge.connector.types import WebhookEvent
from syncbridge.db import open_store
from syncbridge.inbox import receiver, repository
from syncbridge.inbox.receiver import InboxWriter, StoreUnavailable, event_rows
from syncbridge.inbox.service import queue_processing
from syncbridge.jobs.wakeup import CHANNEL
from syncbridge.models import Connection
from syncbridge.store.unit_of_work import in_unit_of_work
from tests.conftest import BACKEND, _pg_admin
from tests.inbox_support import add_connection, refusing_connections, running, terminate_backends
from tests.jobs_support import eventually

pytestmark = pytest.mark.skipif(BACKEND != "postgresql", reason="PostgreSQL's group commit")

DELAY_S = 30.0
#: Columns the two paths fill from their own clocks or id draws.
VOLATILE = {"id", "created_at", "updated_at", "run_after"}


def _event(key: str, object_id: int, **payload: Any) -> WebhookEvent:
    # Vendor times aware, missing, and without a zone (taken as UTC by both paths).
    occurred_at = {
        1: datetime(2026, 12, 1, 9, 30, 0, 123456, tzinfo=timezone(timedelta(hours=-5))),
        3: datetime(2026, 12, 1, 9, 30, tzinfo=UTC),
        4: datetime(2026, 12, 1, 9, 31, 7, 5),
    }.get(object_id)
    return WebhookEvent(
        delivery_key=key,
        stream="deals",
        external_id=str(object_id) if object_id != 3 else None,
        action="updated",
        occurred_at=occurred_at,
        payload={
            "eventId": object_id,
            "propertyValue": 'closed "won"\n\t\u0001 😀',
            "nested": {"é": [1, None, 2.5e-7, 1e16, 2**63 + 1, True]},
            # What the receiver makes keepable (receiver._json_safe): both paths alike.
            "odd\x00": ["\x00", "\ud800", math.nan, -math.inf],
        }
        | payload,
    )


async def _snapshot(session: AsyncSession) -> dict[str, list[dict[str, Any]]]:
    out = {}
    for table, order in (("inbox_events", "delivery_key"), ("jobs", "dedupe_key")):
        rows = (await session.execute(text(f"SELECT * FROM {table} ORDER BY {order}"))).all()
        drop = VOLATILE if table == "jobs" else set()
        out[table] = [{k: v for k, v in row._asdict().items() if k not in drop} for row in rows]
    return out


async def _clear(session: AsyncSession) -> None:
    await session.execute(text("DELETE FROM inbox_events"))
    await session.execute(text("DELETE FROM jobs"))


async def test_the_one_statement_writes_what_the_session_path_writes(db_url: str) -> None:
    async with open_store(db_url) as sessionmaker:
        ids = [uuid.uuid4(), uuid.uuid4()]

        async def connections(session: AsyncSession) -> None:
            for n, connection_id in enumerate(ids):
                session.add(
                    Connection(id=connection_id, connector_key="hubspot", name=f"c{n}",
                               settings={}, secrets="", enabled=True)
                )  # fmt: skip

        await in_unit_of_work(sessionmaker, connections)
        first = event_rows(ids[0], [_event("a", 1), _event("b", 2, extra="x")])
        first += event_rows(ids[1], [_event("c", 3)])
        # A redelivery of "a" and "c" (new row ids, same keys), and a new event of ids[0].
        second = event_rows(ids[0], [_event("a", 1), _event("d", 4)])
        second += event_rows(ids[1], [_event("c", 3)])

        async def by_session(rows: list[dict[str, Any]]) -> set[uuid.UUID]:
            async def write(session: AsyncSession) -> set[uuid.UUID]:
                new = await repository.insert_events(session, rows)
                got = {row["connection_id"] for row in rows if row["id"] in new}
                await queue_processing(session, got, delay_s=DELAY_S)
                return new

            return await in_unit_of_work(sessionmaker, write)

        async def finish_job_of(session: AsyncSession) -> None:
            # ids[1]'s job is done: its key is free, and a batch that brings ids[1] nothing
            # new must still queue nothing for it.
            await session.execute(
                text("UPDATE jobs SET status = 'done' WHERE dedupe_key LIKE :key"),
                {"key": f"%{ids[1]}"},
            )

        expected_new = [await by_session(first)]
        await in_unit_of_work(sessionmaker, finish_job_of)
        expected_new.append(await by_session(second))
        expected = await in_unit_of_work(sessionmaker, _snapshot, write=False)
        await in_unit_of_work(sessionmaker, _clear)

        writer = InboxWriter(sessionmaker, debounce_s=DELAY_S)
        assert writer._connection is not None, "PostgreSQL takes the one-statement path"
        async with running(writer):
            started = datetime.now(UTC)
            counts = [await writer.write(first)]
            await in_unit_of_work(sessionmaker, finish_job_of)
            counts.append(await writer.write(second))
        got = await in_unit_of_work(sessionmaker, _snapshot, write=False)

        assert [len(new) for new in expected_new] == counts == [3, 1]
        assert got == expected
        # The first batch's two jobs and no more: the second batch's new event of ids[0]
        # found its job holding the key, and ids[1] got only a redelivery.
        assert sorted((job["payload"]["connection_id"], job["status"]) for job in got["jobs"]) == (
            sorted([(str(ids[0]), "queued"), (str(ids[1]), "done")])
        )

        async def due(session: AsyncSession) -> list[datetime]:
            return list((await session.execute(text("SELECT run_after FROM jobs"))).scalars())

        for run_after in await in_unit_of_work(sessionmaker, due, write=False):
            assert started + timedelta(seconds=DELAY_S) <= run_after
            assert run_after <= datetime.now(UTC) + timedelta(seconds=DELAY_S)


async def test_a_dropped_connection_is_retried_on_a_fresh_one(db_url: str) -> None:
    """The pool's connection was cut (a database restart, a proxy): the batch is written on
    a new one, as a unit of work would be, instead of answering the vendor 503."""
    async with open_store(db_url) as sessionmaker:
        connection_id = await add_connection(sessionmaker)
        writer = InboxWriter(sessionmaker, debounce_s=DELAY_S)
        async with running(writer):
            assert await writer.write(event_rows(connection_id, [_event("a", 1)])) == 1
            await terminate_backends(str(make_url(db_url).database))
            assert await writer.write(event_rows(connection_id, [_event("b", 2)])) == 1


async def test_the_writer_holds_one_connection_and_hands_it_back(db_url: str) -> None:
    """Batches reuse one connection kept out of the pool; at the first batch after it was
    held for ``HOLD_S`` it goes back (so the pool's recycling applies) and another is taken;
    stopping hands it back."""
    async with open_store(db_url) as sessionmaker:
        connection_id = await add_connection(sessionmaker)
        pool = sessionmaker.kw["bind"].sync_engine.pool
        checkins: list[object] = []
        event.listen(pool, "checkin", lambda *_: checkins.append(None))
        writer = InboxWriter(sessionmaker, debounce_s=DELAY_S)
        now = [1000.0]
        assert writer._connection is not None
        writer._connection._clock = lambda: now[0]
        async with running(writer):
            for n in range(3):
                assert await writer.write(event_rows(connection_id, [_event(f"k{n}", n)])) == 1
            assert (pool.checkedout(), len(checkins)) == (1, 0)
            now[0] += receiver.HOLD_S - 1
            assert await writer.write(event_rows(connection_id, [_event("k3", 3)])) == 1
            assert (pool.checkedout(), len(checkins)) == (1, 0)
            now[0] += 1
            assert await writer.write(event_rows(connection_id, [_event("k4", 4)])) == 1
            assert (pool.checkedout(), len(checkins)) == (1, 1)
        assert (pool.checkedout(), len(checkins)) == (0, 2)


async def test_an_idle_writer_hands_its_connection_back(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Idle for ``HOLD_S``, the writer returns its connection to the pool; the next batch
    takes one again."""
    monkeypatch.setattr(receiver, "HOLD_S", 0.05)
    async with open_store(db_url) as sessionmaker:
        connection_id = await add_connection(sessionmaker)
        pool = sessionmaker.kw["bind"].sync_engine.pool
        writer = InboxWriter(sessionmaker, debounce_s=DELAY_S)
        async with running(writer):
            assert await writer.write(event_rows(connection_id, [_event("a", 1)])) == 1

            async def handed_back() -> bool:
                return bool(pool.checkedout() == 0)

            await eventually(handed_back, "the idle writer hands its connection back")
            assert await writer.write(event_rows(connection_id, [_event("b", 2)])) == 1


async def test_a_failed_statement_refuses_its_batch_and_the_next_one_is_written(
    db_url: str,
) -> None:
    """A statement the store refuses for its values (here: an event of no connection) answers
    that batch's delivery 503; the connection, which the refusal left as it was, writes the
    next batch."""
    async with open_store(db_url) as sessionmaker:
        connection_id = await add_connection(sessionmaker)
        pool = sessionmaker.kw["bind"].sync_engine.pool
        invalidated: list[object] = []
        event.listen(pool, "invalidate", lambda *_: invalidated.append(None))
        writer = InboxWriter(sessionmaker, debounce_s=DELAY_S)
        async with running(writer):
            assert await writer.write(event_rows(connection_id, [_event("a", 1)])) == 1
            with pytest.raises(StoreUnavailable, match="ForeignKeyViolation"):
                await writer.write(event_rows(uuid.uuid4(), [_event("b", 2)]))
            assert (len(invalidated), pool.checkedout()) == (0, 1)
            assert await writer.write(event_rows(connection_id, [_event("c", 3)])) == 1
            assert (len(invalidated), pool.checkedout()) == (0, 1)


async def test_the_statement_wakes_idle_workers_only_for_a_job_due_at_once(db_url: str) -> None:
    """With no debounce, the commit that queues a processing job notifies idle workers (as
    ``jobs.repository.announce`` does); a debounced job, or a batch that queued none (its
    connection's job was queued already), notifies nobody."""
    async with open_store(db_url) as sessionmaker:
        later, now = await add_connection(sessionmaker), await add_connection(sessionmaker)
        dsn = make_url(db_url).set(drivername="postgresql").render_as_string(hide_password=False)
        listener = await asyncpg.connect(dsn)
        heard: list[str] = []
        await listener.add_listener(CHANNEL, lambda *args: heard.append(args[-1]))
        try:
            for debounce_s, connection_id, key in (
                (DELAY_S, later, "a"),
                (0.0, now, "b"),
                (0.0, now, "c"),
            ):
                writer = InboxWriter(sessionmaker, debounce_s=debounce_s)
                async with running(writer):
                    assert await writer.write(event_rows(connection_id, [_event(key, 1)])) == 1
            await _pg_admin(dsn, f"SELECT pg_notify('{CHANNEL}', 'sentinel')")

            async def sentinel_heard() -> bool:
                return "sentinel" in heard

            await eventually(sentinel_heard, "the sentinel notification")
        finally:
            await listener.close()
        assert heard == ["", "sentinel"]


async def test_a_store_that_fails_refuses_the_whole_batch_without_splitting_it(
    db_url: str,
) -> None:
    """The store itself fails (it refuses connections): every delivery of the batch gets 503
    at once, not one attempt each as for a batch refused for its values."""
    database = str(make_url(db_url).database)
    async with open_store(db_url) as sessionmaker:
        connection_id = await add_connection(sessionmaker)
        writer = InboxWriter(sessionmaker, debounce_s=DELAY_S)
        async with running(writer), refusing_connections(database):
            with capture_logs() as logs:
                answers = await asyncio.gather(
                    *(
                        writer.write(event_rows(connection_id, [_event(key, n)]))
                        for n, key in enumerate("abc")
                    ),
                    return_exceptions=True,
                )
        assert all(isinstance(answer, StoreUnavailable) for answer in answers), answers
        events = [e["event"] for e in logs]
        assert events.count("webhook.inbox_write_failed") == 1
        assert "webhook.inbox_batch_split" not in events
