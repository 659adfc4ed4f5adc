"""What the schedule tests share: a clock the test sets, tickers as separate worker
processes would run them (an engine each), and reading the scheduler's rows."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from syncbridge.db import create_engine, create_sessionmaker
from syncbridge.jobs import Clock, Job
from syncbridge.jobs.services import JobServices
from syncbridge.models import JobRun
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
