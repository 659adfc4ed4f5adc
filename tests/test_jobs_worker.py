"""The worker on virtual time: outcomes, retries and backoff, dead letters, lease renewal,
zombie fencing (QUALITY R12), and a stop that releases what did not finish."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

import pytest
from pydantic import BaseModel
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from structlog.testing import capture_logs

from syncbridge.connections.service import SettingsNoLongerFit
from syncbridge.connector.errors import (
    AuthError,
    PermanentConnectorError,
    RateLimited,
    TransientConnectorError,
)
from syncbridge.errors import InvalidInput
from syncbridge.jobs import (
    HandlerRegistry,
    JobContext,
    LeaseLost,
    Outcome,
    PermanentJobError,
    RetryPolicy,
    Worker,
    WorkerConfig,
)
from syncbridge.models import AuditEntry
from syncbridge.store.unit_of_work import in_unit_of_work
from tests.jobs_support import ManualClock, eventually, finished, job_row, queue

pytest_plugins = ["tests.store_fixtures"]

LEASE_S = 30.0
RENEW_S = 10.0
POLICY = RetryPolicy(base_s=2.0, max_s=600.0)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


def make_worker(
    engine: AsyncEngine,
    registry: HandlerRegistry,
    clock: ManualClock,
    *,
    owner: str = "worker-a",
    concurrency: int = 1,
) -> Worker:
    config = WorkerConfig(
        concurrency=concurrency,
        lease_s=LEASE_S,
        renew_every_s=RENEW_S,
        poll_interval_s=5.0,
        grace_s=20.0,
        retry=POLICY,
    )
    return Worker(engine, registry, config=config, clock=clock, owner=owner)


def failing(error: BaseException) -> HandlerRegistry:
    registry = HandlerRegistry()

    @registry.handles("k")
    async def fail(_ctx: JobContext) -> None:
        raise error

    return registry


class Gate:
    """A handler that says when it started and waits until the test lets it go on."""

    def __init__(self) -> None:
        self.started = asyncio.Event()
        self.go_on = asyncio.Event()
        self.cancelled = False

    async def wait(self) -> None:
        self.started.set()
        try:
            await self.go_on.wait()
        except asyncio.CancelledError:
            self.cancelled = True
            raise


async def test_a_handler_that_returns_marks_the_job_done(
    engine: AsyncEngine, clock: ManualClock
) -> None:
    seen: list[tuple[object, ...]] = []
    registry = HandlerRegistry()

    @registry.handles("k")
    async def handle(ctx: JobContext) -> None:
        seen.append((ctx.job_id, ctx.kind, ctx.payload, ctx.attempt, ctx.max_attempts))

    worker = make_worker(engine, registry, clock)
    job_id = await queue(worker.sessionmaker, "k", {"n": 1}, max_attempts=4)
    with capture_logs() as logs:
        assert await worker.run_once() == [Outcome.done]
    assert seen == [(job_id, "k", {"n": 1}, 1, 4)]
    row = await job_row(worker.sessionmaker, job_id)
    assert (row.status, row.attempts, row.finished_at) == ("done", 1, clock.now())
    assert (row.lease_owner, row.lease_expires_at, row.lease_token) == (None, None, None)
    assert [e["event"] for e in logs if e["event"].startswith("job.")] == [
        "job.claimed",
        "job.done",
    ]
    assert all("payload" not in e for e in logs)


async def test_a_worker_claims_only_the_kinds_it_handles(
    engine: AsyncEngine, clock: ManualClock
) -> None:
    registry = HandlerRegistry()

    @registry.handles("known")
    async def handle(_ctx: JobContext) -> None:
        pass

    worker = make_worker(engine, registry, clock)
    unknown = await queue(worker.sessionmaker, "unknown")
    known = await queue(worker.sessionmaker, "known")
    assert await worker.run_once() == [Outcome.done]
    assert await worker.run_once() == []
    assert (await job_row(worker.sessionmaker, unknown)).status == "queued"
    assert (await job_row(worker.sessionmaker, known)).status == "done"


async def test_a_transient_error_is_retried_after_a_full_jitter_backoff(
    engine: AsyncEngine, clock: ManualClock
) -> None:
    worker = make_worker(engine, failing(TransientConnectorError("vendor answered 503")), clock)
    job_id = await queue(worker.sessionmaker, "k")
    for attempt in (1, 2, 3):
        failed_at = clock.now()
        assert await worker.run_once() == [Outcome.retry]
        row = await job_row(worker.sessionmaker, job_id)
        assert (row.status, row.attempts) == ("queued", attempt)
        assert row.last_error == "TransientConnectorError: vendor answered 503"
        assert (row.lease_owner, row.lease_token) == (None, None)
        # Full jitter: anywhere from now to base * 2 ** (attempt - 1) seconds later.
        window = timedelta(seconds=POLICY.base_s * 2 ** (attempt - 1))
        assert failed_at <= row.run_after <= failed_at + window
        clock.advance((row.run_after - clock.now()).total_seconds())


async def test_a_retried_job_is_not_claimed_before_its_run_after(
    engine: AsyncEngine, clock: ManualClock
) -> None:
    worker = make_worker(engine, failing(RateLimited("slow down", retry_after=120)), clock)
    job_id = await queue(worker.sessionmaker, "k")
    assert await worker.run_once() == [Outcome.retry]
    row = await job_row(worker.sessionmaker, job_id)
    # The backoff of a first attempt is at most 2 s: Retry-After decides.
    assert row.run_after == clock.now() + timedelta(seconds=120)
    clock.advance(119)
    assert await worker.run_once() == []
    clock.advance(1)
    assert await worker.run_once() == [Outcome.retry]
    assert (await job_row(worker.sessionmaker, job_id)).attempts == 2


async def test_retry_after_beyond_the_backoff_cap_is_still_honoured(
    engine: AsyncEngine, clock: ManualClock
) -> None:
    worker = make_worker(engine, failing(RateLimited("quota", retry_after=3600)), clock)
    job_id = await queue(worker.sessionmaker, "k")
    await worker.run_once()
    row = await job_row(worker.sessionmaker, job_id)
    assert row.run_after == clock.now() + timedelta(seconds=3600)


async def test_a_job_goes_dead_after_its_last_attempt(
    engine: AsyncEngine, clock: ManualClock
) -> None:
    worker = make_worker(engine, failing(TransientConnectorError("timeout")), clock)
    job_id = await queue(worker.sessionmaker, "k", max_attempts=3)
    outcomes = []
    for _ in range(3):
        outcomes.extend(await worker.run_once())
        clock.advance(POLICY.max_s)
    assert outcomes == [Outcome.retry, Outcome.retry, Outcome.dead]
    row = await job_row(worker.sessionmaker, job_id)
    assert (row.status, row.attempts, row.last_error) == (
        "dead",
        3,
        "TransientConnectorError: timeout",
    )
    assert row.finished_at is not None
    assert await worker.run_once() == []


class Payload(BaseModel):
    count: int


def _invalid_payload() -> BaseException:
    try:
        Payload.model_validate({"count": "many"})
    except Exception as exc:
        return exc
    raise AssertionError("the payload was accepted")


@pytest.mark.parametrize(
    "error",
    [
        PermanentConnectorError("vendor answered 400"),
        AuthError("credentials refused"),
        PermanentJobError("the connection is gone"),
        InvalidInput("bad mapping"),
        SettingsNoLongerFit("the stored settings no longer fit the connector (page_size)"),
        _invalid_payload(),
    ],
    ids=lambda e: type(e).__name__,
)
async def test_a_permanent_error_makes_the_job_dead_at_once(
    engine: AsyncEngine, clock: ManualClock, error: BaseException
) -> None:
    worker = make_worker(engine, failing(error), clock)
    job_id = await queue(worker.sessionmaker, "k", max_attempts=8)
    with capture_logs() as logs:
        assert await worker.run_once() == [Outcome.dead]
    row = await job_row(worker.sessionmaker, job_id)
    assert (row.status, row.attempts) == ("dead", 1)
    assert (row.last_error or "").startswith(f"{type(error).__name__}: ")
    [dead] = [e for e in logs if e["event"] == "job.dead"]
    assert dead["error"] == row.last_error
    assert "exc_info" not in dead


async def test_an_unknown_error_is_retried_and_logged_with_its_traceback(
    engine: AsyncEngine, clock: ManualClock
) -> None:
    worker = make_worker(engine, failing(KeyError("connection_id")), clock)
    job_id = await queue(worker.sessionmaker, "k")
    with capture_logs() as logs:
        assert await worker.run_once() == [Outcome.retry]
    [retry] = [e for e in logs if e["event"] == "job.retry"]
    assert isinstance(retry["exc_info"], KeyError)
    assert retry["error"] == "KeyError: 'connection_id'"
    assert (await job_row(worker.sessionmaker, job_id)).status == "queued"


async def test_a_known_transient_error_is_logged_without_a_traceback(
    engine: AsyncEngine, clock: ManualClock
) -> None:
    worker = make_worker(engine, failing(TransientConnectorError("503")), clock)
    await queue(worker.sessionmaker, "k")
    with capture_logs() as logs:
        await worker.run_once()
    [retry] = [e for e in logs if e["event"] == "job.retry"]
    assert "exc_info" not in retry


async def test_the_lease_is_renewed_while_the_handler_runs(
    engine: AsyncEngine, clock: ManualClock
) -> None:
    gate = Gate()
    registry = HandlerRegistry()
    registry.register("k", lambda _ctx: gate.wait())
    worker = make_worker(engine, registry, clock)
    rival = make_worker(engine, registry, clock, owner="worker-b")
    job_id = await queue(worker.sessionmaker, "k")
    start = clock.now()
    running = asyncio.create_task(worker.run_once())
    await finished(gate.started.wait())

    async def renewed_to(seconds: float) -> bool:
        row = await job_row(worker.sessionmaker, job_id)
        return row.lease_expires_at == start + timedelta(seconds=seconds)

    assert await renewed_to(LEASE_S)
    clock.advance(RENEW_S)
    await eventually(lambda: renewed_to(RENEW_S + LEASE_S), "the lease was renewed")
    # Past the first lease's expiry: renewed, so nobody else may take the job.
    clock.advance(LEASE_S - RENEW_S + 5)
    assert await rival.claim(1) == []
    gate.go_on.set()
    assert await finished(running) == [Outcome.done]
    row = await job_row(worker.sessionmaker, job_id)
    assert (row.status, row.attempts) == ("done", 1)


async def record_effect(ctx: JobContext) -> None:
    """The job's effect: one audit row, written only while this attempt holds the lease."""

    async def write(session: AsyncSession) -> None:
        effect = AuditEntry(
            actor="job", action="test.effect", entity_type="job", entity_id=str(ctx.job_id)
        )
        session.add(effect)
        await session.flush()

    await ctx.fenced(write)


