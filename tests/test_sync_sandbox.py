"""The embedded default: `serve --sandbox` on SQLite runs one job worker in the API process
with the built-in handlers, so one `POST /v1/runs` fills the store from every sandbox vendor;
and for every sandbox connector, an incremental run right after a full one writes nothing.

On PostgreSQL the same app is told to run its worker in-process (`serve` leaves it to
`syncbridge worker` there), so the flow is shown on both stores.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.types import Receive, Scope, Send

from syncbridge.app import create_app
from syncbridge.bootstrap import bootstrap_store
from syncbridge.cli.serve import sandbox_settings
from syncbridge.connector.registry import ConnectorRegistry
from syncbridge.jobs import Worker
from syncbridge.models import Asset, Classification, Connection, StoredRecord
from syncbridge.sandbox.embedded import EmbeddedSandbox, prepare_sandbox_connections
from syncbridge.sandbox.spec import SandboxRegistry
from syncbridge.sandbox.world import World
from syncbridge.settings import Settings
from syncbridge.store.unit_of_work import in_unit_of_work
from tests.test_linking_ground_truth import expected_links, read_store

pytestmark = pytest.mark.embedded_worker(True)

PUBLIC_URL = "http://127.0.0.1:8000"
SANDBOX_CONNECTORS = ("bynder", "cloudinary", "csv", "ga4", "hubspot", "localfolder", "salesforce")
FINISHED = ("succeeded", "failed", "cancelled")
#: Enough assets that some campaigns are live in the analytics window (GA4 and its CSV
#: exports have rows); with 30 the sandbox world has no analytics rows at all.
ASSETS = 150
#: Mapping rules over an asset's own data and over the campaigns linked to it.
CLASSIFYING_RULES = (
    {
        "connector_key": "bynder",
        "field_path": "type",
        "operator": "equals",
        "values": ["video"],
        "concept": "asset:video",
    },
    {
        "connector_key": "hubspot",
        "stream": "campaigns",
        "field_path": "utm.utm_medium",
        "operator": "equals",
        "values": ["email"],
        "concept": "channel:email",
    },
    {
        "connector_key": "salesforce",
        "stream": "Campaign",
        "field_path": "Type",
        "operator": "equals",
        "values": ["Email"],
        "concept": "channel:email",
    },
)


@pytest.fixture
def sandbox(tmp_path: Path) -> EmbeddedSandbox:
    return EmbeddedSandbox.build(
        SandboxRegistry.from_entry_points(),
        ConnectorRegistry.from_entry_points(),
        world=World(assets_count=ASSETS),
        public_url=PUBLIC_URL,
        folder=tmp_path / "sandbox-dam",
    )


@pytest.fixture
async def sandbox_app(settings: Settings, sandbox: EmbeddedSandbox) -> AsyncIterator[FastAPI]:
    """The app as `serve --sandbox` builds it (its simulators mounted, ready connections),
    calling its own simulators in-process instead of over a socket."""
    local = sandbox_settings(settings, PUBLIC_URL, sandbox.folder)
    local = local.model_copy(update={"worker_poll_interval_s": 0.05})
    await prepare_sandbox_connections(local, sandbox, ConnectorRegistry.from_entry_points())
    built: list[FastAPI] = []

    async def into_the_app(scope: Scope, receive: Receive, send: Send) -> None:
        await built[0](scope, receive, send)

    app = create_app(local, sandbox, transport=httpx.ASGITransport(app=into_the_app))
    built.append(app)
    async with app.router.lifespan_context(app):
        yield app


@pytest.fixture
async def api(sandbox_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=sandbox_app)
    async with httpx.AsyncClient(transport=transport, base_url=PUBLIC_URL) as client:
        yield client


async def sync(api: httpx.AsyncClient, headers: dict[str, str], **body: Any) -> dict[str, Any]:
    """Start a run and poll it until it has finished; its report."""
    started = await api.post("/v1/runs", json={"kind": "sync", **body}, headers=headers)
    assert started.status_code == 202, started.text
    location = started.headers["Location"]
    for _ in range(6000):  # only stops a hung test: nothing is timed
        report: dict[str, Any] = (await api.get(location, headers=headers)).json()
        if report["status"] in FINISHED:
            return report
        await asyncio.sleep(0.02)
    raise AssertionError(f"the run never finished: {report}")


async def connection_ids(app: FastAPI) -> dict[str, str]:
    async def read(session: AsyncSession) -> dict[str, str]:
        rows = await session.execute(select(Connection.connector_key, Connection.id))
        return {key: str(connection_id) for key, connection_id in rows}

    return await in_unit_of_work(app.state.sessionmaker, read, write=False)


async def stored_counts(app: FastAPI) -> dict[str, int]:
    async def read(session: AsyncSession) -> dict[str, int]:
        counts: dict[str, int] = {}
        for model in (Asset, StoredRecord):
            rows = await session.execute(
                select(Connection.connector_key, func.count(model.id))
                .join(Connection, Connection.id == model.connection_id)
                .group_by(Connection.connector_key)
            )
            for key, count in rows:
                counts[key] = counts.get(key, 0) + count
        return counts

    return await in_unit_of_work(app.state.sessionmaker, read, write=False)


async def test_serve_sandbox_and_one_post_fill_the_store(
    sandbox_app: FastAPI, api: httpx.AsyncClient, editor: dict[str, str]
) -> None:
    assert isinstance(sandbox_app.state.worker, Worker)
    assert "sync.run" in sandbox_app.state.worker.registry.kinds
    report = await sync(api, editor, full=True)
    assert report["status"] == "succeeded", report["error"]
    assert report["connection_id"] is None
    keys = {v: k for k, v in (await connection_ids(sandbox_app)).items()}
    assert {keys[s["connection_id"]] for s in report["streams"]} == set(SANDBOX_CONNECTORS)
    counts = await stored_counts(sandbox_app)
    assert set(counts) == set(SANDBOX_CONNECTORS)
    assert all(n > 0 for n in counts.values()), counts
    latest = (await api.get("/v1/runs", headers=editor)).json()["items"][0]
    assert latest["id"] == report["id"]


@pytest.mark.parametrize("connector", SANDBOX_CONNECTORS)
async def test_an_incremental_run_right_after_a_full_one_writes_nothing(
    sandbox_app: FastAPI, api: httpx.AsyncClient, editor: dict[str, str], connector: str
) -> None:
    connection_id = (await connection_ids(sandbox_app))[connector]
    full = await sync(api, editor, connection_id=connection_id, full=True)
    assert full["status"] == "succeeded", full["error"]
    assert sum(s["inserted"] for s in full["streams"]) > 0
    before = await stored_counts(sandbox_app)
    incremental = await sync(api, editor, connection_id=connection_id)
    assert incremental["status"] == "succeeded", incremental["error"]
    for stream in incremental["streams"]:
        written = (stream["inserted"], stream["updated"], stream["deleted"])
        assert written == (0, 0, 0), (connector, stream)
    assert await stored_counts(sandbox_app) == before


async def test_a_run_through_the_worker_links_the_world_exactly_and_classifies(
    sandbox_app: FastAPI,
    sandbox: EmbeddedSandbox,
    api: httpx.AsyncClient,
    editor: dict[str, str],
) -> None:
    """The sync job settles what it read (links, then classifications): one POST gives the
    world's links, no more and no fewer, and classifications whose provenance names the run;
    a second, incremental run with no vendor change settles to the same store."""
    await bootstrap_store(sandbox_app.state.settings)  # as `serve` does: taxonomy, link rules
    for rule in CLASSIFYING_RULES:
        created = await api.post("/v1/mappings", json=rule, headers=editor)
        assert created.status_code == 201, created.text
    report = await sync(api, editor, full=True)
    assert report["status"] == "succeeded", report["error"]
    # Progress totals: Salesforce (its query's totalSize), Bynder (the first page's
    # count.total) and GA4 (the first answer's rowCount) report one, the folder DAM none.
    keys = {v: k for k, v in (await connection_ids(sandbox_app)).items()}
    totals = {
        (keys[s["connection_id"]], s["stream"]): (s["expected"], s["read"])
        for s in report["streams"]
    }
    assert all(
        expected == read
        for (key, _), (expected, read) in totals.items()
        if key == "salesforce" or (key, _) in {("bynder", "media"), ("ga4", "asset_performance")}
    )
    assert totals[("localfolder", "files")][0] is None
    store = await read_store(sandbox_app.state.sessionmaker)
    expected, kinds = expected_links(sandbox.world, store)
    assert kinds["ga4/asset_performance"] > 0, kinds
    found = {(link.asset_id, link.record_id) for link in store.links}
    assert found == expected
    assert {link.run_id for link in store.links} == {uuid.UUID(report["id"])}

    classified = await classifications(sandbox_app)
    assert {run_id for _, _, _, run_id in classified} == {uuid.UUID(report["id"])}
    # An asset's own data (Bynder's type), and the campaigns that used it (HubSpot, Salesforce).
    assert {(record is None) for _, _, record, _ in classified} == {True, False}

    again = await sync(api, editor)
    assert again["status"] == "succeeded", again["error"]
    after = await read_store(sandbox_app.state.sessionmaker)
    assert {(link.id, link.run_id) for link in after.links} == {
        (link.id, link.run_id) for link in store.links
    }
    assert await classifications(sandbox_app) == classified


Classified = set[tuple[uuid.UUID, uuid.UUID, uuid.UUID | None, uuid.UUID | None]]


async def classifications(app: FastAPI) -> Classified:
    async def read(session: AsyncSession) -> Classified:
        rows = await session.execute(
            select(
                Classification.asset_id,
                Classification.concept_id,
                Classification.record_id,
                Classification.run_id,
            )
        )
        return {(a, c, record, r) for a, c, record, r in rows}

    return await in_unit_of_work(app.state.sessionmaker, read, write=False)
