"""QUALITY R12 for the inbox: a worker applying a connection's events stalls past its lease
(between the vendor fetch and its fenced write) while another worker takes the job over and
applies the events; when the stale one resumes, its write and its completion are refused and
the events are applied once."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from structlog.testing import capture_logs

from syncbridge.connections.service import ConnectionContext
from syncbridge.connector.http import create_http_client
from syncbridge.inbox import jobs as inbox_jobs
from syncbridge.inbox.service import PROCESS_JOB
from syncbridge.jobs import HandlerRegistry, Outcome, Worker, WorkerConfig
from syncbridge.jobs.services import JobServices
from syncbridge.models import Job, Run, RunStream, StoredRecord
from syncbridge.settings import Settings
from syncbridge.store.unit_of_work import in_unit_of_work
from tests.inbox_support import Sandboxed, sandboxed_app
from tests.jobs_support import ManualClock, finished

pytestmark = pytest.mark.embedded_worker(False)

LEASE_S = 30.0


class GatedVendor(httpx.AsyncBaseTransport):
    """The vendor's transport with a gate before every batch read: the fetch of fresh state
    waits there until the test lets it go on (the worker "stalls")."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner
        self.reached = asyncio.Event()
        self.go_on = asyncio.Event()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/batch/read"):
            self.reached.set()
            await self.go_on.wait()
        return await self.inner.handle_async_request(request)


def _context(world: Sandboxed) -> ConnectionContext:
    state = world.app.state
    return ConnectionContext(
        registry=state.registry,
        box=state.secret_box,
        allow_local=state.settings.allow_local_connections,
        resolver=state.ssrf_resolver,
        allowed_origins=state.sandbox_origins,
        policy=state.host_policy,
    )


def _worker(world: Sandboxed, http: httpx.AsyncClient, clock: ManualClock, owner: str) -> Worker:
    registry = HandlerRegistry()
    inbox_jobs.register(registry)
    config = WorkerConfig(lease_s=LEASE_S, renew_every_s=LEASE_S / 3, poll_interval_s=5.0)
    services = JobServices(connections=_context(world), http=http)
    return Worker(
        world.app.state.engine,
        registry,
        config=config,
        clock=clock,
        owner=owner,
        listen=False,
        services=services,
    )


@pytest.fixture
async def world(settings: Settings, tmp_path: Path) -> AsyncIterator[Sandboxed]:
    async with sandboxed_app(settings, tmp_path / "dam", inbox_debounce_s=0.0) as world:
        yield world


async def _deliver(world: Sandboxed) -> tuple[set[str], int]:
    """Eight signed events about three deals; the deal ids and the events stored."""
    sim = world.simulator("hubspot")
    deals = sorted(sim.ids("deals"), key=int)[:3]
    url = world.webhook_url("hubspot")
    events = [sim.webhooks.event("deals", deals[i % 3], "propertyChange") for i in range(8)]
    headers, body, _ = sim.webhooks.delivery(events, url=url)
    answer = await world.client.post(url, content=body, headers=headers)
    assert answer.status_code == 200, answer.text
    return set(deals), int(answer.json()["new"])


async def _state(world: Sandboxed) -> tuple[list[Run], list[RunStream], list[StoredRecord], Job]:
    async def read(
        session: AsyncSession,
    ) -> tuple[list[Run], list[RunStream], list[StoredRecord], Job]:
        return (
            list(await session.scalars(select(Run).where(Run.kind == "events"))),
            list(await session.scalars(select(RunStream))),
            list(await session.scalars(select(StoredRecord))),
            (await session.scalars(select(Job).where(Job.kind == PROCESS_JOB))).one(),
        )

    return await in_unit_of_work(world.app.state.sessionmaker, read, write=False)


