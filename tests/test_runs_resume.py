"""A sync job whose worker died mid-run is taken over once its lease runs out, and the run
resumes from its last committed page: every item is read once more at most, none is
doubled or skipped, and the store ends as an uninterrupted run leaves it."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from syncbridge_bynder.simulator import BynderSimulator

from syncbridge.jobs import Outcome, WorkerConfig
from tests.jobs_support import ManualClock
from tests.plugins_connections import HOSTS, HostTable
from tests.runs_support import PORTAL_ADDRESS, PORTAL_HOST, Gate, connect, jobs, portal, worker_of
from tests.sync_support import items

pytestmark = pytest.mark.embedded_worker(False)

ASSETS = 30
LEASE_S = 60.0


@pytest.fixture
def sim() -> BynderSimulator:
    return portal(ASSETS)


@pytest.fixture
def gate(sim: BynderSimulator) -> Gate:
    media_calls = 0

    def third_media_page(request: httpx.Request, _seen: int) -> bool:
        nonlocal media_calls
        if request.url.path == "/api/v4/media/":
            media_calls += 1
        return media_calls == 3

    return Gate(httpx.ASGITransport(app=sim), stop_at=third_media_page)


@pytest.fixture
def vendor_transport(gate: Gate) -> httpx.AsyncBaseTransport:
    return gate


@pytest.fixture
def vendor_hosts() -> HostTable:
    return HostTable({**HOSTS, PORTAL_HOST: [PORTAL_ADDRESS]})


async def _media_once(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    run_id: str,
    condition: Callable[[dict[str, Any]], bool],
) -> dict[str, Any]:
    """The run's media stream once it meets ``condition`` (polled; at most 60 s)."""
    async with asyncio.timeout(60):
        while True:
            run = (await client.get(f"/v1/runs/{run_id}", headers=headers)).json()
            media: dict[str, Any] = next(s for s in run["streams"] if s["stream"] == "media")
            if condition(media):
                return media
            await asyncio.sleep(0.01)


async def test_a_run_whose_worker_died_is_resumed_by_another_from_its_last_page(
    app: FastAPI,
    client: httpx.AsyncClient,
    editor: dict[str, str],
    sim: BynderSimulator,
    gate: Gate,
) -> None:
    connection_id = await connect(app, sim)
    started = await client.post(
        "/v1/runs",
        json={"kind": "sync", "connection_id": str(connection_id), "full": True},
        headers=editor,
    )
    run_id = started.json()["id"]
    clock = ManualClock()
    config = WorkerConfig(lease_s=LEASE_S, poll_interval_s=1.0)
    first = worker_of(app, clock=clock, config=config, owner="dies")
    [job] = await first.claim(1)
    dying = asyncio.create_task(first.execute(job))
    await asyncio.wait_for(gate.arrived.wait(), timeout=60)
    # The third page is read ahead while the second is written: the second commits though
    # the vendor call for the third hangs. The worker dies while that call is in flight.
    media = await _media_once(client, editor, run_id, lambda media: media["pages"] == 2)
    dying.cancel()
    with pytest.raises(asyncio.CancelledError):
        await dying
    gate.open()
    midway = (await client.get(f"/v1/runs/{run_id}", headers=editor)).json()
    media = next(s for s in midway["streams"] if s["stream"] == "media")
    assert (midway["status"], media["pages"]) == ("running", 2)
    assert 0 < media["read"] < ASSETS
    # Nobody may take the job over while its lease holds; then another worker does.
    second = worker_of(app, clock=clock, config=config, owner="takes-over")
    assert await second.claim(1) == []
    clock.advance(LEASE_S + 1)
    assert await second.run_once() == [Outcome.done]
    [row] = [job for job in await jobs(app) if job.kind == "sync.run"]
    assert (row.status, row.attempts) == ("done", 2)
    report = (await client.get(f"/v1/runs/{run_id}", headers=editor)).json()
    assert report["status"] == "succeeded", report["error"]
    media = next(s for s in report["streams"] if s["stream"] == "media")
    # Pages 1-2 were committed before the crash and are not read again: each item is
    # inserted once, none is written twice.
    assert (media["inserted"], media["updated"], media["deleted"]) == (ASSETS, 0, 0)
    assert media["pages"] > 2
    # As many items read in all as by an uninterrupted run: nothing read twice.
    assert media["read"] == ASSETS
    stored = await items(app.state.sessionmaker, connection_id)
    media_items = [i for i in stored if i[0] == "media"]
    assert len(media_items) == ASSETS
    assert {external_id for _s, external_id, _h, _d in media_items} == set(sim.portal.media)
