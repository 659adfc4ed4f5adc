"""The sender's reuse rule: a write-back a reconciliation planned is sent, on its first
attempt, from the store's copy of the asset (which the run just read and refreshed through
the inbox) instead of re-reading the asset, and the change handed to the connector carries
that copy, so Bynder's writer does not read the medium either. Anything else re-reads: a
copy older than ``SYNCBRIDGE_WRITEBACK_REREAD_AFTER_S`` (0: always), a write-back planned
by another run, a retry (QUALITY R13). Calls are recorded at the transport."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from syncbridge.inbox import jobs as inbox_jobs
from syncbridge.jobs import HandlerRegistry, Job, Worker
from syncbridge.jobs.services import JobServices
from syncbridge.models import Asset, WriteBack
from syncbridge.models.base import utcnow
from syncbridge.settings import get_settings
from syncbridge.store.unit_of_work import in_unit_of_work
from tests.reconcile_support import queue_reconcile, rows_of, run_only_reconcile, steady_world
from tests.writeback_support import (
    PREFIX,
    Sessionmaker,
    StoredAsset,
    WritebackWorld,
    bynder_tags,
    cloudinary_tags,
    stored_assets,
)

pytest_plugins = ["tests.store_fixtures"]


class Recording(httpx.AsyncBaseTransport):
    """The sandbox in process; notes every call as (simulator, method, path)."""

    def __init__(self, app: FastAPI) -> None:
        self.inner = httpx.ASGITransport(app=app)
        self.calls: list[tuple[str, str, str]] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        parts = request.url.path.split("/", 3)  # "", "sandbox", key, rest
        self.calls.append((parts[2], request.method, "/" + parts[3]))
        return await self.inner.handle_async_request(request)

    def bynder_reads(self) -> list[str]:
        """The media read one by one (a medium's own GET), by id."""
        return [
            path.rstrip("/").rsplit("/", 1)[-1]
            for key, method, path in self.calls
            if key == "bynder" and method == "GET" and path.rstrip("/").count("/") >= 4
            and "/v4/media/" in path
        ]  # fmt: skip

    def cloudinary_reads(self) -> int:
        """Reads by asset id (``fetch``)."""
        return sum(
            1 for key, _m, path in self.calls if key == "cloudinary" and "by_asset_ids" in path
        )

    def writes(self, key: str) -> int:
        return sum(
            1
            for k, method, path in self.calls
            if k == key and method == "POST" and "metaproperties" not in path
        )


@pytest.fixture
async def world(
    engine: AsyncEngine, sessionmaker: Sessionmaker, tmp_path: Path
) -> AsyncIterator[WritebackWorld]:
    async with steady_world(engine, sessionmaker, tmp_path / "dam") as built:
        yield built


@pytest.fixture
def reread_after(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    get_settings.cache_clear()
    yield monkeypatch
    get_settings.cache_clear()


def tagged(assets: dict[uuid.UUID, StoredAsset], connector: str) -> list[StoredAsset]:
    chosen = [a for a in assets.values() if a.connector == connector and a.concepts]
    return sorted(chosen, key=lambda a: a.external_id)


def strip(world: WritebackWorld, asset: StoredAsset) -> None:
    """A person removes the owned tags of ``asset`` in its DAM."""
    if asset.connector == "bynder":
        kept = [t for t in bynder_tags(world, asset.external_id) if not t.startswith(PREFIX)]
        world.bynder.edit_tags(asset.external_id, kept)
    else:
        kept = [t for t in cloudinary_tags(world, asset.external_id) if not t.startswith(PREFIX)]
        world.cloudinary.set_tags(asset.external_id, kept)


def owned_back(world: WritebackWorld, asset: StoredAsset) -> bool:
    if asset.connector == "bynder":
        held = bynder_tags(world, asset.external_id)
    else:
        held = cloudinary_tags(world, asset.external_id)
    return sorted(t for t in held if t.startswith(PREFIX)) == sorted(asset.concepts)


def recording(world: WritebackWorld) -> tuple[Recording, httpx.AsyncClient]:
    app = FastAPI()
    world.embedded.sandbox.mount(app)
    transport = Recording(app)
    return transport, httpx.AsyncClient(transport=transport)


async def run_jobs(
    world: WritebackWorld, http: httpx.AsyncClient, registry: HandlerRegistry
) -> None:
    """Run the queued jobs ``registry`` handles, delays skipped, until none is left."""
    runner = Worker(
        world.engine,
        registry,
        services=JobServices(connections=world.embedded.ctx, http=http),
        listen=False,
    )
    for _ in range(50):  # only stops a runaway loop

        async def due(session: AsyncSession) -> None:
            now = utcnow()
            await session.execute(update(Job).where(Job.status == "queued").values(run_after=now))
            await session.execute(
                update(WriteBack).where(WriteBack.status == "pending").values(run_after=now)
            )

        await in_unit_of_work(world.sessionmaker, due)
        world.bynder.apply_pending()
        if not await runner.run_once():
            world.bynder.apply_pending()
            return
    raise AssertionError("the queue never ran dry")


def processing_only() -> HandlerRegistry:
    registry = HandlerRegistry()
    inbox_jobs.register(registry)
    return registry


async def repairs_of(world: WritebackWorld, run_id: uuid.UUID) -> dict[uuid.UUID, WriteBack]:
    return {w.asset_id: w for w in await rows_of(world, WriteBack) if w.run_id == run_id}


async def test_a_reconciliation_repair_is_sent_from_what_the_run_read(
    world: WritebackWorld,
) -> None:
    assets = await stored_assets(world)
    medium, resource = tagged(assets, "bynder")[0], tagged(assets, "cloudinary")[0]
    strip(world, medium)
    strip(world, resource)
    transport, http = recording(world)
    async with http:
        run_id = await queue_reconcile(world)
        run = await run_only_reconcile(world, run_id)
        assert run.report is not None
        assert run.report["counts"]["tag_drift"] == 2
        transport.calls.clear()
        await run_jobs(world, http, HandlerRegistry.load())

    assert owned_back(world, medium)
    assert owned_back(world, resource)
    assert {w.status for w in (await repairs_of(world, run_id)).values()} == {"done"}
    # One write each, and no asset read again: neither by the sender nor by Bynder's writer.
    assert transport.bynder_reads() == []
    assert transport.cloudinary_reads() == 0
    assert (transport.writes("bynder"), transport.writes("cloudinary")) == (1, 1)


async def test_other_write_backs_copies_too_old_and_retries_re_read(
    world: WritebackWorld,
) -> None:
    assets = await stored_assets(world)
    fresh, old_copy, other_run, retry = tagged(assets, "bynder")[:4]
    for asset in (fresh, old_copy, other_run, retry):
        strip(world, asset)
    transport, http = recording(world)
    async with http:
        run_id = await queue_reconcile(world)
        await run_only_reconcile(world, run_id)
        await run_jobs(world, http, processing_only())
        repairs = await repairs_of(world, run_id)
        assert set(repairs) == {a.id for a in (fresh, old_copy, other_run, retry)}

        async def vary(session: AsyncSession) -> None:
            await session.execute(
                update(Asset)
                .where(Asset.id == old_copy.id)
                .values(updated_at=utcnow() - timedelta(hours=1))
            )
            await session.execute(
                update(WriteBack)
                .where(WriteBack.id == repairs[other_run.id].id)
                .values(run_id=None)
            )
            # A retry: its first attempt failed (the vendor may have applied it).
            await session.execute(
                update(WriteBack).where(WriteBack.id == repairs[retry.id].id).values(attempts=1)
            )

        await in_unit_of_work(world.sessionmaker, vary)
        transport.calls.clear()
        await run_jobs(world, http, HandlerRegistry.load())

    for asset in (fresh, old_copy, other_run, retry):
        assert owned_back(world, asset), asset.external_id
    assert sorted(transport.bynder_reads()) == sorted(
        a.external_id for a in (old_copy, other_run, retry)
    )
    assert transport.writes("bynder") == 4


async def test_no_reuse_when_the_setting_is_zero(
    world: WritebackWorld, reread_after: pytest.MonkeyPatch
) -> None:
    reread_after.setenv("SYNCBRIDGE_WRITEBACK_REREAD_AFTER_S", "0")
    assets = await stored_assets(world)
    medium, resource = tagged(assets, "bynder")[0], tagged(assets, "cloudinary")[0]
    strip(world, medium)
    strip(world, resource)
    transport, http = recording(world)
    async with http:
        run_id = await queue_reconcile(world)
        await run_only_reconcile(world, run_id)
        transport.calls.clear()
        await run_jobs(world, http, HandlerRegistry.load())

    assert owned_back(world, medium)
    assert owned_back(world, resource)
    # The sender re-read each asset; Bynder's writer merged with that read, not another.
    assert transport.bynder_reads() == [medium.external_id]
    assert transport.cloudinary_reads() == 1
    assert (transport.writes("bynder"), transport.writes("cloudinary")) == (1, 1)
