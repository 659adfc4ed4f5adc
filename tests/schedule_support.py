"""What the schedule tests share: a clock the test sets, a clock that worker processes share
with the test, tickers as separate worker processes would run them (an engine each), and
reading the scheduler's rows."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from syncbridge.db import create_engine, create_sessionmaker
from syncbridge.jobs import Clock, Job
from syncbridge.jobs.services import JobServices
from syncbridge.models import JobRun
from syncbridge.models.base import utcnow
from syncbridge.schedule import ScheduledJob
from syncbridge.schedule.ticker import Ticker
from syncbridge.store.unit_of_work import in_unit_of_work

#: The catch-up window of the simulated workers.
WINDOW = timedelta(hours=6)


class SetClock:
    """Virtual time that stands where the test puts it; nothing in a tick sleeps."""

    def __init__(self, at: datetime) -> None:
        self.at = at

    def now(self) -> datetime:
        return self.at

    async def sleep(self, seconds: float) -> None:  # pragma: no cover - ticks never sleep
        raise AssertionError(f"a tick slept {seconds} s")


class SharedClock:
    """Virtual time that separate processes share through a file: it runs at wall speed from
    the instant the test last set, so heartbeats, polls and leases go on as in service, and
    it jumps when the test moves it on.

    The file holds the offset from the wall clock (every process reads one machine's wall
    clock); :meth:`set` replaces it atomically, so a reader sees the old offset or the new.
    """

    #: How often a sleep looks again whether virtual time has jumped past its end (wall s).
    LOOK_EVERY_S = 0.05

    def __init__(self, path: Path) -> None:
        self.path = path

    def set(self, at: datetime) -> None:
        """Make it ``at`` now (aware), for every process reading the file."""
        staged = self.path.with_name(self.path.name + ".new")
        staged.write_text(repr((at - utcnow()).total_seconds()))
        os.replace(staged, self.path)

    def now(self) -> datetime:
        return utcnow() + timedelta(seconds=float(self.path.read_text()))

    async def sleep(self, seconds: float) -> None:
        end = self.now() + timedelta(seconds=seconds)
        # The time is in a file another process writes: no event tells when it moves.
        while (left := (end - self.now()).total_seconds()) > 0:  # noqa: ASYNC110
            await asyncio.sleep(min(left, self.LOOK_EVERY_S))


@asynccontextmanager
async def worker_tickers(
    db_url: str,
    jobs: Mapping[str, ScheduledJob],
    services: JobServices,
    clock: Clock,
    *,
    count: int,
    window: timedelta = WINDOW,
) -> AsyncIterator[list[Ticker]]:
    """``count`` tickers, each on an engine of its own as in its own worker process."""
    async with AsyncExitStack() as stack:
        tickers = []
        for n in range(count):
            engine = create_engine(db_url)
            stack.push_async_callback(engine.dispose)
            tickers.append(
                Ticker(
                    create_sessionmaker(engine),
                    jobs,
                    owner=f"worker-{n}",
                    services=services,
                    catch_up_window=window,
                    clock=clock,
                )
            )
        yield tickers


async def tick_all(tickers: list[Ticker], name: str) -> list[JobRun | None]:
    """Every ticker ticks ``name`` at once (they race for the slot)."""
    return list(await asyncio.gather(*(t.tick(name) for t in tickers)))


async def job_runs(sessionmaker: async_sessionmaker[AsyncSession]) -> list[JobRun]:
    async def read(session: AsyncSession) -> list[JobRun]:
        return list(await session.scalars(select(JobRun).order_by(JobRun.name, JobRun.slot)))

    return await in_unit_of_work(sessionmaker, read, write=False)


async def jobs_of(sessionmaker: async_sessionmaker[AsyncSession], kind: str) -> list[Job]:
    async def read(session: AsyncSession) -> list[Job]:
        statement = select(Job).where(Job.kind == kind).order_by(Job.created_at)
        return list(await session.scalars(statement))

    return await in_unit_of_work(sessionmaker, read, write=False)
