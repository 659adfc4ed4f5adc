"""``/v1/runs``: starting a sync queues the run and its jobs together; a worker runs it; the
report shows per-stream counts; a run can be cancelled, queued or running; roles and
problems. The app's in-process worker is off here: each test runs the worker it needs."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from syncbridge_bynder.simulator import BynderSimulator

from syncbridge.jobs import Outcome, WorkerConfig
from tests.conftest import BACKEND
from tests.plugins_connections import HOSTS, HostTable
from tests.runs_support import (
    PORTAL_ADDRESS,
    PORTAL_HOST,
    Gate,
    audit,
    connect,
    disable,
    jobs,
    portal,
    worker_of,
)
from tests.sync_support import items

pytestmark = pytest.mark.embedded_worker(False)

ASSETS = 30


@pytest.fixture
def sim() -> BynderSimulator:
    return portal(ASSETS)


@pytest.fixture
def gate(sim: BynderSimulator) -> Gate:
    """The app's vendor transport: the portal, behind a gate that starts open."""
    return Gate(httpx.ASGITransport(app=sim), stop_at=lambda _request, _seen: False)


@pytest.fixture
def vendor_transport(gate: Gate) -> httpx.AsyncBaseTransport:
    return gate


@pytest.fixture
def vendor_hosts() -> HostTable:
    return HostTable({**HOSTS, PORTAL_HOST: [PORTAL_ADDRESS]})


async def start(client: httpx.AsyncClient, headers: dict[str, str], **body: Any) -> httpx.Response:
    return await client.post("/v1/runs", json={"kind": "sync", **body}, headers=headers)


async def test_a_started_run_is_queued_with_one_job_per_connection_in_one_transaction(
    app: FastAPI, client: httpx.AsyncClient, editor: dict[str, str], sim: BynderSimulator
) -> None:
    connection_id = await connect(app, sim)
    response = await start(client, editor, connection_id=str(connection_id), full=True)
    assert response.status_code == 202, response.text
    run = response.json()
    assert response.headers["Location"] == f"/v1/runs/{run['id']}"
    assert (run["status"], run["full"]) == ("queued", True)
    assert run["requested_by"].startswith("key:test-editor ")
    assert {s["stream"] for s in run["streams"]} == {"media", "metaproperties"}
    assert all(s["status"] == "queued" and s["read"] == 0 for s in run["streams"])
    [job] = await jobs(app)
    assert job.kind == "sync.run"
    assert job.payload == {"run_id": run["id"], "connection_id": str(connection_id)}
    assert job.concurrency_key == f"connection:{connection_id}"
    [entry] = await audit(app, "run.start")
    assert (entry.entity_id, entry.actor) == (run["id"], run["requested_by"])


async def test_a_worker_runs_the_run_and_its_report_shows_each_streams_counts(
    app: FastAPI,
    client: httpx.AsyncClient,
    editor: dict[str, str],
    viewer: dict[str, str],
    sim: BynderSimulator,
) -> None:
    connection_id = await connect(app, sim)
    run_id = (await start(client, editor, connection_id=str(connection_id), full=True)).json()["id"]
    assert await worker_of(app).run_once() == [Outcome.done]
    report = (await client.get(f"/v1/runs/{run_id}", headers=viewer)).json()
    assert report["status"] == "succeeded", report["error"]
    assert report["started_at"] is not None
    assert report["finished_at"] is not None
    media = next(s for s in report["streams"] if s["stream"] == "media")
    assert (media["status"], media["read"], media["inserted"]) == ("succeeded", ASSETS, ASSETS)
    assert (media["updated"], media["deleted"], media["rejected"]) == (0, 0, 0)
    assert media["pages"] >= ASSETS // 10
    assert media["vendor_calls"] >= media["pages"]
    assert media["rate_limited"] == 0
    assert report["rejections"] == []
    stored = await items(app.state.sessionmaker, connection_id)
    assert len([i for i in stored if i[0] == "media"]) == ASSETS


async def test_an_incremental_run_after_a_full_one_writes_nothing(
    app: FastAPI, client: httpx.AsyncClient, editor: dict[str, str], sim: BynderSimulator
) -> None:
    connection_id = await connect(app, sim)
    await start(client, editor, connection_id=str(connection_id), full=True)
    await worker_of(app).run_once()
    run_id = (await start(client, editor, connection_id=str(connection_id))).json()["id"]
    await worker_of(app).run_once()
    report = (await client.get(f"/v1/runs/{run_id}", headers=editor)).json()
    assert report["status"] == "succeeded"
    for stream in report["streams"]:
        assert (stream["inserted"], stream["updated"], stream["deleted"]) == (0, 0, 0), stream


