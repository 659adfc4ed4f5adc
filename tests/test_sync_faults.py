"""Syncs when things go wrong: vendors that fail or loop, bad records, a failure between two
pages, a stream another run holds; and no transaction open while a vendor is called."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from syncbridge_bynder import BynderConnector

from syncbridge.connector.http import create_http_client
from syncbridge.connector.ratelimit import override_time
from syncbridge.connector.testing import FakeClock, ids_of, read_all
from syncbridge.models import Run, RunRejection, RunStream, StoredRecord, StreamState
from syncbridge.sandbox.faults import FaultKnobs
from syncbridge.store.unit_of_work import in_unit_of_work, unit_of_work
from syncbridge.sync import create_run, execute_run, run_sync
from tests.connectors.bynder.support import settings_for
from tests.runs_support import Gate
from tests.sync_connectors import KEY, ShapesSettings, shapes_registry
from tests.sync_support import (
    HostRouter,
    Sessionmaker,
    add_connection,
    bynder_portal,
    connect_bynder,
    context,
    items,
    run_streams,
)

pytest_plugins = ["tests.store_fixtures"]


async def _shapes_run(sessionmaker: Sessionmaker, streams: list[str]) -> tuple[Run, dict[str, Any]]:
    ctx = context(shapes_registry())
    connection_id = await add_connection(sessionmaker, ctx, KEY, ShapesSettings())
    async with create_http_client() as http:
        run = await run_sync(
            sessionmaker, ctx, http, connection_id=connection_id, streams=streams, requested_by="t"
        )
    return run, await run_streams(sessionmaker, run.id)


async def test_a_page_repeating_the_previous_one_fails_the_stream_instead_of_looping(
    sessionmaker: Sessionmaker,
) -> None:
    run, streams = await _shapes_run(sessionmaker, ["repeating", "fine"])
    assert streams["repeating"].status == "failed"
    assert "repeated the previous page" in (streams["repeating"].error or "")
    assert streams["repeating"].pages == 1  # the first page was written, the repeat was not
    assert streams["fine"].status == "succeeded"
    assert run.status == "failed"


async def test_a_cursor_that_does_not_move_fails_the_stream_instead_of_looping(
    sessionmaker: Sessionmaker,
) -> None:
    _run, streams = await _shapes_run(sessionmaker, ["stuck"])
    assert streams["stuck"].status == "failed"
    assert "next cursor equals the previous" in (streams["stuck"].error or "")
    assert streams["stuck"].pages == 1


async def test_records_that_fail_validation_are_counted_and_kept_with_their_reason(
    sessionmaker: Sessionmaker,
) -> None:
    run, streams = await _shapes_run(sessionmaker, ["mixed"])
    rs = streams["mixed"]
    assert rs.status == "succeeded", rs.error
    assert (rs.read, rs.inserted, rs.rejected) == (8, 2, 6)
    async with sessionmaker() as session:
        rejections = (
            await session.execute(
                select(RunRejection.external_id, RunRejection.reason).where(
                    RunRejection.run_id == run.id
                )
            )
        ).all()
        typed = await session.scalar(
            select(StoredRecord.data).where(StoredRecord.external_id == "typed")
        )
    reasons = {(e or "")[:8]: r for e, r in rejections}
    assert set(reasons) == {"", "xxxxxxxx", "not-json", "nan", "huge", "naive"}
    assert reasons[""] == "no external id"
    assert "longer than 500" in reasons["xxxxxxxx"]
    assert "not JSON" in reasons["not-json"]
    assert "not JSON" in reasons["nan"]
    assert "larger than" in reasons["huge"]
    assert "time zone" in reasons["naive"]
    # Decimals and datetimes are stored as strings, deterministically.
    assert typed == {"amount": "12.50", "at": "2026-11-30T12:00:00+00:00", "day": "2026-11-30"}


async def test_a_failing_vendor_fails_its_streams_while_the_others_finish(
    sessionmaker: Sessionmaker,
) -> None:
    ctx = context()
    good, good_host = bynder_portal(0, assets=12)
    bad, bad_host = bynder_portal(1, assets=12, faults=FaultKnobs(rate_429=1.0, retry_after_s=0))
    good_id = await connect_bynder(sessionmaker, ctx, good, good_host)
    bad_id = await connect_bynder(sessionmaker, ctx, bad, bad_host)
    transport = HostRouter({good_host: good, bad_host: bad})
    with override_time(FakeClock().source):  # the connector's backoff on virtual time
        async with create_http_client(transport=transport) as http:
            run = await run_sync(sessionmaker, ctx, http, full=True, requested_by="t")
    assert run.connection_id is None
    assert run.status == "failed"
    async with sessionmaker() as session:
        rows = (await session.scalars(select(Run))).all()
    assert len(rows) == 1
    by_connection: dict[uuid.UUID, list[RunStream]] = {good_id: [], bad_id: []}
    for rs in await _all_run_streams(sessionmaker, run.id):
        by_connection[rs.connection_id].append(rs)
    assert {rs.status for rs in by_connection[good_id]} == {"succeeded"}
    for rs in by_connection[bad_id]:
        assert rs.status == "failed"
        assert "rate limited" in (rs.error or "")
        # Every call the connector made (its retries included) was a 429.
        assert rs.vendor_calls == rs.rate_limited > 1
    assert len([i for i in await items(sessionmaker, good_id) if i[0] == "media"]) == 12
    assert await items(sessionmaker, bad_id) == []


async def _all_run_streams(sessionmaker: Sessionmaker, run_id: uuid.UUID) -> list[RunStream]:
    async with sessionmaker() as session:
        return list(await session.scalars(select(RunStream).where(RunStream.run_id == run_id)))


class FailAfter(httpx.AsyncBaseTransport):
    """Turns the simulator's 5xx knob fully on once ``pages`` media listings were answered."""

    def __init__(self, sim: Any, knobs: FaultKnobs, pages: int) -> None:
        self.inner = httpx.ASGITransport(app=sim)
        self.knobs = knobs
        self.left = pages

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        if request.url.path == "/api/v4/media/" and response.status_code == 200:
            self.left -= 1
            if self.left == 0:
                self.knobs.rate_5xx = 1.0
        return response


