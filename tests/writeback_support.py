"""What the write-back tests share: a sandbox world synced, its facts computed and its
default tag rule loaded; scoring runs (which plan the write-backs); workers that send them;
and reading the outbox, the ledger and each simulated DAM's tags."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import uuid
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import httpx
import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from syncbridge_bynder.simulator import BynderSimulator
from syncbridge_cloudinary.simulator import CloudinarySimulator

from syncbridge.bootstrap import load_default_taxonomy
from syncbridge.connections.schemas import ConnectionUpdate
from syncbridge.connections.service import update_connection
from syncbridge.jobs import HandlerRegistry, Job, Worker
from syncbridge.jobs.services import JobServices
from syncbridge.metrics.service import compute_metrics
from syncbridge.models import (
    Asset,
    Connection,
    DesiredTag,
    WriteBack,
    WriteBackAttempt,
    WriteBackState,
)
from syncbridge.sandbox.world import World
from syncbridge.scoring.runs import execute_score_run, queue_score_run
from syncbridge.store.unit_of_work import in_unit_of_work
from syncbridge.tagging.defaults import load_default_tag_rules
from syncbridge.writeback.service import SEND_JOB
from tests.sandbox_support import EmbeddedWorld, embedded_world

Sessionmaker = async_sessionmaker[AsyncSession]
PREFIX = "perf:"
DAMS = ("bynder", "cloudinary", "localfolder")


@dataclass
class WritebackWorld:
    """A synced sandbox world with facts and the default tag rule, and a store engine."""

    embedded: EmbeddedWorld
    engine: AsyncEngine
    sessionmaker: Sessionmaker

    @property
    def bynder(self) -> BynderSimulator:
        return cast(BynderSimulator, self.embedded.sandbox.simulators["bynder"])

    @property
    def cloudinary(self) -> CloudinarySimulator:
        return cast(CloudinarySimulator, self.embedded.sandbox.simulators["cloudinary"])

    @property
    def folder(self) -> Path:
        return self.embedded.sandbox.folder / "localfolder"


@asynccontextmanager
async def writeback_world(
    engine: AsyncEngine, sessionmaker: Sessionmaker, folder: Path, *, assets: int = 40
) -> AsyncIterator[WritebackWorld]:
    """Every sandbox connection synced (full), facts computed, the default taxonomy and tag
    rule loaded; nothing scored yet."""
    async with embedded_world(sessionmaker, World(assets_count=assets), folder) as embedded:

        async def defaults(session: AsyncSession) -> None:
            await load_default_taxonomy(session)
            await load_default_tag_rules(session, "test")

        await in_unit_of_work(sessionmaker, defaults)
        run = await embedded.sync(full=True)
        await compute_metrics(sessionmaker, run_id=run.id)
        yield WritebackWorld(embedded, engine, sessionmaker)


async def score(world: WritebackWorld) -> uuid.UUID:
    """A scoring run to its end (it plans the write-backs in its last transaction)."""

    async def queue(session: AsyncSession) -> uuid.UUID:
        return (await queue_score_run(session, requested_by="test")).id

    run_id = await in_unit_of_work(world.sessionmaker, queue)
    await execute_score_run(world.sessionmaker, run_id)
    return run_id


def worker(
    world: WritebackWorld, *, http: httpx.AsyncClient | None = None, owner: str | None = None
) -> Worker:
    """A worker with the built-in handlers and vendor access to the world's simulators."""
    services = JobServices(connections=world.embedded.ctx, http=http or world.embedded.http)
    return Worker(
        world.engine, HandlerRegistry.load(), services=services, listen=False, owner=owner
    )


async def send_jobs(world: WritebackWorld) -> list[Job]:
    async def read(session: AsyncSession) -> list[Job]:
        rows = await session.scalars(select(Job).where(Job.kind == SEND_JOB))
        return list(rows)

    return await in_unit_of_work(world.sessionmaker, read, write=False)


async def make_due(world: WritebackWorld) -> None:
    """Every queued send job and pending write-back due now (a retry's backoff skipped, as
    a clock moving on would)."""

    async def work(session: AsyncSession) -> None:
        now = await session.scalar(select(Job.created_at).order_by(Job.created_at).limit(1))
        assert now is not None
        await session.execute(
            update(Job).where(Job.status == "queued", Job.kind == SEND_JOB).values(run_after=now)
        )
        await session.execute(
            update(WriteBack).where(WriteBack.status == "pending").values(run_after=now)
        )

    await in_unit_of_work(world.sessionmaker, work)


async def send_all(world: WritebackWorld, **options: Any) -> None:
    """Run the write-back senders until none is queued and due (each retry made due)."""
    runner = worker(world, **options)
    for _ in range(50):  # only stops a runaway loop: nothing is timed
        await make_due(world) if any(j.status == "queued" for j in await send_jobs(world)) else None
        outcomes = await runner.run_once()
        if not outcomes:
            return
    raise AssertionError("the senders never ran out of work")


async def writebacks(world: WritebackWorld) -> list[WriteBack]:
    async def read(session: AsyncSession) -> list[WriteBack]:
        return list(await session.scalars(select(WriteBack).order_by(WriteBack.created_at)))

    return await in_unit_of_work(world.sessionmaker, read, write=False)