async def test_unknown_connection_is_404_disabled_409_unknown_stream_422_each_with_a_reason(
    app: FastAPI, client: httpx.AsyncClient, editor: dict[str, str], sim: BynderSimulator
) -> None:
    missing = await start(client, editor, connection_id=str(uuid.uuid4()))
    assert (missing.status_code, missing.json()["reason"]) == (404, "no_connection")
    assert missing.headers["content-type"] == "application/problem+json"
    connection_id = await connect(app, sim)
    unknown = await start(client, editor, connection_id=str(connection_id), streams=["nope"])
    assert (unknown.status_code, unknown.json()["reason"]) == (422, "unknown_stream")
    assert unknown.json()["errors"] == [{"field": "streams", "reason": "no stream 'nope'"}]
    await disable(app, connection_id)
    disabled = await start(client, editor, connection_id=str(connection_id))
    assert (disabled.status_code, disabled.json()["reason"]) == (409, "connection_disabled")
    everything = await start(client, editor)
    assert (everything.status_code, everything.json()["reason"]) == (409, "no_enabled_connection")
    assert await jobs(app) == []
    listed = (await client.get("/v1/runs", headers=editor)).json()
    assert listed["total"] == 0


async def test_a_run_of_every_enabled_connection_has_a_job_per_connection(
    app: FastAPI, client: httpx.AsyncClient, editor: dict[str, str], sim: BynderSimulator
) -> None:
    first = await connect(app, sim, name="a-portal")
    second = await connect(app, sim, name="b-portal")
    off = await connect(app, sim, name="c-portal")
    await disable(app, off)
    run = (await start(client, editor, streams=["metaproperties"])).json()
    assert run["connection_id"] is None
    assert {s["connection_id"] for s in run["streams"]} == {str(first), str(second)}
    assert {j.concurrency_key for j in await jobs(app)} == {
        f"connection:{first}",
        f"connection:{second}",
    }
    worker = worker_of(app)
    assert await worker.run_once() == [Outcome.done]
    midway = (await client.get(f"/v1/runs/{run['id']}", headers=editor)).json()
    assert midway["status"] == "running"  # one connection's streams are still queued
    assert await worker.run_once() == [Outcome.done]
    done = (await client.get(f"/v1/runs/{run['id']}", headers=editor)).json()
    assert done["status"] == "succeeded"


async def test_a_second_run_of_a_busy_connection_waits_then_runs(
    app: FastAPI, client: httpx.AsyncClient, editor: dict[str, str], sim: BynderSimulator
) -> None:
    connection_id = await connect(app, sim)
    first = (await start(client, editor, connection_id=str(connection_id), full=True)).json()
    second = (await start(client, editor, connection_id=str(connection_id))).json()
    worker = worker_of(app, config=WorkerConfig(concurrency=2))
    # Room for two jobs, but both read one connection: only the first run's job is taken.
    [taken] = await worker.claim(2)
    assert taken.payload["run_id"] == first["id"]
    assert await worker.claim(2) == []
    assert await worker.execute(taken) == Outcome.done
    assert await worker.run_once() == [Outcome.done]
    for run in (first, second):
        report = (await client.get(f"/v1/runs/{run['id']}", headers=editor)).json()
        assert report["status"] == "succeeded", report["error"]


async def test_viewers_read_runs_and_only_editors_start_or_cancel_them(
    app: FastAPI,
    client: httpx.AsyncClient,
    viewer: dict[str, str],
    editor: dict[str, str],
    sim: BynderSimulator,
) -> None:
    connection_id = await connect(app, sim)
    refused = await start(client, viewer, connection_id=str(connection_id))
    assert refused.status_code == 403
    run_id = (await start(client, editor, connection_id=str(connection_id))).json()["id"]
    assert (await client.get("/v1/runs", headers=viewer)).status_code == 200
    assert (await client.get(f"/v1/runs/{run_id}", headers=viewer)).status_code == 200
    assert (await client.post(f"/v1/runs/{run_id}/cancel", headers=viewer)).status_code == 403
    assert (await client.get("/v1/runs")).status_code == 401