async def test_a_failure_between_pages_leaves_the_last_page_and_its_cursor_committed(
    sessionmaker: Sessionmaker,
) -> None:
    ctx = context()
    # A latency of a microsecond only makes the simulator put its fault layer in place.
    knobs = FaultKnobs(latency_s=1e-6)
    sim, host = bynder_portal(assets=45, faults=knobs)
    connection_id = await connect_bynder(sessionmaker, ctx, sim, host)
    async with create_http_client(transport=httpx.ASGITransport(app=sim)) as plain:
        model = settings_for(sim, base_url=f"https://{host}", page_size=10)
        expected = await read_all(BynderConnector(model, plain), "media")
    with override_time(FakeClock().source):
        async with create_http_client(transport=FailAfter(sim, knobs, 3)) as http:
            run = await run_sync(
                sessionmaker, ctx, http, connection_id=connection_id, streams=["media"],
                requested_by="t",
            )  # fmt: skip
    rs = (await run_streams(sessionmaker, run.id))["media"]
    assert rs.status == "failed"
    assert "HTTP 503" in (rs.error or "")
    assert rs.pages == 3
    stored = sorted(e for _s, e, _h, _d in await items(sessionmaker, connection_id))
    assert stored == sorted(ids_of(expected[:3]))
    async with sessionmaker() as session:
        cursor = await session.scalar(
            select(StreamState.cursor).where(StreamState.connection_id == connection_id)
        )
    assert cursor == rs.last_cursor == expected[2].next_cursor
    # The vendor recovers: the next run goes on from that cursor and misses nothing.
    knobs.rate_5xx = 0.0
    async with create_http_client(transport=httpx.ASGITransport(app=sim)) as http:
        again = await run_sync(
            sessionmaker,
            ctx,
            http,
            connection_id=connection_id,
            streams=["media"],
            requested_by="t",
        )
    assert again.status == "succeeded", again.error
    assert sorted(e for _s, e, _h, _d in await items(sessionmaker, connection_id)) == sorted(
        sim.portal.media
    )
    assert (await run_streams(sessionmaker, again.id))["media"].inserted == 45 - len(stored)