async def effects(sessionmaker: async_sessionmaker[AsyncSession], job_id: uuid.UUID) -> int:
    async def count(session: AsyncSession) -> int:
        statement = select(func.count()).where(
            AuditEntry.action == "test.effect", AuditEntry.entity_id == str(job_id)
        )
        return int((await session.execute(statement)).scalar_one())

    return await in_unit_of_work(sessionmaker, count, write=False)


@pytest.mark.parametrize("b_finishes_first", [True, False], ids=["b-done-first", "b-still-running"])
async def test_r12_a_worker_paused_past_its_lease_cannot_complete_and_the_effect_happens_once(
    engine: AsyncEngine, b_finishes_first: bool
) -> None:
    # Worker A stalls (its whole process, renewals included: its clock stands still) past
    # its lease; worker B, whose time goes on, takes the job over. A resumes after B has
    # completed, or while B still runs (then only the lease token tells them apart).
    paused, moving = ManualClock(), ManualClock()
    gate_a, gate_b = Gate(), Gate()

    def stalling(gate: Gate) -> HandlerRegistry:
        registry = HandlerRegistry()

        @registry.handles("effect")
        async def stalled(ctx: JobContext) -> None:
            await gate.wait()
            await record_effect(ctx)

        return registry

    worker_a = make_worker(engine, stalling(gate_a), paused, owner="worker-a")
    worker_b = make_worker(engine, stalling(gate_b), moving, owner="worker-b")
    job_id = await queue(worker_a.sessionmaker, "effect")

    a_running = asyncio.create_task(worker_a.run_once())
    await finished(gate_a.started.wait())
    moving.advance(LEASE_S + 1)
    b_running = asyncio.create_task(worker_b.run_once())
    await finished(gate_b.started.wait())
    if b_finishes_first:
        gate_b.go_on.set()
        assert await finished(b_running) == [Outcome.done]
    # A resumes: its fenced write and its completion are refused.
    with capture_logs() as logs:
        gate_a.go_on.set()
        assert await finished(a_running) == [Outcome.lease_lost]
    assert [e["owner"] for e in logs if e["event"] == "job.lease_lost"] == ["worker-a"]
    if not b_finishes_first:
        assert await effects(worker_a.sessionmaker, job_id) == 0
        gate_b.go_on.set()
        assert await finished(b_running) == [Outcome.done]
    assert await effects(worker_a.sessionmaker, job_id) == 1
    row = await job_row(worker_a.sessionmaker, job_id)
    assert (row.status, row.attempts, row.last_error) == ("done", 2, None)