async def test_runs_are_listed_newest_first_and_filtered(
    app: FastAPI, client: httpx.AsyncClient, editor: dict[str, str], sim: BynderSimulator
) -> None:
    first = await connect(app, sim, name="a-portal")
    second = await connect(app, sim, name="b-portal")
    older = (await start(client, editor, connection_id=str(first))).json()["id"]
    newer = (await start(client, editor, connection_id=str(second))).json()["id"]
    await client.post(f"/v1/runs/{older}/cancel", headers=editor)
    listed = (await client.get("/v1/runs", headers=editor)).json()
    assert [r["id"] for r in listed["items"]] == [newer, older]
    assert all(len(r["streams"]) == 2 for r in listed["items"])
    by_connection = await client.get(
        "/v1/runs", params={"connection_id": str(first)}, headers=editor
    )
    assert [r["id"] for r in by_connection.json()["items"]] == [older]
    by_status = await client.get("/v1/runs", params={"status": "queued"}, headers=editor)
    assert [r["id"] for r in by_status.json()["items"]] == [newer]
    paged = (await client.get("/v1/runs", params={"limit": 1}, headers=editor)).json()
    assert (paged["total"], paged["next_offset"], len(paged["items"])) == (2, 1, 1)
    by_kind = await client.get("/v1/runs", params={"kind": "reconcile"}, headers=editor)
    assert by_kind.json()["total"] == 0
    assert (await client.get(f"/v1/runs/{uuid.uuid4()}", headers=editor)).status_code == 404


async def test_a_queued_run_is_cancelled_at_once_with_its_job(
    app: FastAPI, client: httpx.AsyncClient, editor: dict[str, str], sim: BynderSimulator
) -> None:
    connection_id = await connect(app, sim)
    run_id = (await start(client, editor, connection_id=str(connection_id))).json()["id"]
    cancelled = await client.post(f"/v1/runs/{run_id}/cancel", headers=editor)
    assert cancelled.status_code == 200
    body = cancelled.json()
    assert body["status"] == "cancelled"
    assert body["cancelled_by"].startswith("key:test-editor ")
    assert {s["status"] for s in body["streams"]} == {"cancelled"}
    [job] = await jobs(app)
    assert job.status == "cancelled"
    assert await worker_of(app).run_once() == []
    [entry] = await audit(app, "run.cancel")
    assert entry.entity_id == run_id
    again = await client.post(f"/v1/runs/{run_id}/cancel", headers=editor)
    assert (again.status_code, again.json()["reason"]) == (409, "run_finished")


async def test_a_running_run_stops_at_the_next_page_and_keeps_the_pages_it_committed(
    app: FastAPI,
    client: httpx.AsyncClient,
    editor: dict[str, str],
    sim: BynderSimulator,
    gate: Gate,
) -> None:
    connection_id = await connect(app, sim)
    media_calls = 0

    def third_media_page(request: httpx.Request, _seen: int) -> bool:
        nonlocal media_calls
        if request.url.path == "/api/v4/media/":
            media_calls += 1
        return media_calls == 3

    gate.stop_at = third_media_page
    run_id = (await start(client, editor, connection_id=str(connection_id), full=True)).json()["id"]
    working = asyncio.create_task(worker_of(app).run_once())
    await asyncio.wait_for(gate.arrived.wait(), timeout=60)
    stopping = await client.post(f"/v1/runs/{run_id}/cancel", headers=editor)
    assert stopping.status_code == 202
    assert (stopping.json()["status"], stopping.json()["cancel_requested_at"] is None) == (
        "running",
        False,
    )
    gate.open()
    assert await asyncio.wait_for(working, timeout=60) == [Outcome.done]
    report = (await client.get(f"/v1/runs/{run_id}", headers=editor)).json()
    assert report["status"] == "cancelled"
    streams = {s["stream"]: s for s in report["streams"]}
    assert streams["media"]["status"] == "cancelled"
    assert streams["metaproperties"]["status"] == "cancelled"
    assert streams["metaproperties"]["read"] == 0
    # Pages read before the cancel stay, and the page read across it; nothing is tombstoned.
    assert 0 < streams["media"]["read"] < ASSETS
    assert streams["media"]["deleted"] == 0
    stored = await items(app.state.sessionmaker, connection_id)
    assert len([i for i in stored if i[0] == "media"]) == streams["media"]["read"]
    finished = await client.post(f"/v1/runs/{run_id}/cancel", headers=editor)
    assert finished.status_code == 409


@pytest.mark.skipif(BACKEND != "sqlite", reason="one check of the OpenAPI document suffices")
async def test_the_runs_operations_are_documented_with_examples(client: httpx.AsyncClient) -> None:
    document = (await client.get("/openapi.json")).json()
    paths = document["paths"]
    assert paths["/v1/runs"]["post"]["operationId"] == "start_run"
    assert "202" in paths["/v1/runs"]["post"]["responses"]
    assert paths["/v1/runs/{run_id}/cancel"]["post"]["operationId"] == "cancel_run"
    schemas = document["components"]["schemas"]
    assert schemas["RunCreate"]["examples"]
    assert schemas["RunOut"]["examples"]
