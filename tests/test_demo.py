"""`syncbridge demo --once` through the CLI, on a small world in a fresh data folder: it
exits 0, the performance tags land in every simulated DAM (the folder DAM's XMP sidecars as
exiftool reads them; Bynder and Cloudinary as their APIs answered the demo's read-back
sync), an example asset's trace is complete, and the summary names the counts and the admin
key, which opens the API.

The demo runs on its own SQLite file by design (it ignores SYNCBRIDGE_DATABASE_URL), so
under SYNCBRIDGE_TEST_DB=postgresql://... it runs the same way.
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import structlog
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from typer.testing import CliRunner, Result

from syncbridge.assets.trace import trace_asset
from syncbridge.auth.service import authenticate
from syncbridge.cli.main import app
from syncbridge.connector.registry import ConnectorRegistry
from syncbridge.db import open_store
from syncbridge.demo.launch import DATABASE_FILE, FOLDER
from syncbridge.demo.transport import LateApp, SandboxOnlyTransport
from syncbridge.models import Asset, Connection, DesiredTag
from syncbridge.store.unit_of_work import in_unit_of_work
from tests.writeback_support import xmp_keywords

ASSETS = 30
DAMS = ("bynder", "cloudinary", "localfolder")
TRACE_URL = re.compile(r"GET http://127\.0\.0\.1:8000/v1/assets/([0-9a-f-]{36})/trace")
KEY = re.compile(r"Admin API key \(shown once, store it\): (\S+)")

Sessionmaker = async_sessionmaker[AsyncSession]


@dataclass(frozen=True)
class DemoRun:
    data: Path
    result: Result


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> DemoRun:
    """One `demo --once` of the module's tests (the cycle takes a while)."""
    data = tmp_path_factory.mktemp("demo")
    # The demo quietens logging below WARNING for the whole process (right for a command,
    # wrong for the tests that run after it in this one and read INFO events): put it back.
    structlog_config = structlog.get_config()
    levels = {
        name: logging.getLogger(name).level for name in ("", *logging.root.manager.loggerDict)
    }
    try:
        result = CliRunner().invoke(
            app,
            ["demo", "--once", "--assets", str(ASSETS), "--data-dir", str(data)],
            # Wide enough that no id or URL of the summary is wrapped.
            env={"COLUMNS": "200"},
        )
    finally:
        structlog.configure(**structlog_config)
        for name, level in levels.items():
            logging.getLogger(name or None).setLevel(level)
    return DemoRun(data, result)


@asynccontextmanager
async def demo_store(run: DemoRun) -> AsyncIterator[Sessionmaker]:
    async with open_store(f"sqlite+aiosqlite:///{run.data / DATABASE_FILE}") as sessionmaker:
        yield sessionmaker


async def dam_assets(sessionmaker: Sessionmaker) -> list[tuple[str, Asset, set[str]]]:
    """Every live DAM asset with its connector and the performance tags scoring wants."""

    async def read(session: AsyncSession) -> list[tuple[str, Asset, set[str]]]:
        rows = await session.execute(
            select(Connection.connector_key, Asset)
            .join(Connection, Connection.id == Asset.connection_id)
            .where(Connection.connector_key.in_(DAMS), Asset.deleted_at.is_(None))
        )
        desired: dict[uuid.UUID, set[str]] = {}
        for tag in await session.scalars(select(DesiredTag)):
            desired.setdefault(tag.asset_id, set()).add(tag.concept)
        return [(key, asset, desired.get(asset.id, set())) for key, asset in rows]

    return await in_unit_of_work(sessionmaker, read, write=False)


def test_the_demo_runs_one_cycle_and_exits_0(demo_run: DemoRun) -> None:
    assert demo_run.result.exit_code == 0, demo_run.result.output
    assert "Webhook round trip: hubspot" in demo_run.result.output
    assert "event handled" in demo_run.result.output


async def test_performance_tags_land_in_every_simulated_dam(demo_run: DemoRun) -> None:
    assert demo_run.result.exit_code == 0, demo_run.result.output
    async with demo_store(demo_run) as sessionmaker:
        assets = await dam_assets(sessionmaker)
    assert {key for key, _a, _d in assets} == set(DAMS)
    folder = demo_run.data / FOLDER / "localfolder"
    sidecars = await xmp_keywords(
        folder, [a.external_id for key, a, _d in assets if key == "localfolder"]
    )
    for key, asset, desired in assets:
        assert desired, (key, asset.external_id)
        # The folder DAM's sidecar as exiftool reads it; Bynder's and Cloudinary's tags as
        # their APIs answered the read-back sync that ends the cycle.
        held = sidecars[asset.external_id] if key == "localfolder" else asset.data["tags"]
        owned = {t for t in held if t.startswith("perf:")}
        assert owned == desired, (key, asset.external_id, held)


async def test_an_example_assets_trace_is_complete(demo_run: DemoRun) -> None:
    examples = TRACE_URL.findall(demo_run.result.output)
    assert len(examples) == len(DAMS), demo_run.result.output
    async with demo_store(demo_run) as sessionmaker:

        async def trace(asset_id: str) -> dict[str, list[object]]:
            async with sessionmaker() as session:
                found = await trace_asset(
                    session, ConnectorRegistry.from_entry_points(), uuid.UUID(asset_id)
                )
            return {
                "classifications": list(found.classifications.items),
                "links": list(found.links.items),
                "metrics": list(found.metrics.items),
                "performance_tags": list(found.performance_tags.items),
                "write_backs": list(found.write_backs.items),
            }

        for asset_id in examples:
            sections = await trace(asset_id)
            assert all(sections.values()), (asset_id, {k: len(v) for k, v in sections.items()})


async def test_the_summary_names_the_counts_and_an_admin_key_that_opens_the_api(
    demo_run: DemoRun,
) -> None:
    output = demo_run.result.output
    dams = ", ".join(f"{dam} {ASSETS}" for dam in DAMS)
    assert f"assets synced  {ASSETS * len(DAMS)} ({dams})" in output
    assert f"tags written   {dams}" in output
    assert re.search(r"classified     \d+ assets, \d+ classifications", output)
    assert re.search(r"links found    [\d,]+ record-asset links", output)
    match = KEY.search(output)
    assert match is not None, output
    async with demo_store(demo_run) as sessionmaker:
        raw = match.group(1)
        key = await in_unit_of_work(sessionmaker, lambda s: authenticate(s, raw), write=False)
    assert key is not None
    assert key.role.value == "admin"


async def test_the_demo_reaches_no_other_host_than_its_sandbox() -> None:
    transport = SandboxOnlyTransport(LateApp(), "http://127.0.0.1:8000")
    async with httpx.AsyncClient(transport=transport) as client:
        with pytest.raises(httpx.ConnectError, match="reaches only its sandbox"):
            await client.get("https://example.com/")
        with pytest.raises(httpx.ConnectError):
            await client.get("http://127.0.0.1:9000/sandbox/hubspot")