async def test_a_stale_workers_completion_is_refused(engine: AsyncEngine) -> None:
    # A handler that writes nothing itself: only the completion is fenced.
    paused, moving = ManualClock(), ManualClock()
    gate = Gate()
    registry_a = HandlerRegistry()
    registry_a.register("k", lambda _ctx: gate.wait())
    registry_b = failing(TransientConnectorError("vendor down"))
    worker_a = make_worker(engine, registry_a, paused, owner="worker-a")
    worker_b = make_worker(engine, registry_b, moving, owner="worker-b")
    job_id = await queue(worker_a.sessionmaker, "k")
    a_running = asyncio.create_task(worker_a.run_once())
    await finished(gate.started.wait())
    moving.advance(LEASE_S + 1)
    assert await worker_b.run_once() == [Outcome.retry]
    gate.go_on.set()
    assert await finished(a_running) == [Outcome.lease_lost]
    # A's "done" did not land: the row is as B left it.
    row = await job_row(worker_a.sessionmaker, job_id)
    assert (row.status, row.attempts) == ("queued", 2)
    assert row.last_error == "TransientConnectorError: vendor down"


async def test_a_lease_lost_at_renewal_cancels_the_handler(engine: AsyncEngine) -> None:
    clock_a, clock_b = ManualClock(), ManualClock()
    gate = Gate()
    registry = HandlerRegistry()
    registry.register("k", lambda _ctx: gate.wait())
    worker_a = make_worker(engine, registry, clock_a, owner="worker-a")
    job_id = await queue(worker_a.sessionmaker, "k")
    a_running = asyncio.create_task(worker_a.run_once())
    await finished(gate.started.wait())
    clock_b.advance(LEASE_S + 1)
    [taken] = await make_worker(engine, registry, clock_b, owner="worker-b").claim(1)
    clock_a.advance(RENEW_S)  # A's next renewal finds B's token
    assert await finished(a_running) == [Outcome.lease_lost]
    assert gate.cancelled
    row = await job_row(worker_a.sessionmaker, job_id)
    assert (row.status, row.lease_owner, row.lease_token) == (
        "running",
        "worker-b",
        taken.lease_token,
    )


