"""Workers as they run for real: the `syncbridge worker` process and its SIGTERM, LISTEN/NOTIFY
wake-ups with polling as the fallback, and the worker inside the API process on SQLite."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from syncbridge.app import create_app
from syncbridge.jobs import HandlerRegistry, JobContext, Worker, WorkerConfig
from syncbridge.jobs.runner import running_worker
from syncbridge.settings import Settings
from tests.conftest import BACKEND
from tests.jobs_support import ManualClock, all_jobs, eventually, finished, job_row, queue

pytest_plugins = ["tests.store_fixtures"]

REPO = Path(__file__).resolve().parent.parent
HANDLERS = "tests.jobs_handlers"

postgresql_only = pytest.mark.skipif(BACKEND != "postgresql", reason="LISTEN/NOTIFY")


def signalling(ran: asyncio.Event) -> HandlerRegistry:
    registry = HandlerRegistry()

    @registry.handles("k")
    async def handle(_ctx: JobContext) -> None:
        ran.set()

    return registry


async def test_sigterm_finishes_what_can_finish_and_releases_the_rest(
    db_url: str, sessionmaker: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    # Oldest first: on SQLite (one job at a time) only the slow one runs; on PostgreSQL both.
    slow = await queue(sessionmaker, "test.slow", {"secret_hint": "not-in-logs-7f3a"})
    drain = await queue(sessionmaker, "test.drain")
    both = BACKEND == "postgresql"
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "SYNCBRIDGE_DATABASE_URL": db_url,
        "SYNCBRIDGE_JOB_MODULES": json.dumps([HANDLERS]),
        "SYNCBRIDGE_WORKER_GRACE_S": "1",
        "SYNCBRIDGE_WORKER_POLL_INTERVAL_S": "0.2",
        "SYNCBRIDGE_LOG_JSON": "true",
    }
    log_path = tmp_path / "worker.log"
    with log_path.open("wb") as log_file:
        process = await asyncio.create_subprocess_exec(
            str(Path(sys.executable).parent / "syncbridge"),
            "worker",
            env=env,
            cwd=tmp_path,
            stdout=log_file,
            stderr=log_file,
        )
        try:

            async def started() -> bool:
                statuses = {r.id: r.status for r in await all_jobs(sessionmaker)}
                running = [job for job in (slow, drain) if statuses[job] == "running"]
                return len(running) == (2 if both else 1) or process.returncode is not None

            await eventually(started, "the worker claimed its jobs")
            assert process.returncode is None, log_path.read_text()
            process.send_signal(signal.SIGTERM)
            assert await finished(process.wait()) == 0, log_path.read_text()
        finally:
            if process.returncode is None:
                process.kill()
                await process.wait()
    released = await job_row(sessionmaker, slow)
    assert (released.status, released.attempts) == ("queued", 0)
    assert (released.lease_owner, released.lease_token) == (None, None)
    drained = await job_row(sessionmaker, drain)
    assert (drained.status, drained.attempts) == (("done", 1) if both else ("queued", 0))
    events = [
        json.loads(line) for line in log_path.read_text().splitlines() if line.startswith("{")
    ]
    names = [e["event"] for e in events]
    assert (
        names.index("worker.stopping") < names.index("job.released") < names.index("worker.stopped")
    )
    assert [e["job_id"] for e in events if e["event"] == "job.released"] == [str(slow)]
    assert "not-in-logs-7f3a" not in log_path.read_text()


@postgresql_only
async def test_a_job_queued_wakes_an_idle_worker_without_waiting_for_the_poll(
    settings: Settings, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    ran = asyncio.Event()
    # Virtual time that never moves: the poll interval never passes, only NOTIFY can wake it.
    async with running_worker(settings, registry=signalling(ran), clock=ManualClock()) as worker:

        async def listening_and_waiting() -> bool:
            return worker.wakeup.listening.is_set() and worker.waiting

        await eventually(listening_and_waiting, "the worker listens and waits")
        job_id = await queue(sessionmaker, "k")
        await finished(ran.wait())

        async def done() -> bool:
            return (await job_row(sessionmaker, job_id)).status == "done"

        await eventually(done, "the job was recorded done")


async def test_without_notifications_an_idle_worker_finds_jobs_at_its_next_poll(
    engine: AsyncEngine, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    ran = asyncio.Event()
    clock = ManualClock()
    config = WorkerConfig(poll_interval_s=5.0)
    worker = Worker(engine, signalling(ran), config=config, clock=clock, listen=False)
    run = asyncio.create_task(worker.run())
    try:

        async def waiting() -> bool:
            return worker.waiting

        await eventually(waiting, "the worker waits")
        await queue(sessionmaker, "k")
        assert not ran.is_set()
        clock.advance(config.poll_interval_s)
        await finished(ran.wait())
    finally:
        worker.stop()
        await finished(run)


@pytest.mark.skipif(BACKEND != "sqlite", reason="the embedded default is SQLite's")
async def test_on_sqlite_the_api_process_runs_the_worker(settings: Settings) -> None:
    settings = settings.model_copy(
        update={"job_modules": [HANDLERS], "worker_poll_interval_s": 0.05}
    )
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        worker = app.state.worker
        assert isinstance(worker, Worker)
        assert worker.config.concurrency == 1
        job_id = await queue(app.state.sessionmaker, "test.echo")

        async def done() -> bool:
            return (await job_row(app.state.sessionmaker, job_id)).status == "done"

        await eventually(done, "the in-process worker ran the job")
    assert worker.stopped.is_set()


@pytest.mark.skipif(BACKEND != "postgresql", reason="PostgreSQL runs `syncbridge worker`")
async def test_on_postgresql_the_api_process_runs_a_worker_only_when_told(
    settings: Settings,
) -> None:
    settings = settings.model_copy(update={"job_modules": [HANDLERS]})
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        assert app.state.worker is None
    told = create_app(settings.model_copy(update={"run_worker_in_process": True}))
    async with told.router.lifespan_context(told):
        assert isinstance(told.state.worker, Worker)
