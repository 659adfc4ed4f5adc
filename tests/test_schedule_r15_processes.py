"""QUALITY R15 with real worker processes on virtual time: worker processes tick a nightly
reconcile across 30 simulated nights, exactly one run per slot and none overlapping; then
every worker is down across a slot, and the restarted workers run it once inside the
catch-up window, and record it skipped (no run) outside.

Each process runs ``python -m tests.virtual_worker``: what ``syncbridge worker`` runs
(:func:`~syncbridge.cli.worker.serve_worker`: job worker, heartbeat, APScheduler ticker, the
real store) with only the clock swapped for a :class:`~tests.schedule_support.SharedClock`
that the test moves (it runs at wall speed from where the test puts it, so heartbeats,
polls and leases go on between the jumps as in service). APScheduler itself reads that
clock (see the launcher's docstring), so the ticks are the ones its scheduler fires when
virtual time reaches 02:00, in every process: the test puts the clock a moment before each
slot, lets it run across, and reads in each process's log that its scheduler fired that
slot. Nothing in this module calls a tick. Each night's reconciliation job is worked before
the clock moves to the next night, as a nightly job ends long before the next one.

Three processes run on PostgreSQL. SQLite is single-node: the README runs one worker on it
(``serve``'s in-process worker, the same ``running_worker`` wiring), so on SQLite one worker
process lives through the same nights and the same outages; the claims racing there are
covered in-process by ``test_schedule_ticker``.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import re
import signal
import sys
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from syncbridge.models import JobRun, WorkerHeartbeat
from syncbridge.models.base import utcnow
from syncbridge.schedule import RECONCILE, RECONCILE_JOB
from syncbridge.store.unit_of_work import in_unit_of_work
from tests.conftest import BACKEND
from tests.jobs_support import eventually, finished
from tests.schedule_support import WINDOW, SharedClock, jobs_of

pytest_plugins = ["tests.store_fixtures"]

REPO = Path(__file__).resolve().parent.parent
WORKERS = 3 if BACKEND == "postgresql" else 1
NIGHTS = 30
#: How long before each slot the clock is put: the schedulers see 02:00 come, not jump by.
LEAD = timedelta(milliseconds=300)
#: A schedule that never falls in the simulated month keeps the other jobs out of the way.
YEARLY = "0 0 1 1 *"
_FIRED = re.compile(r'Running job "reconcile \(.*\)" \(scheduled at (?P<slot>[^)]+)\)')


def first_night() -> datetime:
    """02:00 UTC a month ahead of the wall clock: jobs are queued ready at the wall time, so
    virtual time stays ahead of it, and the workers find them due."""
    ahead = utcnow() + timedelta(days=31)
    return ahead.replace(hour=2, minute=0, second=0, microsecond=0)


class WorkerProcess:
    """One ``tests.virtual_worker`` process and the log it writes."""

    def __init__(self, process: asyncio.subprocess.Process, log: Path) -> None:
        self.process = process
        self.log = log

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def started(self) -> bool:
        """Its ticker started: the catch-up is over and APScheduler is running."""
        return '"schedule.started"' in self.text()

    def fired(self) -> list[str]:
        """The reconcile slots its APScheduler fired, in order."""
        return [m["slot"] for m in _FIRED.finditer(self.text())]

    def ticks_done(self) -> int:
        """The reconcile ticks that have returned."""
        return len(re.findall(r'Job "reconcile \(.*\)" executed successfully', self.text()))

    async def stop(self) -> None:
        """SIGTERM, as a service manager stops a worker; it exits 0."""
        self.process.send_signal(signal.SIGTERM)
        assert await finished(self.process.wait()) == 0, self.text()


@asynccontextmanager
async def worker_processes(
    db_url: str, clock: SharedClock, logs: Path, *, start: str, count: int
) -> AsyncIterator[list[WorkerProcess]]:
    """``count`` worker processes, started and waited for until their tickers run; stopped
    with SIGTERM at the end of the block (each must exit 0). Their logs are in ``logs``,
    named after the ``start``."""
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "SYNCBRIDGE_DATABASE_URL": db_url,
        "SYNCBRIDGE_SCHEDULER_ENABLED": "true",
        "SYNCBRIDGE_SCHEDULE_TIMEZONE": "UTC",
        "SYNCBRIDGE_SCHEDULE_RECONCILE": "0 2 * * *",
        "SYNCBRIDGE_SCHEDULE_SYNC_INCREMENTAL": YEARLY,
        "SYNCBRIDGE_SCHEDULE_INBOX_RETENTION": YEARLY,
        "SYNCBRIDGE_SCHEDULE_CATCH_UP_WINDOW_S": str(WINDOW.total_seconds()),
        # SQLite has no wake-ups: its worker polls; a short poll keeps the nights quick.
        "SYNCBRIDGE_WORKER_POLL_INTERVAL_S": "0.2",
        "SYNCBRIDGE_LOG_JSON": "true",
    }
    workers: list[WorkerProcess] = []
    async with AsyncExitStack() as stack:
        for n in range(count):
            log = logs / f"{start}-worker-{n}.log"
            log_file = stack.enter_context(log.open("wb"))
            process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "tests.virtual_worker",
                str(clock.path),
                env=env,
                cwd=logs,
                stdout=log_file,
                stderr=log_file,
            )
            stack.callback(_kill_if_running, process)
            workers.append(WorkerProcess(process, log))

        async def all_started() -> bool:
            for worker in workers:
                assert worker.process.returncode is None, worker.text()
            return all(w.started() for w in workers)

        await eventually(all_started, f"{count} worker processes started their tickers")
        yield workers
        await asyncio.gather(*(w.stop() for w in workers))


def _kill_if_running(process: asyncio.subprocess.Process) -> None:
    if process.returncode is None:
        process.kill()


async def reconcile_runs(sessionmaker: async_sessionmaker[AsyncSession]) -> list[JobRun]:
    async def read(session: AsyncSession) -> list[JobRun]:
        statement = select(JobRun).where(JobRun.name == RECONCILE).order_by(JobRun.slot)
        return list(await session.scalars(statement))

    return await in_unit_of_work(sessionmaker, read, write=False)


async def heartbeat_owners(sessionmaker: async_sessionmaker[AsyncSession]) -> set[str]:
    async def read(session: AsyncSession) -> set[str]:
        return set(await session.scalars(select(WorkerHeartbeat.owner)))

    return await in_unit_of_work(sessionmaker, read, write=False)


async def reconciled(sessionmaker: async_sessionmaker[AsyncSession], slot: datetime) -> bool:
    """The slot has its run, and the job it queued has been worked (done)."""
    runs = [r for r in await reconcile_runs(sessionmaker) if r.slot == slot]
    if not runs or runs[0].job_id is None:
        return False
    jobs = {j.id: j for j in await jobs_of(sessionmaker, RECONCILE_JOB)}
    return jobs[runs[0].job_id].status == "done"


async def test_worker_processes_on_virtual_time_run_each_nightly_slot_once_and_catch_up_once(
    db_url: str, sessionmaker: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    first = first_night()
    slots = [first + timedelta(days=n) for n in range(NIGHTS)]
    clock = SharedClock(tmp_path / "clock")
    clock.set(first - timedelta(hours=1))
    async with worker_processes(db_url, clock, tmp_path, start="nights", count=WORKERS) as workers:
        owners = await heartbeat_owners(sessionmaker)
        assert len(owners) == WORKERS
        for night, slot in enumerate(slots):
            # A moment before 02:00: every process's scheduler sees the slot come and fires
            # it; the test waits until each one's tick has returned and the night's
            # reconciliation job has been worked (it ends long before the next night).
            clock.set(slot - LEAD)

            async def night_over(night: int = night, slot: datetime = slot) -> bool:
                ticked = all(w.ticks_done() > night for w in workers)
                return ticked and await reconciled(sessionmaker, slot)

            await eventually(night_over, f"night {night}: every worker ticked, the job ran")
        fired = [w.fired() for w in workers]
    assert await heartbeat_owners(sessionmaker) == set()

    # Every process's APScheduler fired every slot, once, on virtual time ...
    assert fired == [[str(slot) for slot in slots]] * WORKERS
    # ... and each slot has exactly one run, claimed by one of the processes.
    runs = await reconcile_runs(sessionmaker)
    assert [r.slot for r in runs] == slots
    assert {(r.status, r.trigger) for r in runs} == {("succeeded", "schedule")}
    assert {r.owner for r in runs} <= owners
    # None overlapping: each run ended before the next one started.
    by_start = sorted(runs, key=lambda r: r.started_at)
    for before, after in itertools.pairwise(by_start):
        assert before.finished_at is not None
        assert before.finished_at <= after.started_at
    # Each run queued its reconcile.run job once, and a worker ran that job once.
    queued = await jobs_of(sessionmaker, RECONCILE_JOB)
    assert sorted(str(j.id) for j in queued) == sorted(str(r.job_id) for r in runs)
    assert sorted(j.payload["job_run_id"] for j in queued) == sorted(str(r.id) for r in runs)
    assert {(j.status, j.attempts) for j in queued} == {("done", 1)}

    # Every worker is down across night 31's slot; they come back at 02:40, inside the
    # catch-up window: exactly one of them runs the missed slot, and its job is worked.
    missed = first + timedelta(days=NIGHTS)
    clock.set(missed + timedelta(minutes=40))
    async with worker_processes(db_url, clock, tmp_path, start="inside", count=WORKERS) as workers:
        await eventually(lambda: reconciled(sessionmaker, missed), "the caught-up job ran")
        caught_up = sum(w.text().count('"schedule.caught_up"') for w in workers)
        fired = [w.fired() for w in workers]
    assert caught_up == 1
    assert fired == [[]] * WORKERS  # the catch-up ran it, not a scheduler tick
    [run] = [r for r in await reconcile_runs(sessionmaker) if r.slot == missed]
    assert (run.status, run.trigger) == ("succeeded", "catch-up")

    # Down again across night 32's slot, back at 09:00: seven hours late, outside the
    # window. The slot is recorded skipped, and nothing is run or queued for it.
    late = missed + timedelta(days=1)
    clock.set(late + timedelta(hours=7))
    async with worker_processes(db_url, clock, tmp_path, start="outside", count=WORKERS) as workers:
        caught_up = sum(w.text().count('"schedule.caught_up"') for w in workers)
        fired = [w.fired() for w in workers]
    assert caught_up == 1
    assert fired == [[]] * WORKERS
    runs = await reconcile_runs(sessionmaker)
    assert [r.slot for r in runs] == [*slots, missed, late]
    assert (runs[-1].status, runs[-1].trigger, runs[-1].job_id) == ("skipped", "catch-up", None)
    assert runs[-1].detail is not None
    assert "beyond the catch-up window" in runs[-1].detail
    assert len(await jobs_of(sessionmaker, RECONCILE_JOB)) == NIGHTS + 1