async def test_heartbeat_and_fenced_writes_refuse_once_the_lease_is_gone(
    engine: AsyncEngine,
) -> None:
    clock_a, clock_b = ManualClock(), ManualClock()
    outcomes: list[str] = []
    gate = Gate()
    registry = HandlerRegistry()

    @registry.handles("k")
    async def handle(ctx: JobContext) -> None:
        await ctx.heartbeat()
        outcomes.append("renewed")
        await gate.wait()
        try:
            await ctx.heartbeat()
        except LeaseLost:
            outcomes.append("heartbeat refused")
        try:
            await record_effect(ctx)
        except LeaseLost:
            outcomes.append("fenced write refused")
            raise

    worker_a = make_worker(engine, registry, clock_a)
    job_id = await queue(worker_a.sessionmaker, "k")
    a_running = asyncio.create_task(worker_a.run_once())
    await finished(gate.started.wait())
    clock_b.advance(LEASE_S + 1)
    assert len(await make_worker(engine, registry, clock_b, owner="b").claim(1)) == 1
    gate.go_on.set()
    assert await finished(a_running) == [Outcome.lease_lost]
    assert outcomes == ["renewed", "heartbeat refused", "fenced write refused"]
    assert await effects(worker_a.sessionmaker, job_id) == 0


async def test_a_stop_lets_running_jobs_finish_and_releases_the_rest_after_the_grace(
    engine: AsyncEngine, clock: ManualClock
) -> None:
    stuck = Gate()
    drains = asyncio.Event()
    registry = HandlerRegistry()

    @registry.handles("drains")
    async def finish_on_stop(ctx: JobContext) -> None:
        drains.set()
        await ctx.wait_stopping()
        assert ctx.stopping

    registry.register("stuck", lambda _ctx: stuck.wait())
    worker = make_worker(engine, registry, clock, concurrency=2)
    done_id = await queue(worker.sessionmaker, "drains")
    stuck_id = await queue(worker.sessionmaker, "stuck")
    run = asyncio.create_task(worker.run())
    await finished(drains.wait())
    await finished(stuck.started.wait())
    worker.stop()

    async def drained() -> bool:
        return (await job_row(worker.sessionmaker, done_id)).status == "done"

    await eventually(drained, "the job that finishes on stop is done")
    assert not run.done()  # the stuck job still has its grace period

    async def grace_over() -> bool:
        clock.advance(worker.config.grace_s)
        await asyncio.sleep(0)
        return run.done()

    with capture_logs() as logs:
        await eventually(grace_over, "the worker stopped")
    await finished(run)
    assert stuck.cancelled
    row = await job_row(worker.sessionmaker, stuck_id)
    assert (row.status, row.attempts, row.lease_owner, row.lease_token) == (
        "queued",
        0,
        None,
        None,
    )
    assert [e["job_id"] for e in logs if e["event"] == "job.released"] == [str(stuck_id)]
