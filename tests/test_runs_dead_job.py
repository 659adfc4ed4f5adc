"""A run whose job dies ends ``failed`` with the job's last error, in the transaction that
buries the job, whether the worker holding the last attempt stopped (its lease ran out) or
the last attempt failed. Before, such a run stayed ``running`` for ever, and the scheduler,
which skips an incremental sync while the previous one is unfinished, never synced again.

Runs are started over ``/v1/runs`` against a Bynder simulator; workers run on virtual time."""

from __future__ import annotations

import uuid
from datetime import timedelta

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from syncbridge_bynder.simulator import BynderSimulator

from syncbridge.connections.endpoints import app_context
from syncbridge.jobs import HandlerRegistry, JobContext, Outcome, PermanentJobError, Worker
from syncbridge.jobs.repository import LEASE_RAN_OUT
from syncbridge.jobs.services import JobServices
from syncbridge.models import Run, RunStream
from syncbridge.reconcile.service import RECONCILE_JOB
from syncbridge.runs.repository import SYNC_JOB, end_run_of_dead_job
from syncbridge.scoring.runs import SCORE_JOB
from syncbridge.store.unit_of_work import in_unit_of_work
from tests.jobs_support import ManualClock
from tests.plugins_connections import HOSTS, HostTable
from tests.runs_support import PORTAL_ADDRESS, PORTAL_HOST, connect, jobs, portal, worker_of

pytestmark = pytest.mark.embedded_worker(False)


@pytest.fixture
def sim() -> BynderSimulator:
    return portal(12)


@pytest.fixture
def vendor_transport(sim: BynderSimulator) -> httpx.AsyncBaseTransport:
    return httpx.ASGITransport(app=sim)


@pytest.fixture
def vendor_hosts() -> HostTable:
    return HostTable({**HOSTS, PORTAL_HOST: [PORTAL_ADDRESS]})


async def started_run(
    app: FastAPI, client: httpx.AsyncClient, editor: dict[str, str], sim: BynderSimulator
) -> str:
    connection_id = await connect(app, sim)
    answer = await client.post(
        "/v1/runs",
        json={"kind": "sync", "connection_id": str(connection_id), "full": True},
        headers=editor,
    )
    assert answer.status_code == 202, answer.text
    return str(answer.json()["id"])


async def run_and_streams(app: FastAPI, run_id: str) -> tuple[Run, list[RunStream]]:
    async def read(session: AsyncSession) -> tuple[Run, list[RunStream]]:
        run = await session.get(Run, uuid.UUID(run_id))
        assert run is not None
        streams = await session.scalars(select(RunStream).where(RunStream.run_id == run.id))
        return run, list(streams)

    return await in_unit_of_work(app.state.sessionmaker, read, write=False)


def test_the_run_kinds_end_their_runs_when_their_jobs_die() -> None:
    """The registry every worker loads gives sync, reconcile and scoring jobs the hook."""
    registry = HandlerRegistry.load()
    for kind in (SYNC_JOB, RECONCILE_JOB, SCORE_JOB):
        assert registry.on_dead(kind) is end_run_of_dead_job, kind


async def test_a_run_whose_worker_stopped_on_the_last_attempt_ends_failed(
    app: FastAPI, client: httpx.AsyncClient, editor: dict[str, str], sim: BynderSimulator
) -> None:
    run_id = await started_run(app, client, editor, sim)
    [job] = await jobs(app)
    clock = ManualClock()
    # Each attempt is claimed by a worker that then stops without a word (SIGKILL): the
    # lease runs out and the next claim takes the job again, until none is left.
    for attempt in range(job.max_attempts):
        taken = await worker_of(app, clock=clock, owner=f"killed-{attempt}").claim(1)
        assert [t.id for t in taken] == [job.id]
        clock.advance(3600)
    assert await worker_of(app, clock=clock, owner="survivor").claim(1) == []

    [buried] = await jobs(app)
    assert (buried.status, buried.last_error) == ("dead", LEASE_RAN_OUT)
    run, streams = await run_and_streams(app, run_id)
    assert run.status == "failed"
    assert run.error is not None
    assert LEASE_RAN_OUT in run.error
    assert str(job.id) in run.error
    assert run.finished_at is not None
    assert len(streams) == 2
    assert {s.status for s in streams} == {"failed"}
    shown = await client.get(f"/v1/runs/{run_id}", headers=editor)
    assert shown.json()["status"] == "failed"


async def test_a_run_whose_last_attempt_failed_ends_failed_with_that_error(
    app: FastAPI, client: httpx.AsyncClient, editor: dict[str, str], sim: BynderSimulator
) -> None:
    """The worker's other burial: the handler's own failure on the last attempt. The
    failing handler stands for any error a run's handler lets out (a store that stays down,
    a defect); the hook is the one the sync kind registers."""
    run_id = await started_run(app, client, editor, sim)

    async def broken(_ctx: JobContext) -> None:
        raise PermanentJobError("the store refused the run's pages")

    registry = HandlerRegistry()
    registry.register(SYNC_JOB, broken, on_dead=end_run_of_dead_job)
    services = JobServices(connections=app_context(app), http=app.state.http)
    worker = Worker(
        app.state.engine, registry, services=services, listen=False, clock=ManualClock()
    )
    assert await worker.run_once() == [Outcome.dead]

    run, streams = await run_and_streams(app, run_id)
    assert run.status == "failed"
    assert run.error is not None
    assert "the store refused the run's pages" in run.error
    assert {s.status for s in streams} == {"failed"}


async def test_a_finished_run_is_left_as_it_is(
    app: FastAPI, client: httpx.AsyncClient, editor: dict[str, str], sim: BynderSimulator
) -> None:
    """A job that dies after its run finished (a retry of a concluded run) changes nothing."""
    run_id = await started_run(app, client, editor, sim)
    assert await worker_of(app, clock=ManualClock()).run_once() == [Outcome.done]
    before, _ = await run_and_streams(app, run_id)
    assert before.status == "succeeded"
    [job] = [j for j in await jobs(app) if j.kind == SYNC_JOB]

    async def bury(session: AsyncSession) -> None:
        later = before.finished_at + timedelta(hours=1) if before.finished_at else None
        assert later is not None
        await end_run_of_dead_job(session, job.id, "LeaseExpired: too late", later)

    await in_unit_of_work(app.state.sessionmaker, bury)
    after, streams = await run_and_streams(app, run_id)
    assert (after.status, after.error, after.finished_at) == ("succeeded", None, before.finished_at)
    assert {s.status for s in streams} == {"succeeded"}
