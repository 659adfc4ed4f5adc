"""What the job queue tests share: virtual time, a store per test, and reading job rows."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from syncbridge.jobs import Job, enqueue
from syncbridge.models.base import utcnow
from syncbridge.store.unit_of_work import in_unit_of_work, unit_of_work

T = TypeVar("T")


class ManualClock:
    """Virtual time that moves only when the test says: ``sleep`` waits for ``advance``.

    It starts a day ahead of the wall clock, so jobs queued "now" are ready on it.
    """

    def __init__(self, start: datetime | None = None) -> None:
        self._now = start or utcnow() + timedelta(days=1)
        self._sleepers: list[tuple[datetime, asyncio.Future[None]]] = []

    def now(self) -> datetime:
        return self._now

    async def sleep(self, seconds: float) -> None:
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        entry = (self._now + timedelta(seconds=seconds), asyncio.get_running_loop().create_future())
        self._sleepers.append(entry)
        try:
            await entry[1]
        finally:
            self._sleepers.remove(entry)

    def advance(self, seconds: float) -> None:
        """Move time on; every sleep that has run out returns."""
        self._now += timedelta(seconds=seconds)
        for deadline, waiter in self._sleepers:
            if deadline <= self._now and not waiter.done():
                waiter.set_result(None)

    @property
    def sleepers(self) -> int:
        """How many sleeps are waiting for time to move."""
        return len(self._sleepers)


async def eventually(check: Callable[[], Awaitable[bool]], what: str) -> None:
    """Wait until ``check`` holds. The bound only stops a hung test; nothing is timed."""
    for _ in range(3000):
        if await check():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"never happened: {what}")


async def finished(waitable: Awaitable[T]) -> T:
    """Await ``waitable``; the bound only stops a hung test (a broken fence hangs a handler)."""
    return await asyncio.wait_for(waitable, timeout=60)


async def queue(
    sessionmaker: async_sessionmaker[AsyncSession],
    kind: str,
    payload: dict[str, Any] | None = None,
    **options: Any,
) -> uuid.UUID:
    """Enqueue one job in a unit of work of its own; its id."""
    async with unit_of_work(sessionmaker) as session:
        job = await enqueue(session, kind, payload or {}, **options)
        return job.id


async def job_row(sessionmaker: async_sessionmaker[AsyncSession], job_id: uuid.UUID) -> Job:
    """The job as committed now."""

    async def read(session: AsyncSession) -> Job:
        return (await session.scalars(select(Job).where(Job.id == job_id))).one()

    return await in_unit_of_work(sessionmaker, read, write=False)


async def all_jobs(sessionmaker: async_sessionmaker[AsyncSession]) -> list[Job]:
    async def read(session: AsyncSession) -> list[Job]:
        return list(await session.scalars(select(Job).order_by(Job.created_at)))

    return await in_unit_of_work(sessionmaker, read, write=False)