@pytest.mark.parametrize("b_finishes_first", [True, False], ids=["b-done-first", "b-still-running"])
async def test_r12_a_stalled_processor_cannot_apply_events_a_second_time(
    world: Sandboxed, b_finishes_first: bool
) -> None:
    # A stalls (its whole process: its clock stands still, so it renews nothing) inside the
    # vendor fetch; B, whose time goes on, takes the job over once A's lease has run out.
    paused, moving = ManualClock(), ManualClock()
    inner = httpx.ASGITransport(app=world.app)
    gate_a, gate_b = GatedVendor(inner), GatedVendor(inner)
    async with (
        create_http_client(transport=gate_a) as http_a,
        create_http_client(transport=gate_b) as http_b,
    ):
        worker_a = _worker(world, http_a, paused, "worker-a")
        worker_b = _worker(world, http_b, moving, "worker-b")
        deals, stored = await _deliver(world)
        assert stored == 8

        a_running = asyncio.create_task(worker_a.run_once())
        await finished(gate_a.reached.wait())
        moving.advance(LEASE_S + 1)
        b_running = asyncio.create_task(worker_b.run_once())
        await finished(gate_b.reached.wait())
        if b_finishes_first:
            gate_b.go_on.set()
            assert await finished(b_running) == [Outcome.done]
        # A resumes with the fresh state it fetched: its fenced write is refused (its lease
        # token is no longer the job's), so it writes no run and marks no event.
        with capture_logs() as logs:
            gate_a.go_on.set()
            assert await finished(a_running) == [Outcome.lease_lost]
        assert [e["owner"] for e in logs if e["event"] == "job.lease_lost"] == ["worker-a"]
        assert [e for e in logs if e["event"] == "inbox.events_applied"] == []
        if not b_finishes_first:
            runs, _, records, _ = await _state(world)
            assert (runs, records) == ([], [])
            assert Counter(e.status for e in await world.events()) == {"pending": 8}
            gate_b.go_on.set()
            assert await finished(b_running) == [Outcome.done]

    runs, run_streams, records, job = await _state(world)
    [run] = runs
    assert run.status == "succeeded"
    events = await world.events()
    assert Counter((e.status, e.outcome, e.run_id) for e in events) == {
        ("handled", "fetched", run.id): 8
    }
    [rs] = [r for r in run_streams if r.run_id == run.id]
    assert (rs.stream, rs.read, rs.inserted, rs.updated, rs.unchanged) == ("deals", 3, 3, 0, 0)
    assert {r.external_id for r in records} == deals
    assert all(r.last_run_id == run.id for r in records)
    # B's completion stands; A's did not land.
    assert (job.status, job.attempts, job.last_error, job.lease_token) == ("done", 2, None, None)


async def test_r12_a_stalled_processor_whose_job_was_taken_over_loses_nothing_left_pending(
    world: Sandboxed,
) -> None:
    # B takes over and fails at the vendor (its transport is cut): the events stay pending
    # with one attempt counted by B; A's stale write changes none of that.
    paused, moving = ManualClock(), ManualClock()
    inner = httpx.ASGITransport(app=world.app)
    gate_a = GatedVendor(inner)

    class Cut(httpx.AsyncBaseTransport):
        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            raise httpx.ConnectError("connection refused", request=request)

    async with (
        create_http_client(transport=gate_a) as http_a,
        create_http_client(transport=Cut()) as http_b,
    ):
        worker_a = _worker(world, http_a, paused, "worker-a")
        worker_b = _worker(world, http_b, moving, "worker-b")
        await _deliver(world)
        a_running = asyncio.create_task(worker_a.run_once())
        await finished(gate_a.reached.wait())
        moving.advance(LEASE_S + 1)
        assert await worker_b.run_once() == [Outcome.retry]
        gate_a.go_on.set()
        assert await finished(a_running) == [Outcome.lease_lost]
    runs, _, records, job = await _state(world)
    assert (runs, records) == ([], [])
    events = await world.events()
    assert Counter((e.status, e.attempts, e.run_id) for e in events) == {("pending", 1, None): 8}
    assert (job.status, job.attempts) == ("queued", 2)
    assert "ConnectError" in str(job.last_error)