async def ledger(world: WritebackWorld) -> list[WriteBackAttempt]:
    async def read(session: AsyncSession) -> list[WriteBackAttempt]:
        return list(await session.scalars(select(WriteBackAttempt).order_by(WriteBackAttempt.id)))

    return await in_unit_of_work(world.sessionmaker, read, write=False)


async def states(world: WritebackWorld) -> list[WriteBackState]:
    async def read(session: AsyncSession) -> list[WriteBackState]:
        return list(await session.scalars(select(WriteBackState)))

    return await in_unit_of_work(world.sessionmaker, read, write=False)


@dataclass(frozen=True)
class StoredAsset:
    """An asset as the last sync read it, with its desired tier concepts."""

    id: uuid.UUID
    connector: str
    connection_id: uuid.UUID
    external_id: str
    data: Mapping[str, Any]
    concepts: frozenset[str]

    @property
    def human_tags(self) -> list[str]:
        """The tags people set, as the sync read them."""
        return [str(t) for t in self.data.get("tags") or [] if not str(t).startswith(PREFIX)]

    @property
    def desired(self) -> set[str]:
        return set(self.concepts)


async def stored_assets(world: WritebackWorld) -> dict[uuid.UUID, StoredAsset]:
    """Every live asset of the DAM connections, by id."""

    async def read(session: AsyncSession) -> dict[uuid.UUID, StoredAsset]:
        rows = await session.execute(
            select(Asset, Connection.connector_key)
            .join(Connection, Connection.id == Asset.connection_id)
            .where(Connection.connector_key.in_(DAMS), Asset.deleted_at.is_(None))
        )
        concepts: dict[uuid.UUID, set[str]] = {}
        for tag in await session.scalars(select(DesiredTag)):
            concepts.setdefault(tag.asset_id, set()).add(tag.concept)
        return {
            asset.id: StoredAsset(
                asset.id,
                key,
                asset.connection_id,
                asset.external_id,
                dict(asset.data),
                frozenset(concepts.get(asset.id, set())),
            )
            for asset, key in rows
        }

    return await in_unit_of_work(world.sessionmaker, read, write=False)


async def connection_id(world: WritebackWorld, connector: str) -> uuid.UUID:
    async def read(session: AsyncSession) -> uuid.UUID:
        found = await session.scalar(
            select(Connection.id).where(Connection.connector_key == connector)
        )
        assert found is not None
        return found

    return await in_unit_of_work(world.sessionmaker, read, write=False)


async def set_connection(world: WritebackWorld, connector: str, **settings: Any) -> None:
    """Change settings of the world's connection of ``connector`` (as PATCH would)."""
    wanted = await connection_id(world, connector)

    async def work(session: AsyncSession) -> None:
        connection = await session.get(Connection, wanted)
        assert connection is not None
        body = ConnectionUpdate(settings=settings)
        await update_connection(session, world.embedded.ctx, connection, body, actor="test")

    await in_unit_of_work(world.sessionmaker, work)


# --- what each DAM holds now ----------------------------------------------------------------


def bynder_tags(world: WritebackWorld, media_id: str) -> list[str]:
    """A medium's tags once Bynder has applied the accepted writes."""
    world.bynder.apply_pending()
    return [str(t) for t in world.bynder.media(media_id)["tags"]]


def cloudinary_tags(world: WritebackWorld, asset_id: str) -> list[str]:
    return list(world.cloudinary.store.by_asset_id[asset_id].tags)


def exiftool() -> str:
    """The exiftool executable (fails or skips, by SYNCBRIDGE_REQUIRE_EXIFTOOL, when absent)."""
    found = shutil.which("exiftool")
    if found is not None:
        return found
    if os.environ.get("SYNCBRIDGE_REQUIRE_EXIFTOOL") == "1":
        pytest.fail("exiftool is required (SYNCBRIDGE_REQUIRE_EXIFTOOL=1) but not installed")
    pytest.skip("exiftool not installed (apt-get install libimage-exiftool-perl)")


async def xmp_keywords(folder: Path, paths: list[str]) -> dict[str, list[str]]:
    """The XMP dc:subject keywords exiftool reads in each asset's sidecar (``<file>.xmp``),
    by asset path; an asset without a sidecar has none."""
    sidecars = {p: folder / f"{p}.xmp" for p in paths}
    present = {p: s for p, s in sidecars.items() if s.is_file()}
    out: dict[str, list[str]] = {p: [] for p in paths}
    if not present:
        return out
    process = await asyncio.create_subprocess_exec(
        exiftool(),
        "-j",
        "-XMP-dc:Subject",
        *map(str, present.values()),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    raw, err = await process.communicate()
    assert process.returncode == 0, err.decode()
    by_file = {entry["SourceFile"]: entry.get("Subject", []) for entry in json.loads(raw)}
    for path, sidecar in present.items():
        subject = by_file.get(str(sidecar), [])
        out[path] = [str(k) for k in subject] if isinstance(subject, list) else [str(subject)]
    return out
