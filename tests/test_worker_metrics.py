"""``syncbridge worker --metrics-port``: a worker process serves its own Prometheus metrics
(job outcomes and latency, vendor calls), since on PostgreSQL the API's /metrics cannot
see what separate worker processes did."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
from pathlib import Path

import httpx
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from syncbridge.inbox.service import queue_pruning
from syncbridge.store.unit_of_work import in_unit_of_work
from tests.jobs_support import eventually, finished

pytest_plugins = ["tests.store_fixtures"]

REPO = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_a_worker_serves_the_outcomes_of_the_jobs_it_ran(
    db_url: str, sessionmaker: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    async def queue(session: AsyncSession) -> None:
        await queue_pruning(session)

    await in_unit_of_work(sessionmaker, queue)
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(REPO), "SYNCBRIDGE_DATABASE_URL": db_url}
    log_path = tmp_path / "worker.log"
    with log_path.open("wb") as log_file:
        process = await asyncio.create_subprocess_exec(
            str(Path(sys.executable).parent / "syncbridge"),
            "worker",
            "--no-scheduler",
            "--metrics-port",
            str(port),
            env=env,
            cwd=tmp_path,
            stdout=log_file,
            stderr=log_file,
        )
        try:
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
                wanted = 'syncbridge_job_outcomes_total{kind="inbox.prune",outcome="done"} 1.0'

                async def counted() -> bool:
                    if process.returncode is not None:
                        return True
                    try:
                        answer = await client.get("/metrics")
                    except httpx.TransportError:
                        return False
                    return wanted in answer.text

                await eventually(counted, "the worker's metrics count the job it ran")
                assert process.returncode is None, log_path.read_text()
                text = (await client.get("/metrics")).text
                assert 'syncbridge_job_seconds_count{kind="inbox.prune"} 1.0' in text
            process.send_signal(signal.SIGTERM)
            assert await finished(process.wait()) == 0, log_path.read_text()
        finally:
            if process.returncode is None:
                process.kill()
                await process.wait()
