"""The ticker and the heartbeat where they run: in `syncbridge worker` (on by default,
`--no-scheduler` turns the ticker off) and, on SQLite, in the API process's own worker. A
started worker beats at once, catches up a missed slot, and removes its heartbeat when it
stops. Schedules here tick every minute, and the job ran an hour before, so the latest
slot is always a missed one inside the window."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from syncbridge.app import create_app
from syncbridge.jobs.runner import running_worker
from syncbridge.models import JobRun, WorkerHeartbeat
from syncbridge.models.base import utcnow
from syncbridge.schedule import INBOX_RETENTION, latest_slot, scheduled_jobs
from syncbridge.schedule.repository import beat, insert_run
from syncbridge.settings import Settings
from syncbridge.store.unit_of_work import in_unit_of_work
from tests.conftest import BACKEND
from tests.jobs_support import eventually, finished

pytest_plugins = ["tests.store_fixtures"]

REPO = Path(__file__).resolve().parent.parent
EVERY_MINUTE = "* * * * *"


async def ran_an_hour_ago(sessionmaker: async_sessionmaker[AsyncSession]) -> None:
    """inbox.retention ran an hour before its latest slot: that slot is a missed one."""
    job = scheduled_jobs(Settings(schedule_inbox_retention=EVERY_MINUTE))[INBOX_RETENTION]
    slot = latest_slot(job.trigger, utcnow())
    assert slot is not None

    async def write(session: AsyncSession) -> None:
        await insert_run(
            session,
            name=INBOX_RETENTION,
            slot=slot - timedelta(hours=1),
            status="succeeded",
            owner="an-earlier-worker",
            trigger="schedule",
            now=slot - timedelta(hours=1),
        )

    await in_unit_of_work(sessionmaker, write)


async def catch_ups(sessionmaker: async_sessionmaker[AsyncSession]) -> list[JobRun]:
    async def read(session: AsyncSession) -> list[JobRun]:
        statement = select(JobRun).where(JobRun.trigger == "catch-up")
        return list(await session.scalars(statement))

    return await in_unit_of_work(sessionmaker, read, write=False)


async def heartbeats(sessionmaker: async_sessionmaker[AsyncSession]) -> list[WorkerHeartbeat]:
    async def read(session: AsyncSession) -> list[WorkerHeartbeat]:
        return list(await session.scalars(select(WorkerHeartbeat)))

    return await in_unit_of_work(sessionmaker, read, write=False)


async def run_worker(
    db_url: str,
    sessionmaker: async_sessionmaker[AsyncSession],
    tmp_path: Path,
    *options: str,
) -> None:
    """Start `syncbridge worker`, wait for its heartbeat, stop it with SIGTERM."""
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "SYNCBRIDGE_DATABASE_URL": db_url,
        "SYNCBRIDGE_SCHEDULE_INBOX_RETENTION": EVERY_MINUTE,
        "SYNCBRIDGE_LOG_JSON": "true",
    }
    log_path = tmp_path / "worker.log"
    with log_path.open("wb") as log_file:
        process = await asyncio.create_subprocess_exec(
            str(Path(sys.executable).parent / "syncbridge"),
            "worker",
            *options,
            env=env,
            cwd=tmp_path,
            stdout=log_file,
            stderr=log_file,
        )
        try:

            async def alive() -> bool:
                return bool(await heartbeats(sessionmaker)) or process.returncode is not None

            await eventually(alive, "the worker recorded its heartbeat")
            assert process.returncode is None, log_path.read_text()
            process.send_signal(signal.SIGTERM)
            assert await finished(process.wait()) == 0, log_path.read_text()
        finally:
            if process.returncode is None:
                process.kill()
                await process.wait()


async def test_syncbridge_worker_beats_catches_up_and_removes_its_heartbeat_on_stop(
    db_url: str, sessionmaker: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    await ran_an_hour_ago(sessionmaker)
    await run_worker(db_url, sessionmaker, tmp_path)
    [caught] = await catch_ups(sessionmaker)
    assert (caught.name, caught.status) == (INBOX_RETENTION, "succeeded")
    assert await heartbeats(sessionmaker) == []


async def test_syncbridge_worker_no_scheduler_beats_but_ticks_nothing(
    db_url: str, sessionmaker: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    await ran_an_hour_ago(sessionmaker)
    await run_worker(db_url, sessionmaker, tmp_path, "--no-scheduler")
    # Start-up (the catch-up with it) is over before a worker waits for its signal.
    assert await catch_ups(sessionmaker) == []


@pytest.mark.skipif(BACKEND != "sqlite", reason="the embedded default is SQLite's")
async def test_on_sqlite_the_api_process_worker_beats_and_runs_the_ticker(
    settings: Settings, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    await ran_an_hour_ago(sessionmaker)
    settings = settings.model_copy(
        update={"scheduler_enabled": True, "schedule_inbox_retention": EVERY_MINUTE}
    )
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        [caught] = await catch_ups(sessionmaker)
        assert caught.owner == app.state.worker.owner
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            ready = await client.get("/readyz")
        assert ready.status_code == 200, ready.text
        [beat] = await heartbeats(sessionmaker)
        assert beat.owner == app.state.worker.owner
    assert await heartbeats(sessionmaker) == []


async def test_a_worker_silent_for_a_day_is_forgotten_when_another_starts(
    settings: Settings, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    async def old(session: AsyncSession) -> None:
        await beat(session, "gone-worker", utcnow() - timedelta(days=2))
        await beat(session, "quiet-worker", utcnow() - timedelta(hours=2))

    await in_unit_of_work(sessionmaker, old)
    async with running_worker(settings, heartbeat=True) as worker:
        owners = {b.owner for b in await heartbeats(sessionmaker)}
    assert owners == {"quiet-worker", worker.owner}
