"""A worker told to stop (SIGTERM: a deploy) while it applies a connection's backlog of
events must leave what it did not apply to a job that will: the events still pending keep a
live ``inbox.process`` job."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from syncbridge.connections.service import ConnectionContext
from syncbridge.connector.http import create_http_client
from syncbridge.inbox import jobs as inbox_jobs
from syncbridge.inbox.service import PROCESS_JOB
from syncbridge.jobs import HandlerRegistry, Worker, WorkerConfig
from syncbridge.jobs.services import JobServices
from syncbridge.models import Job
from syncbridge.settings import Settings, get_settings
from syncbridge.store.unit_of_work import in_unit_of_work
from tests.inbox_support import Sandboxed, sandboxed_app
from tests.jobs_support import finished

pytestmark = pytest.mark.embedded_worker(False)


class GatedVendor(httpx.AsyncBaseTransport):
    """The vendor's transport, holding the first batch read until the test lets it go."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner
        self.reached = asyncio.Event()
        self.go_on = asyncio.Event()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/batch/read"):
            self.reached.set()
            await self.go_on.wait()
        return await self.inner.handle_async_request(request)


@pytest.fixture
async def world(settings: Settings, tmp_path: Path) -> AsyncIterator[Sandboxed]:
    async with sandboxed_app(settings, tmp_path / "dam", inbox_debounce_s=0.0) as world:
        yield world


async def test_a_worker_stopped_mid_backlog_leaves_the_rest_to_a_live_job(
    world: Sandboxed,
) -> None:
    batch = get_settings().inbox_batch
    sim = world.simulator("hubspot")
    deals = sorted(sim.ids("deals"), key=int)
    url = world.webhook_url("hubspot")
    total = batch + 100
    for start in range(0, total, 100):
        events = [
            sim.webhooks.event("deals", deals[i % len(deals)], "propertyChange")
            for i in range(start, start + 100)
        ]
        headers, body, _ = sim.webhooks.delivery(events, url=url)
        answer = await world.client.post(url, content=body, headers=headers)
        assert answer.json()["new"] == 100
    state = world.app.state
    context = ConnectionContext(
        registry=state.registry,
        box=state.secret_box,
        allow_local=state.settings.allow_local_connections,
        resolver=state.ssrf_resolver,
        allowed_origins=state.sandbox_origins,
        policy=state.host_policy,
    )
    registry = HandlerRegistry()
    inbox_jobs.register(registry)
    gate = GatedVendor(httpx.ASGITransport(app=world.app))
    async with create_http_client(transport=gate) as http:
        worker = Worker(
            state.engine,
            registry,
            config=WorkerConfig(lease_s=30, poll_interval_s=0.05, grace_s=30),
            listen=False,
            services=JobServices(connections=context, http=http),
        )
        running = asyncio.create_task(worker.run())
        await finished(gate.reached.wait())
        # SIGTERM while the first batch is being fetched: it finishes, the rest waits.
        worker.stop()
        gate.go_on.set()
        await finished(running)

    statuses = Counter(e.status for e in await world.events())
    assert statuses == {"handled": batch, "pending": 100}

    async def jobs(session: AsyncSession) -> list[Job]:
        return list(await session.scalars(select(Job).where(Job.kind == PROCESS_JOB)))

    live = [j for j in await in_unit_of_work(state.sessionmaker, jobs, write=False)
            if j.status in ("queued", "running")]  # fmt: skip
    assert live, "100 events pending and no job to apply them"
