"""Write-back when vendors fail: a refused write is parked with the vendor's message while the
others complete; transient failures are retried and end dead after the configured attempts;
QUALITY R13 (the vendor applies the tags and the client times out: the retry re-reads,
sends nothing, the tags are right once and the ledger shows both attempts); QUALITY R9
(several workers, each as its own process with its own client, against a simulator
enforcing its limit: no window over the limit, no 429)."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from syncbridge.connector.ratelimit import TimeSource, override_time
from syncbridge.jobs import Worker
from syncbridge.models import TagRule
from syncbridge.settings import get_settings
from syncbridge.store.unit_of_work import in_unit_of_work
from tests.writeback_support import (
    PREFIX,
    Sessionmaker,
    WritebackWorld,
    bynder_tags,
    cloudinary_tags,
    connection_id,
    ledger,
    make_due,
    score,
    send_all,
    set_connection,
    stored_assets,
    worker,
    writeback_world,
    writebacks,
)

pytest_plugins = ["tests.store_fixtures"]


@pytest.fixture
async def world(
    engine: AsyncEngine, sessionmaker: Sessionmaker, tmp_path: Path
) -> AsyncIterator[WritebackWorld]:
    async with writeback_world(engine, sessionmaker, tmp_path / "dam", assets=30) as built:
        yield built


async def no_wait(_seconds: float) -> None:
    await asyncio.sleep(0)


@pytest.fixture
def instant_backoff() -> Iterator[None]:
    """Connectors built in the test retry without waiting (their limits are far off)."""
    with override_time(TimeSource(sleep=no_wait)):
        yield


@pytest.fixture
def full_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    """A retry waits the whole of its full-jitter range: the random draw (tenacity's
    ``random.uniform``) gives its upper bound. Left random, one draw in a hundred or so is
    shorter than the time the test takes to look again, the retry is due at once, and the
    test saw two attempts where it checks the first (a flake seen in CI)."""
    monkeypatch.setattr(random, "uniform", lambda _low, high: high)


class Faulty(httpx.AsyncBaseTransport):
    """The simulators in process, with a fault on the requests ``match`` picks (while
    ``active``): ``"timeout"`` lets the simulator apply the request, then times out;
    ``"503"`` and ``"403"`` answer so without passing it on."""

    def __init__(self, app: FastAPI, match: Callable[[httpx.Request], bool], fault: str) -> None:
        self.inner = httpx.ASGITransport(app=app)
        self.match, self.fault = match, fault
        self.active = True
        self.hits = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if not (self.active and self.match(request)):
            return await self.inner.handle_async_request(request)
        self.hits += 1
        if self.fault in ("503", "403"):
            status = int(self.fault)
            return httpx.Response(status, json={"error": {"message": f"simulated {status}"}})
        response = await self.inner.handle_async_request(request)
        await response.aread()
        raise httpx.ReadTimeout("simulated: applied, then timed out", request=request)


def simulators(world: WritebackWorld) -> FastAPI:
    app = FastAPI()
    world.embedded.sandbox.mount(app)
    return app


async def run_due(runner: Worker) -> None:
    """Run the due jobs until none is left (retries stay queued for later)."""
    for _ in range(20):  # only stops a runaway loop: nothing is timed
        if not await runner.run_once():
            return
    raise AssertionError("jobs kept coming")


async def test_a_refused_write_is_parked_with_the_vendors_message_and_the_others_go_on(
    world: WritebackWorld,
) -> None:
    await score(world)
    assets = await stored_assets(world)
    bynder = [a for a in assets.values() if a.connector == "bynder" and a.concepts]
    gone = bynder[0]
    world.bynder.portal.delete(gone.external_id)  # deleted in the DAM since the sync
    await send_all(world)
    rows = await writebacks(world)
    [parked] = [w for w in rows if w.asset_id == gone.id]
    assert (parked.status, parked.attempts) == ("dead", 1)
    assert parked.last_error is not None
    assert "no such media" in parked.last_error
    [attempt] = [a for a in await ledger(world) if a.writeback_id == parked.id]
    assert (attempt.vendor_status, attempt.error) == ("failed", parked.last_error)
    others = [w for w in rows if w.id != parked.id]
    assert others
    assert {w.status for w in others} == {"done"}
    for asset in bynder[1:]:
        owned = [t for t in bynder_tags(world, asset.external_id) if t.startswith(PREFIX)]
        assert sorted(owned) == sorted(asset.concepts)


@pytest.mark.usefixtures("instant_backoff")
async def test_an_asset_the_vendor_refuses_permission_for_is_parked_the_others_land(
    world: WritebackWorld,
) -> None:
    await score(world)
    assets = await stored_assets(world)
    bynder = [a for a in assets.values() if a.connector == "bynder" and a.concepts]
    refused = bynder[len(bynder) // 2]
    path = f"/sandbox/bynder/api/v4/media/{refused.external_id}/"
    transport = Faulty(
        simulators(world), lambda r: r.method == "POST" and r.url.path == path, "403"
    )
    async with httpx.AsyncClient(transport=transport) as http:
        await run_due(worker(world, http=http))
    rows = await writebacks(world)
    [parked] = [w for w in rows if w.asset_id == refused.id]
    assert (parked.status, parked.attempts) == ("dead", 1)
    assert parked.last_error is not None
    assert "HTTP 403" in parked.last_error
    assert {w.status for w in rows if w.id != parked.id} == {"done"}
    for asset in bynder:
        if asset.id != refused.id:
            owned = [t for t in bynder_tags(world, asset.external_id) if t.startswith(PREFIX)]
            assert sorted(owned) == sorted(asset.concepts)


@pytest.mark.usefixtures("instant_backoff")
async def test_transient_failures_are_retried_then_dead_after_the_configured_attempts(
    world: WritebackWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SYNCBRIDGE_WRITEBACK_MAX_ATTEMPTS", "2")
    get_settings.cache_clear()
    try:
        transport = Faulty(
            simulators(world),
            lambda r: r.method == "POST" and "/sandbox/cloudinary/" in r.url.path,
            "503",
        )
        async with httpx.AsyncClient(transport=transport) as http:
            runner = worker(world, http=http)
            await score(world)
            await run_due(runner)
            cloudinary = await connection_id(world, "cloudinary")
            failing = [w for w in await writebacks(world) if w.connection_id == cloudinary]
            # Each went back to pending with a backoff (full jitter: a short one may have
            # come round already, to its second and last attempt).
            assert failing
            assert {(w.status, w.attempts) for w in failing} <= {
                ("pending", 1),
                ("dead", 2),
            }
            assert all(w.run_after > w.updated_at for w in failing if w.status == "pending")
            await make_due(world)
            await run_due(runner)
    finally:
        get_settings.cache_clear()
    rows = [w for w in await writebacks(world) if w.connection_id == cloudinary]
    assert {(w.status, w.attempts) for w in rows} == {("dead", 2)}
    assert all(w.last_error and "HTTP 503" in w.last_error for w in rows)
    attempts = [a for a in await ledger(world) if a.connection_id == cloudinary]
    assert sorted(a.attempt for a in attempts) == sorted([1, 2] * len(rows))
    assert all(a.vendor_status == "failed" and a.added for a in attempts)
    # The other DAMs were not held up.
    others = [w for w in await writebacks(world) if w.connection_id != cloudinary]
    assert others
    assert {w.status for w in others} == {"done"}


@pytest.mark.usefixtures("instant_backoff", "full_backoff")
async def test_r13_an_ambiguous_timeout_is_resolved_by_re_reading_before_the_retry(
    world: WritebackWorld,
) -> None:
    await score(world)
    assets = await stored_assets(world)
    target = next(a for a in assets.values() if a.connector == "bynder" and a.concepts)
    path = f"/sandbox/bynder/api/v4/media/{target.external_id}/"
    transport = Faulty(
        simulators(world), lambda r: r.method == "POST" and r.url.path == path, "timeout"
    )
    async with httpx.AsyncClient(transport=transport) as http:
        runner = worker(world, http=http)
        await run_due(runner)
        assert transport.hits >= 1  # the vendor took the write each time
        [row] = [w for w in await writebacks(world) if w.asset_id == target.id]
        assert (row.status, row.attempts) == ("pending", 1)
        transport.active = False
        world.bynder.apply_pending()  # Bynder has applied what it accepted
        await make_due(world)
        await run_due(runner)
    [row] = [w for w in await writebacks(world) if w.asset_id == target.id]
    assert (row.status, row.attempts) == ("done", 2)
    held = bynder_tags(world, target.external_id)
    assert sorted(t for t in held if t.startswith(PREFIX)) == sorted(target.concepts)
    assert len(held) == len(set(held))
    assert [t for t in held if not t.startswith(PREFIX)] == target.human_tags
    attempts = [a for a in await ledger(world) if a.writeback_id == row.id]
    assert [(a.attempt, a.vendor_status) for a in attempts] == [(1, "failed"), (2, "unchanged")]
    assert attempts[0].error is not None
    assert "timed out" in attempts[0].error
    assert attempts[0].added == sorted(target.concepts)
    assert attempts[1].added == []


class VirtualTime:
    """Time that moves only when someone sleeps: the limiters and the simulator share it."""

    def __init__(self) -> None:
        self.at = time.time()

    def now(self) -> float:
        return self.at

    async def sleep(self, seconds: float) -> None:
        self.at += max(0.0, seconds)
        await asyncio.sleep(0)


class Timed(httpx.AsyncBaseTransport):
    """The simulators in process; notes when each Bynder API call arrives."""

    def __init__(self, app: FastAPI, clock: VirtualTime) -> None:
        self.inner = httpx.ASGITransport(app=app)
        self.clock = clock
        self.arrivals: list[float] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.startswith("/sandbox/bynder/api/"):
            self.arrivals.append(self.clock.now())
        return await self.inner.handle_async_request(request)


def busiest_window(arrivals: list[float], window_s: float) -> int:
    """The most calls in any window of ``window_s`` (half-open, as the simulator counts)."""
    times = sorted(arrivals)
    most, start = 0, 0
    for end, at in enumerate(times):
        while times[start] <= at - window_s:
            start += 1
        most = max(most, end - start + 1)
    return most


async def test_r9_several_workers_never_exceed_the_vendors_limit(world: WritebackWorld) -> None:
    limit, window = 20, 10.0
    clock = VirtualTime()
    await set_connection(
        world,
        "bynder",
        rate_limit_requests=limit,
        rate_limit_period_s=window,
        rate_limit_block_s=window,
        fetch_delay_s=0,
    )
    sim = world.bynder.rate_limit
    sim.max_requests, sim.window_s, sim.block_s, sim.clock = limit, window, window, clock.now
    timed = [Timed(simulators(world), clock) for _ in range(3)]
    clients = [httpx.AsyncClient(transport=t) for t in timed]
    # Three workers, each with its own client and connectors: as three processes.
    workers = [worker(world, http=c, owner=f"worker-{i}") for i, c in enumerate(clients)]
    with override_time(TimeSource(clock=clock.now, sleep=clock.sleep, wall_clock=clock.now)):
        await score(world)
        await run_due(workers[0])  # the tags land through the first worker

        async def disable(session: AsyncSession) -> None:
            await session.execute(update(TagRule).values(enabled=False))

        await in_unit_of_work(world.sessionmaker, disable)
        await score(world)  # their removal is sent by the second, at once after
        await run_due(workers[1])
        async with asyncio.TaskGroup() as group:  # and whatever is left, by all three
            for runner in workers:
                group.create_task(run_due(runner))
    for client in clients:
        await client.aclose()
    arrivals = [at for t in timed for at in t.arrivals]
    bynder = await connection_id(world, "bynder")
    rows = [w for w in await writebacks(world) if w.connection_id == bynder]
    assert len(rows) > limit  # more than one window's worth of writes
    assert {w.status for w in rows} == {"done"}
    assert len(arrivals) > 4 * limit
    assert world.bynder.rate_limited == 0
    assert busiest_window(arrivals, window) <= limit
    assets = await stored_assets(world)
    for w in rows:
        held = bynder_tags(world, assets[w.asset_id].external_id)
        assert not [t for t in held if t.startswith(PREFIX)]


async def test_cloudinary_tags_are_sent_in_batches(world: WritebackWorld) -> None:
    await score(world)
    before = dict(world.cloudinary.calls)
    await send_all(world)
    assets = await stored_assets(world)
    cloudinary = [a for a in assets.values() if a.connector == "cloudinary" and a.concepts]
    groups = {(a.data["resource_type"], frozenset(a.concepts)) for a in cloudinary}
    tag_calls = sum(
        n - before.get(k, 0) for k, n in world.cloudinary.calls.items() if k.startswith("upload:")
    )
    # One tags call per resource type and tier (every such asset in it), not one per asset.
    assert tag_calls == len(groups) < len(cloudinary)
    for asset in cloudinary:
        owned = [t for t in cloudinary_tags(world, asset.external_id) if t.startswith(PREFIX)]
        assert sorted(owned) == sorted(asset.concepts)
