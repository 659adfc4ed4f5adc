"""The ticker in each worker process: APScheduler 3 fires each job's slots, the store decides
who runs them.

APScheduler holds the jobs in memory (declared in code, fixed ids, ``coalesce``,
``max_instances=1``); it only says *when*. A tick claims the job's latest slot through
:func:`~syncbridge.schedule.service.run_slot`: with N workers ticking, one claim wins and
the others change nothing. At start-up, :meth:`Ticker.catch_up` looks at each job's latest
slot: one that no worker ran (while every worker was down) is run if it is inside the
catch-up window and recorded ``skipped`` outside it. A job that never ran has missed
nothing. Time comes from a :class:`~syncbridge.jobs.clock.Clock`, so tests drive
:meth:`Ticker.tick` on virtual time.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Mapping
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from syncbridge.db import create_sessionmaker
from syncbridge.errors import describe_error
from syncbridge.jobs.clock import SYSTEM_CLOCK, Clock
from syncbridge.jobs.services import JobServices
from syncbridge.logs import get_logger
from syncbridge.models import JobRun
from syncbridge.schedule import repository
from syncbridge.schedule.catalog import ScheduledJob, scheduled_jobs
from syncbridge.schedule.heartbeat import Heartbeat
from syncbridge.schedule.service import run_slot
from syncbridge.schedule.slots import latest_slot
from syncbridge.settings import Settings
from syncbridge.store.unit_of_work import in_unit_of_work

log = get_logger(__name__)

#: Who the audit log names for what a scheduled slot starts.
SCHEDULE_ACTOR = "schedule"


class Ticker:
    """Ticks the scheduled ``jobs`` for worker ``owner`` against the store."""

    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        jobs: Mapping[str, ScheduledJob],
        *,
        owner: str,
        services: JobServices,
        catch_up_window: timedelta,
        timezone: str = "UTC",
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self.sessionmaker = sessionmaker
        self.jobs = dict(jobs)
        self.owner = owner
        self.services = services
        self.catch_up_window = catch_up_window
        self.timezone = timezone
        self.clock = clock
        self._scheduler: AsyncIOScheduler | None = None

    async def tick(self, name: str) -> JobRun | None:
        """Claim and run the slot of job ``name`` due now; None when another worker has it.
        Never raises: a failed run is recorded (``failed``, with the error) and logged."""
        job = self.jobs[name]
        slot = latest_slot(job.trigger, self.clock.now())
        if slot is None:
            return None
        return await self.run(job, slot, trigger="schedule")

    async def run(self, job: ScheduledJob, slot: datetime, *, trigger: str) -> JobRun | None:
        """Run ``slot`` of ``job`` in a unit of work of its own; on error the claim rolls
        back with the work, and the slot is recorded ``failed`` in another."""

        async def work(session: AsyncSession) -> JobRun | None:
            return await run_slot(
                session,
                job,
                slot,
                trigger=trigger,
                owner=self.owner,
                actor=SCHEDULE_ACTOR,
                services=self.services,
                clock=self.clock,
            )

        try:
            return await in_unit_of_work(self.sessionmaker, work)
        except Exception as exc:
            detail = describe_error(exc)
            log.warning("schedule.slot_failed", job=job.name, slot=slot.isoformat(), error=detail)
        try:
            return await self._record(job, slot, status="failed", trigger=trigger, detail=detail)
        except Exception as exc:  # the store is away too: the log line is all there is
            log.warning("schedule.failure_not_recorded", job=job.name, error=describe_error(exc))
            return None

    async def _record(
        self, job: ScheduledJob, slot: datetime, *, status: str, trigger: str, detail: str
    ) -> JobRun | None:
        async def write(session: AsyncSession) -> JobRun | None:
            job_run_id = await repository.insert_run(
                session,
                name=job.name,
                slot=slot,
                status=status,
                owner=self.owner,
                trigger=trigger,
                now=self.clock.now(),
                detail=detail,
            )
            return None if job_run_id is None else await session.get(JobRun, job_run_id)

        return await in_unit_of_work(self.sessionmaker, write)

    async def catch_up(self) -> list[JobRun]:
        """Run each job's latest slot if no worker ran it and it is inside the window, or
        record it ``skipped`` outside; the runs this worker made (others may race it)."""
        now = self.clock.now()
        done = []
        for job in self.jobs.values():
            slot = latest_slot(job.trigger, now)
            if slot is None or not await self._missed(job, slot):
                continue
            late = now - slot
            if late <= self.catch_up_window:
                run = await self.run(job, slot, trigger="catch-up")
            else:
                detail = (
                    f"Missed while no worker ran: {late} late, beyond the catch-up window "
                    f"of {self.catch_up_window}."
                )
                run = await self._record(
                    job, slot, status="skipped", trigger="catch-up", detail=detail
                )
            if run is not None:
                log.info(
                    "schedule.caught_up", job=job.name, slot=slot.isoformat(), status=run.status
                )
                done.append(run)
        return done

    async def _missed(self, job: ScheduledJob, slot: datetime) -> bool:
        async def read(session: AsyncSession) -> bool:
            if await repository.slot_is_taken(session, job.name, slot):
                return False
            return await repository.ran_before(session, job.name, slot)

        return await in_unit_of_work(self.sessionmaker, read, write=False)

    async def start(self) -> None:
        """Catch up, then tick each job on its schedule until :meth:`stop`."""
        await self.catch_up()
        scheduler = AsyncIOScheduler(
            timezone=ZoneInfo(self.timezone),
            # A late tick still claims its slot (the latest one when it runs); ticks that
            # piled up while the loop was blocked are one tick.
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
        )
        for job in self.jobs.values():
            scheduler.add_job(self.tick, job.trigger, args=[job.name], id=job.name, name=job.name)
        scheduler.start()
        self._scheduler = scheduler
        log.info("schedule.started", owner=self.owner, jobs=sorted(self.jobs))

    def stop(self) -> None:
        """Tick no more (a tick already running finishes on its own)."""
        if self._scheduler is not None:
            self._scheduler.shutdown(wait=False)
            self._scheduler = None

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        engine: AsyncEngine,
        *,
        owner: str,
        services: JobServices,
        clock: Clock = SYSTEM_CLOCK,
    ) -> Ticker:
        return cls(
            create_sessionmaker(engine),
            scheduled_jobs(settings),
            owner=owner,
            services=services,
            catch_up_window=timedelta(seconds=settings.schedule_catch_up_window_s),
            timezone=settings.schedule_timezone,
            clock=clock,
        )


@contextlib.asynccontextmanager
async def worker_presence(
    settings: Settings,
    engine: AsyncEngine,
    *,
    owner: str,
    services: JobServices,
    scheduler: bool,
    clock: Clock = SYSTEM_CLOCK,
) -> AsyncIterator[Ticker | None]:
    """A worker's heartbeat, and (with ``scheduler``) its ticker, for the block's length."""
    heartbeat = Heartbeat(
        create_sessionmaker(engine), owner, every_s=settings.worker_heartbeat_s, clock=clock
    )
    await heartbeat.start()
    ticker = None
    try:
        if scheduler:
            ticker = Ticker.from_settings(
                settings, engine, owner=owner, services=services, clock=clock
            )
            await ticker.start()
        yield ticker
    finally:
        if ticker is not None:
            ticker.stop()
        await heartbeat.stop()