async def test_a_hanging_vendor_holds_no_transaction_open(
    engine: AsyncEngine, sessionmaker: Sessionmaker
) -> None:
    # The guarantee behind "no transaction open while a vendor is called": however long a
    # vendor takes, no database connection waits on it. The pages before the hanging call
    # commit (the next page is read ahead while one is written) and nothing stays checked
    # out of the pool while the call hangs.
    ctx = context()
    sim, host = bynder_portal(assets=25)
    connection_id = await connect_bynder(sessionmaker, ctx, sim, host)

    media_calls = 0

    def third_media_page(request: httpx.Request, _seen: int) -> bool:
        nonlocal media_calls
        media_calls += request.url.path == "/api/v4/media/"
        return media_calls == 3

    gate = Gate(httpx.ASGITransport(app=sim), stop_at=third_media_page)
    async with create_http_client(transport=gate) as http:
        running = asyncio.create_task(
            run_sync(
                sessionmaker, ctx, http, connection_id=connection_id, full=True, requested_by="t"
            )
        )
        await asyncio.wait_for(gate.arrived.wait(), timeout=60)
        async with asyncio.timeout(60):
            while await _pages_committed(sessionmaker, connection_id) < 2:  # noqa: ASYNC110
                await asyncio.sleep(0.01)
        await asyncio.sleep(0.05)  # the call still hangs: nothing may be waiting on it
        assert engine.pool.checkedout() == 0  # type: ignore[attr-defined]
        assert not running.done()
        gate.open()
        run = await running
    assert run.status == "succeeded", run.error
    assert (await run_streams(sessionmaker, run.id))["media"].read == 25


async def _pages_committed(sessionmaker: Sessionmaker, connection_id: uuid.UUID) -> int:
    async def work(session: AsyncSession) -> int:
        pages = await session.scalar(
            select(RunStream.pages).where(
                RunStream.connection_id == connection_id, RunStream.stream == "media"
            )
        )
        return int(pages or 0)

    return await in_unit_of_work(sessionmaker, work, write=False)


async def test_a_stream_held_by_a_running_run_is_refused_with_a_clear_error(
    sessionmaker: Sessionmaker,
) -> None:
    ctx = context(shapes_registry())
    connection_id = await add_connection(sessionmaker, ctx, KEY, ShapesSettings())
    async with create_http_client() as http:
        holder = await create_run(
            sessionmaker, ctx, http, connection_id=connection_id, full=False, streams=["fine"],
            requested_by="t",
        )  # fmt: skip
        async with unit_of_work(sessionmaker) as session:
            await session.execute(update(Run).where(Run.id == holder).values(status="running"))
            session.add(
                StreamState(connection_id=connection_id, stream="fine", claimed_by_run_id=holder)
            )
        refused = await run_sync(
            sessionmaker, ctx, http, connection_id=connection_id, streams=["fine"], requested_by="t"
        )
        rs = (await run_streams(sessionmaker, refused.id))["fine"]
        assert rs.status == "failed"
        assert rs.error == f"StreamBusy: run {holder} is reading this stream"
        assert rs.read == 0
        # The holder itself goes on (a resume), and once it finished others may read.
        done = await execute_run(sessionmaker, ctx, http, holder)
        assert done.status == "succeeded", done.error
        later = await run_sync(
            sessionmaker, ctx, http, connection_id=connection_id, streams=["fine"], requested_by="t"
        )
    assert later.status == "succeeded", later.error


async def test_executing_a_finished_run_again_changes_nothing(sessionmaker: Sessionmaker) -> None:
    ctx = context(shapes_registry())
    connection_id = await add_connection(sessionmaker, ctx, KEY, ShapesSettings())
    async with create_http_client() as http:
        run = await run_sync(
            sessionmaker, ctx, http, connection_id=connection_id, streams=["fine"], requested_by="t"
        )
        again = await execute_run(sessionmaker, ctx, http, run.id)
    assert (again.status, again.finished_at) == (run.status, run.finished_at)

    async def count(session: AsyncSession) -> int:
        return len((await session.scalars(select(StoredRecord))).all())

    assert await in_unit_of_work(sessionmaker, count, write=False) == 3
