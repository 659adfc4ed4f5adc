"""Triggering reconciliation: ``POST /v1/runs {"kind": "reconcile"}`` (editors) queues the
run, its DAM streams and its ``reconcile.run`` job together; a worker runs it and
``GET /v1/runs/{id}`` shows its report; a queued one can be cancelled; the scheduler's job
(``{"job_run_id": ...}``) and a bare job each make a run of their own."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from syncbridge_bynder.simulator import BynderSimulator

from syncbridge.jobs.service import enqueue
from syncbridge.models import InboxEvent, Run
from syncbridge.models.schedule import JobRun
from syncbridge.store.unit_of_work import in_unit_of_work
from tests.plugins_connections import HOSTS, HostTable
from tests.runs_support import (
    PORTAL_ADDRESS,
    PORTAL_HOST,
    Gate,
    audit,
    connect,
    jobs,
    portal,
    worker_of,
)

pytestmark = pytest.mark.embedded_worker(False)

ASSETS = 25


@pytest.fixture
def sim() -> BynderSimulator:
    return portal(ASSETS)


@pytest.fixture
def gate(sim: BynderSimulator) -> Gate:
    """The app's vendor transport: the portal, holding the second listing page until the
    test opens the gate (open from the start in the tests that do not close it)."""
    listings = 0

    def second_listing(request: httpx.Request, _seen: int) -> bool:
        nonlocal listings
        if request.method == "GET" and request.url.path.endswith("/media/"):
            listings += 1
        return listings == 2

    return Gate(httpx.ASGITransport(app=sim), stop_at=second_listing)


@pytest.fixture
def vendor_transport(gate: Gate) -> httpx.AsyncBaseTransport:
    return gate


@pytest.fixture
def vendor_hosts() -> HostTable:
    return HostTable({**HOSTS, PORTAL_HOST: [PORTAL_ADDRESS]})


async def test_an_editor_starts_a_reconciliation_and_its_report_shows_what_it_found(
    app: FastAPI,
    client: httpx.AsyncClient,
    editor: dict[str, str],
    sim: BynderSimulator,
    gate: Gate,
) -> None:
    gate.open()
    connection_id = await connect(app, sim)
    response = await client.post(
        "/v1/runs", json={"kind": "reconcile", "connection_id": str(connection_id)}, headers=editor
    )
    assert response.status_code == 202, response.text
    run = response.json()
    assert (run["kind"], run["status"], run["report"]) == ("reconcile", "queued", None)
    assert [s["stream"] for s in run["streams"]] == ["media"]
    [job] = await jobs(app)
    assert (job.kind, job.payload) == ("reconcile.run", {"run_id": run["id"]})
    [entry] = await audit(app, "run.start")
    assert entry.entity_id == run["id"]

    await worker_of(app).run_once()

    done = (await client.get(f"/v1/runs/{run['id']}", headers=editor)).json()
    assert done["status"] == "succeeded", done["error"]
    report = done["report"]
    # Nothing synced yet: every medium is new to the store, and goes to the inbox.
    assert report["counts"] == {"new": ASSETS, "changed": 0, "missing": 0, "tag_drift": 0}
    assert len(report["examples"]["new"]) == 5
    assert report["events_queued"] == ASSETS
    assert report["vendor_calls"] == done["streams"][0]["vendor_calls"] > 0
    assert report["rereads"] == {"crm": [], "analytics": []}
    [stream] = done["streams"]
    assert (stream["read"], stream["inserted"], stream["status"]) == (ASSETS, ASSETS, "succeeded")

    async def events(session: AsyncSession) -> list[InboxEvent]:
        return list(await session.scalars(select(InboxEvent)))

    stored = await in_unit_of_work(app.state.sessionmaker, events, write=False)
    assert {(e.action, e.status) for e in stored} == {("created", "pending")}
    assert {e.delivery_key for e in stored} == {
        f"reconcile:{run['id']}:media:{external_id}" for external_id in sim.portal.media
    }
    kinds = [j.kind for j in await jobs(app)]
    assert "inbox.process" in kinds


async def test_reconcile_takes_no_sync_fields_and_needs_an_editor(
    app: FastAPI,
    client: httpx.AsyncClient,
    editor: dict[str, str],
    viewer: dict[str, str],
    sim: BynderSimulator,
) -> None:
    await connect(app, sim)
    refused = await client.post("/v1/runs", json={"kind": "reconcile"}, headers=viewer)
    assert refused.status_code == 403
    bad = await client.post("/v1/runs", json={"kind": "reconcile", "full": True}, headers=editor)
    assert bad.status_code == 422
    unknown = await client.post(
        "/v1/runs", json={"kind": "reconcile", "connection_id": str(uuid.uuid4())}, headers=editor
    )
    assert unknown.status_code == 404
    assert await jobs(app) == []


async def test_a_running_reconciliation_stops_at_its_next_page_and_reports_what_it_found(
    app: FastAPI, client: httpx.AsyncClient, editor: dict[str, str], sim: BynderSimulator,
    gate: Gate,
) -> None:  # fmt: skip
    await connect(app, sim, page_size=10)
    run = (await client.post("/v1/runs", json={"kind": "reconcile"}, headers=editor)).json()
    working = asyncio.create_task(worker_of(app).run_once())
    await gate.arrived.wait()  # the first page is committed; the second is being read
    response = await client.post(f"/v1/runs/{run['id']}/cancel", headers=editor)
    assert response.status_code == 202, response.text
    assert response.json()["cancel_requested_at"] is not None
    gate.open()
    await working
    done = (await client.get(f"/v1/runs/{run['id']}", headers=editor)).json()
    assert done["status"] == "cancelled"
    [stream] = done["streams"]
    # Two pages committed (the second one's commit saw the cancel), the third never read.
    assert (stream["status"], stream["pages"]) == ("cancelled", 2)
    assert 10 < stream["read"] < ASSETS
    assert done["report"]["counts"]["new"] == stream["inserted"] == stream["read"]
    assert done["report"]["rereads"] == {"crm": [], "analytics": []}


async def test_a_queued_reconciliation_is_cancelled_with_its_job(
    app: FastAPI, client: httpx.AsyncClient, editor: dict[str, str], sim: BynderSimulator
) -> None:
    await connect(app, sim)
    run = (await client.post("/v1/runs", json={"kind": "reconcile"}, headers=editor)).json()
    response = await client.post(f"/v1/runs/{run['id']}/cancel", headers=editor)
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "cancelled"
    assert {s["status"] for s in response.json()["streams"]} == {"cancelled"}
    [job] = await jobs(app)
    assert job.status == "cancelled"
    assert await worker_of(app).run_once() == []


@pytest.mark.parametrize("scheduled", [True, False])
async def test_a_job_without_a_run_reconciles_every_connection_in_a_run_of_its_own(
    app: FastAPI, client: httpx.AsyncClient, editor: dict[str, str], sim: BynderSimulator,
    gate: Gate, scheduled: bool,
) -> None:  # fmt: skip
    gate.open()
    await connect(app, sim)

    async def queue(session: AsyncSession) -> uuid.UUID | None:
        if not scheduled:
            await enqueue(session, "reconcile.run", {}, concurrency_key="reconcile")
            return None
        slot = JobRun(name="reconcile", slot=datetime(2026, 12, 2, 2, tzinfo=UTC), owner="test")
        session.add(slot)
        await session.flush()
        payload = {"job_run_id": str(slot.id)}
        await enqueue(session, "reconcile.run", payload, concurrency_key="reconcile")
        return slot.id

    slot_id = await in_unit_of_work(app.state.sessionmaker, queue)
    await worker_of(app).run_once()

    async def read(session: AsyncSession) -> tuple[list[Run], JobRun | None]:
        runs = list(await session.scalars(select(Run).where(Run.kind == "reconcile")))
        slot = await session.get(JobRun, slot_id) if slot_id is not None else None
        return runs, slot

    runs, slot = await in_unit_of_work(app.state.sessionmaker, read, write=False)
    [run] = runs
    assert (run.status, run.requested_by, run.connection_id) == ("succeeded", "schedule", None)
    assert run.report is not None
    assert run.report["counts"]["new"] == ASSETS
    [job] = [j for j in await jobs(app) if j.kind == "reconcile.run"]
    assert job.payload["run_id"] == str(run.id)
    if slot is not None:
        assert slot.run_id == run.id
    shown = (await client.get(f"/v1/runs/{run.id}", headers=editor)).json()
    assert shown["report"] == run.report
