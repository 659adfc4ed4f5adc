"""QUALITY R15 on virtual time: three worker tickers across 30 nights give exactly one run
per slot; with every worker down across a slot, a restart runs it inside the catch-up window
and records it skipped outside; tickers racing on one slot claim it once; on PostgreSQL two
runs of one job never overlap (advisory lock). Ticks are driven with a set clock; one test
lets APScheduler fire a real tick."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from apscheduler.triggers.cron import CronTrigger
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from syncbridge.inbox.service import PRUNE_JOB
from syncbridge.jobs import SYSTEM_CLOCK
from syncbridge.jobs.services import JobServices, job_services
from syncbridge.schedule import INBOX_RETENTION, RECONCILE, RECONCILE_JOB, ScheduledJob
from syncbridge.schedule.repository import job_lock_key
from syncbridge.settings import Settings
from tests.conftest import BACKEND
from tests.jobs_support import eventually, finished
from tests.schedule_support import SetClock, job_runs, jobs_of, tick_all, worker_tickers

pytest_plugins = ["tests.store_fixtures"]

NIGHTS = 30
FIRST_NIGHT = datetime(2027, 3, 1, 2, 0, tzinfo=UTC)
NIGHTLY = {RECONCILE: ScheduledJob.from_crontab(RECONCILE, "0 2 * * *", "UTC", "nightly")}


@pytest.fixture
async def services(settings: Settings) -> AsyncIterator[JobServices]:
    async with job_services(settings) as built:
        yield built


async def test_three_workers_over_thirty_nights_run_each_slot_once_and_catch_up_once(
    db_url: str, sessionmaker: async_sessionmaker[AsyncSession], services: JobServices
) -> None:
    clock = SetClock(FIRST_NIGHT)
    async with worker_tickers(db_url, NIGHTLY, services, clock, count=3) as tickers:
        for night in range(NIGHTS):
            # Each worker's tick fires a little after 02:00; all three race for the slot.
            clock.at = FIRST_NIGHT + timedelta(days=night, milliseconds=300)
            claimed = [r for r in await tick_all(tickers, RECONCILE) if r is not None]
            assert len(claimed) == 1, f"night {night}: {len(claimed)} runs"
            # Later that day the ticks claim nothing new: the day's slot is taken.
            clock.at += timedelta(hours=12)
            assert await tick_all(tickers, RECONCILE) == [None, None, None]
    runs = await job_runs(sessionmaker)
    assert [r.slot for r in runs] == [FIRST_NIGHT + timedelta(days=n) for n in range(NIGHTS)]
    assert {(r.status, r.trigger) for r in runs} == {("succeeded", "schedule")}
    queued = await jobs_of(sessionmaker, RECONCILE_JOB)
    assert sorted(j.payload["job_run_id"] for j in queued) == sorted(str(r.id) for r in runs)
    assert sorted(j.id for j in queued) == sorted(r.job_id for r in runs if r.job_id)
    # No two runs overlap: each one ended before the next slot's run began.
    assert all(a.finished_at and a.finished_at <= b.started_at for a, b in itertools.pairwise(runs))

    # Every worker is down across night 31's slot; they come back at 02:40 (inside the
    # window): exactly one of them runs the missed slot.
    missed = FIRST_NIGHT + timedelta(days=NIGHTS)
    clock.at = missed + timedelta(minutes=40)
    async with worker_tickers(db_url, NIGHTLY, services, clock, count=3) as tickers:
        caught = await asyncio.gather(*(t.catch_up() for t in tickers))
    assert sum(len(c) for c in caught) == 1
    # Down again across night 32's slot, back at 09:00: seven hours late, outside the window.
    late = missed + timedelta(days=1)
    clock.at = late + timedelta(hours=7)
    async with worker_tickers(db_url, NIGHTLY, services, clock, count=3) as tickers:
        await asyncio.gather(*(t.catch_up() for t in tickers))

    runs = await job_runs(sessionmaker)
    assert len(runs) == NIGHTS + 2
    assert [(r.slot, r.status, r.trigger) for r in runs[-2:]] == [
        (missed, "succeeded", "catch-up"),
        (late, "skipped", "catch-up"),
    ]
    assert runs[-1].detail is not None
    assert "beyond the catch-up window" in runs[-1].detail
    assert runs[-1].job_id is None
    assert len(await jobs_of(sessionmaker, RECONCILE_JOB)) == NIGHTS + 1


async def test_tickers_racing_on_one_slot_claim_it_once_and_queue_one_job(
    db_url: str, sessionmaker: async_sessionmaker[AsyncSession], services: JobServices
) -> None:
    clock = SetClock(FIRST_NIGHT + timedelta(seconds=1))
    async with worker_tickers(db_url, NIGHTLY, services, clock, count=8) as tickers:
        results = await tick_all(tickers, RECONCILE)
    winners = [r for r in results if r is not None]
    assert len(winners) == 1
    runs = await job_runs(sessionmaker)
    assert [(r.id, r.slot, r.owner) for r in runs] == [
        (winners[0].id, FIRST_NIGHT, winners[0].owner)
    ]
    [job] = await jobs_of(sessionmaker, RECONCILE_JOB)
    assert job.payload == {"job_run_id": str(runs[0].id)}
    assert runs[0].job_id == job.id


async def test_a_store_where_the_job_never_ran_has_nothing_to_catch_up(
    db_url: str, sessionmaker: async_sessionmaker[AsyncSession], services: JobServices
) -> None:
    clock = SetClock(FIRST_NIGHT + timedelta(hours=1))
    async with worker_tickers(db_url, NIGHTLY, services, clock, count=1) as [ticker]:
        assert await ticker.catch_up() == []
        # Once it has run, the next missed slot is caught up.
        await ticker.tick(RECONCILE)
        clock.at += timedelta(days=1)
        [caught] = await ticker.catch_up()
    assert (caught.slot, caught.trigger) == (FIRST_NIGHT + timedelta(days=1), "catch-up")
    assert len(await job_runs(sessionmaker)) == 2


async def test_a_slot_whose_work_cannot_be_queued_is_recorded_failed_without_its_work(
    db_url: str, sessionmaker: async_sessionmaker[AsyncSession], services: JobServices
) -> None:
    # A job declared with no work behind it: the claim rolls back with the failed work, and
    # the slot is recorded failed with the error instead.
    orphan = ScheduledJob.from_crontab("orphan", "0 2 * * *", "UTC", "no work declared")
    clock = SetClock(FIRST_NIGHT)
    async with worker_tickers(db_url, {"orphan": orphan}, services, clock, count=1) as [ticker]:
        run = await ticker.tick("orphan")
    assert run is not None
    assert (run.status, run.slot, run.job_id) == ("failed", FIRST_NIGHT, None)
    assert run.detail == "KeyError: 'orphan'"
    assert [r.id for r in await job_runs(sessionmaker)] == [run.id]


@pytest.mark.skipif(BACKEND != "postgresql", reason="the advisory lock is PostgreSQL's")
async def test_a_run_waits_while_another_run_of_its_job_holds_the_lock(
    db_url: str,
    engine: AsyncEngine,
    sessionmaker: async_sessionmaker[AsyncSession],
    services: JobServices,
) -> None:
    clock = SetClock(FIRST_NIGHT)
    async with (
        worker_tickers(db_url, NIGHTLY, services, clock, count=1) as [ticker],
        engine.connect() as holder,
    ):
        # Another run of the job is under way: it holds the job's lock.
        await holder.execute(text("SELECT pg_advisory_lock(:k)"), {"k": job_lock_key(RECONCILE)})
        tick = asyncio.create_task(ticker.tick(RECONCILE))

        async def waiting() -> bool:
            async with engine.connect() as conn:
                count = await conn.scalar(
                    text(
                        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
                    )
                )
            return bool(count)

        await eventually(waiting, "the tick waits for the job's lock")
        assert not tick.done()
        assert await job_runs(sessionmaker) == []
        assert await jobs_of(sessionmaker, RECONCILE_JOB) == []
        await holder.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": job_lock_key(RECONCILE)})
        run = await finished(tick)
    assert run is not None
    assert run.status == "succeeded"
    assert len(await jobs_of(sessionmaker, RECONCILE_JOB)) == 1


async def test_apscheduler_fires_the_ticks_of_a_started_ticker(
    db_url: str, sessionmaker: async_sessionmaker[AsyncSession], services: JobServices
) -> None:
    every_second = ScheduledJob(
        INBOX_RETENTION, "every second", "UTC", CronTrigger(second="*", timezone=UTC), "test"
    )
    jobs = {INBOX_RETENTION: every_second}
    async with worker_tickers(db_url, jobs, services, SYSTEM_CLOCK, count=1) as [ticker]:
        await ticker.start()
        try:

            async def ticked() -> bool:
                return bool(await job_runs(sessionmaker))

            await eventually(ticked, "APScheduler fired a tick")
        finally:
            ticker.stop()
    run = (await job_runs(sessionmaker))[0]
    assert (run.name, run.status, run.trigger) == (INBOX_RETENTION, "succeeded", "schedule")
    [prune] = await jobs_of(sessionmaker, PRUNE_JOB)
    assert run.job_id == prune.id
