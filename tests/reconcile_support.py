"""What the reconciliation tests share: a sandbox world in its steady state (synced, scored,
performance tags written to every simulated DAM and read back), a reconciliation run to its
end, and a worker draining everything it queues (inbox, re-read syncs, facts, scoring,
write-backs)."""

from __future__ import annotations

import copy
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from syncbridge_bynder.sim_params import iso

from syncbridge.models import InboxEvent, Job, Run, WriteBack, WriteBackState
from syncbridge.models.base import utcnow
from syncbridge.reconcile.service import plan_reconcile
from syncbridge.store.unit_of_work import in_unit_of_work
from tests.writeback_support import (
    PREFIX,
    Sessionmaker,
    WritebackWorld,
    score,
    send_all,
    worker,
    writeback_world,
)


def add_bynder_medium(world: WritebackWorld, like: str, media_id: str) -> None:
    """A person uploads a medium (a copy of ``like`` without syncbridge's tier)."""
    portal = world.bynder.portal
    medium = copy.deepcopy(portal.media[like])
    medium["id"] = media_id
    medium["tags"] = [t for t in medium["tags"] if not str(t).startswith(PREFIX)]
    medium.pop("property_PerformanceTier", None)
    tier = {o["id"] for o in portal.metaproperty_by_name("PerformanceTier")["options"]}
    medium["propertyOptions"] = [o for o in medium["propertyOptions"] if o not in tier]
    medium["dateModified"] = iso(portal.now())
    portal.media[media_id] = medium
    portal.edit(media_id)


@asynccontextmanager
async def steady_world(
    engine: AsyncEngine, sessionmaker: Sessionmaker, folder: Path, *, assets: int = 40
) -> AsyncIterator[WritebackWorld]:
    """A world whose DAMs carry the performance tags syncbridge wrote, and whose store has
    read them back (a full sync after the write-backs): nothing left to reconcile."""
    async with writeback_world(engine, sessionmaker, folder, assets=assets) as world:
        await score(world)
        await send_all(world)
        world.bynder.apply_pending()
        await world.embedded.sync(full=True)
        await drain(world)
        await age_confirmations(world)
        yield world


async def age_confirmations(world: WritebackWorld) -> None:
    """Every confirmed write-back an hour old, as a clock moving on would (drift is not
    judged on a state confirmed just before a page was read)."""

    async def work(session: AsyncSession) -> None:
        await session.execute(
            update(WriteBackState)
            .where(WriteBackState.confirmed_at.is_not(None))
            .values(confirmed_at=utcnow() - timedelta(hours=1))
        )

    await in_unit_of_work(world.sessionmaker, work)


async def queue_reconcile(
    world: WritebackWorld, connection_id: uuid.UUID | None = None
) -> uuid.UUID:
    async def work(session: AsyncSession) -> uuid.UUID:
        run = await plan_reconcile(
            session,
            world.embedded.ctx,
            world.embedded.http,
            connection_id=connection_id,
            requested_by="test",
        )
        return run.id

    return await in_unit_of_work(world.sessionmaker, work)


async def _make_due(world: WritebackWorld) -> None:
    async def work(session: AsyncSession) -> None:
        now = utcnow()
        await session.execute(update(Job).where(Job.status == "queued").values(run_after=now))
        await session.execute(
            update(WriteBack).where(WriteBack.status == "pending").values(run_after=now)
        )

    await in_unit_of_work(world.sessionmaker, work)


async def drain(world: WritebackWorld) -> None:
    """Run every queued job (each delay skipped, Bynder's accepted writes applied) until
    none is left."""
    runner = worker(world)
    for _ in range(200):  # only stops a runaway loop: nothing is timed
        await _make_due(world)
        world.bynder.apply_pending()
        if not await runner.run_once():
            world.bynder.apply_pending()
            return
    raise AssertionError("the queue never ran dry")


async def run_only_reconcile(world: WritebackWorld, run_id: uuid.UUID) -> Run:
    """Run the reconciliation job alone (what it queues stays queued)."""
    runner = worker(world)
    for _ in range(10):
        jobs = await queued_kinds(world)
        if "reconcile.run" not in jobs:
            break
        await runner.run_once()
    return await run_of(world, run_id)


async def run_of(world: WritebackWorld, run_id: uuid.UUID) -> Run:
    async def read(session: AsyncSession) -> Run:
        run = await session.get(Run, run_id)
        assert run is not None
        return run

    return await in_unit_of_work(world.sessionmaker, read, write=False)


async def reconcile(world: WritebackWorld, connection_id: uuid.UUID | None = None) -> Run:
    """A reconciliation run and everything it queued, to the end; the run."""
    run_id = await queue_reconcile(world, connection_id)
    await drain(world)
    return await run_of(world, run_id)


async def queued_kinds(world: WritebackWorld) -> list[str]:
    async def read(session: AsyncSession) -> list[str]:
        rows = await session.scalars(select(Job.kind).where(Job.status == "queued"))
        return sorted(rows)

    return await in_unit_of_work(world.sessionmaker, read, write=False)


async def rows_of(world: WritebackWorld, model: Any) -> list[Any]:
    async def read(session: AsyncSession) -> list[Any]:
        return list(await session.scalars(select(model)))

    return await in_unit_of_work(world.sessionmaker, read, write=False)


async def events_of(world: WritebackWorld, run_id: uuid.UUID) -> list[InboxEvent]:
    events: list[InboxEvent] = await rows_of(world, InboxEvent)
    return [e for e in events if e.delivery_key.startswith(f"reconcile:{run_id}:")]


__all__ = [
    "age_confirmations",
    "drain",
    "events_of",
    "queue_reconcile",
    "queued_kinds",
    "reconcile",
    "rows_of",
    "run_of",
    "run_only_reconcile",
    "steady_world",
]
