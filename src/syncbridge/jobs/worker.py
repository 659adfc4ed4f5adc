"""The worker: claims jobs under a lease, runs their handlers, records what happened.

Each job goes through three kinds of step, never inside one transaction:

1. the **claim**, a short unit of work of its own (``FOR UPDATE SKIP LOCKED`` on PostgreSQL,
   ``BEGIN IMMEDIATE`` on SQLite, where one worker serves a store) that leases the job:
   owner, expiry, a fresh token, one more attempt;
2. the **handler**, outside any transaction (it may call vendors and opens its own units of
   work), while a background task renews the lease every ``renew_every_s``;
3. the **outcome**, a unit of work that changes the row only while the token still holds the
   lease: done, retry later (full-jitter backoff, ``Retry-After`` honoured), or dead.

A worker whose lease was taken over (it stalled past the expiry and another worker claimed
the job) learns it at its next renewal, fenced write or completion, and changes nothing.
On :meth:`Worker.stop` it claims nothing more, lets running jobs finish within the grace
period, and releases the rest back to the queue.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import time
import uuid
from collections.abc import Awaitable, Callable, Collection, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from functools import partial
from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from syncbridge.db import create_sessionmaker
from syncbridge.jobs import metrics as job_metrics
from syncbridge.jobs import repository
from syncbridge.jobs.clock import SYSTEM_CLOCK, Clock
from syncbridge.jobs.context import JobContext, LeaseLost
from syncbridge.jobs.registry import HandlerRegistry
from syncbridge.jobs.repository import ClaimedJob, DeadJob
from syncbridge.jobs.retry import RetryPolicy, decide
from syncbridge.jobs.wakeup import Wakeup
from syncbridge.logs import get_logger
from syncbridge.models.jobs import JobStatus
from syncbridge.store.unit_of_work import in_unit_of_work

if TYPE_CHECKING:
    from syncbridge.jobs.services import JobServices

log = get_logger(__name__)


class Outcome(StrEnum):
    """What became of one claimed attempt."""

    done = "done"
    retry = "retry"
    dead = "dead"
    #: Another worker holds the job now: this attempt changed nothing.
    lease_lost = "lease_lost"


@dataclass(frozen=True, slots=True)
class WorkerConfig:
    """How a worker claims and holds jobs."""

    concurrency: int = 1
    lease_s: float = 60.0
    #: How often the lease of a running job is renewed (default: a third of the lease).
    renew_every_s: float | None = None
    poll_interval_s: float = 1.0
    grace_s: float = 30.0
    retry: RetryPolicy = field(default_factory=RetryPolicy)

    @property
    def renew_interval_s(self) -> float:
        return self.renew_every_s if self.renew_every_s is not None else self.lease_s / 3


def default_owner() -> str:
    """``host:pid:random``: tells workers apart in the ``lease_owner`` column and the logs."""
    return f"{socket.gethostname()[:150]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class Worker:
    """Runs the jobs of the kinds its registry handles, from the store behind ``engine``."""

    def __init__(
        self,
        engine: AsyncEngine,
        registry: HandlerRegistry,
        *,
        config: WorkerConfig | None = None,
        clock: Clock = SYSTEM_CLOCK,
        owner: str | None = None,
        listen: bool = True,
        services: JobServices | None = None,
        only: Collection[uuid.UUID] | None = None,
    ) -> None:
        self.sessionmaker: async_sessionmaker[AsyncSession] = create_sessionmaker(engine)
        #: Vendor access handed to handlers (``JobContext.services``).
        self.services = services
        #: When given, the only jobs this worker claims (the CLI's ``sync`` runs its own).
        self.only = None if only is None else tuple(only)
        self.registry = registry
        self.config = config or WorkerConfig()
        self.clock = clock
        self.owner = owner or default_owner()
        # SQLite: look with a read first, so an idle worker never takes the write lock.
        self._look_first = engine.dialect.name == "sqlite"
        self._wake = asyncio.Event()
        self._stopping = asyncio.Event()
        #: Set while the run loop waits for work with no wake-up pending.
        self.idle = asyncio.Event()
        #: How :meth:`run` learns of new jobs besides polling (``LISTEN`` on PostgreSQL).
        self.wakeup = Wakeup.for_engine(engine, self.wake) if listen else Wakeup(self.wake)
        #: Set when :meth:`run` has returned (stopped, or failed).
        self.stopped = asyncio.Event()

    def wake(self) -> None:
        """Look for jobs now instead of at the next poll (a notification arrived)."""
        self._wake.set()

    def stop(self) -> None:
        """Claim nothing more; :meth:`run` finishes or releases what runs, then returns."""
        self._stopping.set()
        self._wake.set()

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    @property
    def waiting(self) -> bool:
        """True while :meth:`run` is blocked waiting for work with no wake-up pending."""
        return self.idle.is_set() and not self._wake.is_set()

    async def claim(self, limit: int) -> list[ClaimedJob]:
        """Lease up to ``limit`` ready jobs to this worker (one short unit of work)."""
        kinds = self.registry.kinds
        now = self.clock.now()
        if not kinds or limit < 1:
            return []
        if self._look_first:

            async def look(session: AsyncSession) -> bool:
                return await repository.has_claimable(session, kinds, now, self.only)

            if not await in_unit_of_work(self.sessionmaker, look, write=False):
                return []

        async def take(session: AsyncSession) -> tuple[list[ClaimedJob], list[DeadJob]]:
            claimed, dead = await repository.claim(
                session,
                kinds=kinds,
                owner=self.owner,
                now=now,
                lease_expires_at=now + timedelta(seconds=self.config.lease_s),
                limit=limit,
                only=self.only,
            )
            for gone in dead:
                await self._buried(session, gone.kind, gone.id, repository.LEASE_RAN_OUT, now)
            return claimed, dead

        claimed, dead = await in_unit_of_work(self.sessionmaker, take)
        for gone in dead:
            log.warning(
                "job.dead", job_id=str(gone.id), kind=gone.kind, error=repository.LEASE_RAN_OUT
            )
        for job in claimed:
            log.info(
                "job.claimed",
                job_id=str(job.id),
                kind=job.kind,
                attempt=job.attempt,
                owner=self.owner,
            )
        return claimed

    async def execute(self, job: ClaimedJob) -> Outcome:
        """Run one claimed job's handler and record its outcome (fenced by the lease token)."""
        handler = self.registry.get(job.kind)
        assert handler is not None, "a worker claims only the kinds it handles"
        ctx = JobContext(
            job,
            sessionmaker=self.sessionmaker,
            clock=self.clock,
            lease_s=self.config.lease_s,
            stopping=self._stopping,
            services=self.services,
        )
        started = time.perf_counter()
        work = asyncio.create_task(_run_handler(handler(ctx)), name=f"job-{job.id}")
        keeper = asyncio.create_task(self._keep_lease(ctx, work), name=f"lease-{job.id}")
        try:
            # wait(), not await: our own cancellation (shutdown) must not be confused with
            # the handler's.
            await asyncio.wait({work})
        finally:
            keeper.cancel()
            work.cancel()
            for task in (keeper, work):
                with contextlib.suppress(BaseException):
                    await task
        if ctx.lost:
            log.warning("job.lease_lost", job_id=str(job.id), kind=job.kind, owner=self.owner)
            outcome = Outcome.lease_lost
        else:
            error = asyncio.CancelledError() if work.cancelled() else work.exception()
            outcome = await self._record(job, error)
        job_metrics.job_seconds.labels(job.kind).observe(time.perf_counter() - started)
        job_metrics.job_outcomes.labels(job.kind, outcome.value).inc()
        return outcome

    async def _keep_lease(self, ctx: JobContext, work: asyncio.Task[None]) -> None:
        while True:
            await self.clock.sleep(self.config.renew_interval_s)
            try:
                await ctx.heartbeat()
            except LeaseLost:
                work.cancel()
                return
            except Exception as exc:  # the store may be back before the lease runs out
                log.warning(
                    "job.lease_renew_failed", job_id=str(ctx.job_id), error=type(exc).__name__
                )

    async def _buried(
        self, session: AsyncSession, kind: str, job_id: uuid.UUID, error: str, now: datetime
    ) -> None:
        """Let ``kind`` end what its dead job leaves unfinished, in the burying transaction."""
        hook = self.registry.on_dead(kind)
        if hook is not None:
            await hook(session, job_id, error, now)

    async def _record(self, job: ClaimedJob, error: BaseException | None) -> Outcome:
        """Write the attempt's outcome, only while ``job``'s lease token still holds."""
        now = self.clock.now()
        fields: dict[str, Any] = {"job_id": str(job.id), "kind": job.kind, "attempt": job.attempt}
        # The write, its lease-holding arguments (job, token, now) still to be given.
        write: Callable[..., Awaitable[bool]]
        dead_error: str | None = None
        if error is None:
            outcome, write = Outcome.done, partial(repository.finish, status=JobStatus.done)
        else:
            decision = decide(
                error, attempt=job.attempt, max_attempts=job.max_attempts, policy=self.config.retry
            )
            fields["error"] = decision.error
            if not decision.expected:
                # An error of no known kind is a bug or a surprise: keep its traceback.
                fields["exc_info"] = error
            if decision.retry:
                run_after = now + timedelta(seconds=decision.delay_s)
                fields["run_after"] = run_after.isoformat()
                outcome = Outcome.retry
                write = partial(
                    repository.retry_later, run_after=run_after, last_error=decision.error
                )
            else:
                outcome = Outcome.dead
                write = partial(repository.finish, status=JobStatus.dead, last_error=decision.error)
                dead_error = decision.error

        async def held(session: AsyncSession) -> bool:
            if not await write(session, job.id, job.lease_token, now=now):
                return False
            if dead_error is not None:
                await self._buried(session, job.kind, job.id, dead_error, now)
            if job.concurrency_key is not None:
                # A job waiting for this key may run now: wake the workers (PostgreSQL).
                await repository.announce(session)
            return True

        if not await in_unit_of_work(self.sessionmaker, held):
            log.warning("job.lease_lost", job_id=str(job.id), kind=job.kind, owner=self.owner)
            return Outcome.lease_lost
        if outcome is Outcome.done:
            log.info("job.done", **fields)
        elif outcome is Outcome.retry:
            log.warning("job.retry", **fields)
        else:
            log.warning("job.dead", **fields)
        return outcome

    async def run_once(self) -> list[Outcome]:
        """Claim what fits in ``concurrency`` and run it to the end (tests, one-shot runs)."""
        jobs = await self.claim(self.config.concurrency)
        return list(await asyncio.gather(*(self.execute(job) for job in jobs)))

    async def run(self) -> None:
        """Claim and run jobs until :meth:`stop`; then finish or release what is running."""
        running: dict[asyncio.Task[Outcome], ClaimedJob] = {}
        await self.wakeup.start()
        log.info(
            "worker.started",
            owner=self.owner,
            kinds=self.registry.kinds,
            concurrency=self.config.concurrency,
        )
        try:
            while not self._stopping.is_set():
                self._wake.clear()
                free = self.config.concurrency - len(running)
                claimed = await self._claim_safely(free) if free > 0 else []
                for job in claimed:
                    running[asyncio.create_task(self.execute(job))] = job
                await self._wait_for_work(running.keys(), poll=len(claimed) < free)
                _reap(running)
        finally:
            try:
                await self.wakeup.stop()
                await self._drain(running)
            finally:
                self.stopped.set()
                log.info("worker.stopped", owner=self.owner)

    async def _claim_safely(self, limit: int) -> list[ClaimedJob]:
        try:
            return await self.claim(limit)
        except Exception as exc:  # the store may be back at the next poll
            log.warning("job.claim_failed", owner=self.owner, error=type(exc).__name__)
            return []

    async def _wait_for_work(self, running: Collection[asyncio.Task[Outcome]], poll: bool) -> None:
        """Until a wake-up, a stop, a running job ending, or (``poll``) the poll interval."""
        helpers: list[asyncio.Task[Any]] = [asyncio.create_task(self._wake.wait())]
        if poll:
            helpers.append(asyncio.create_task(self.clock.sleep(self.config.poll_interval_s)))
        if poll and not self._wake.is_set():
            self.idle.set()
        try:
            await asyncio.wait([*helpers, *running], return_when=asyncio.FIRST_COMPLETED)
        finally:
            self.idle.clear()
            await _cancel(helpers)

    async def _drain(self, running: dict[asyncio.Task[Outcome], ClaimedJob]) -> None:
        """Give running jobs the grace period; release the unfinished back to the queue."""
        if not running:
            return
        all_done = asyncio.create_task(asyncio.wait(set(running)))
        deadline = asyncio.create_task(self.clock.sleep(self.config.grace_s))
        await asyncio.wait([all_done, deadline], return_when=asyncio.FIRST_COMPLETED)
        await _cancel([all_done, deadline])
        unfinished = [task for task in running if not task.done()]
        await _cancel(unfinished)
        released = [running.pop(task) for task in unfinished]
        _reap(running)
        for job in released:
            await self._release(job)

    async def _release(self, job: ClaimedJob) -> None:
        now = self.clock.now()

        async def release(session: AsyncSession) -> bool:
            return await repository.release(session, job.id, job.lease_token, now=now)

        try:
            released = await in_unit_of_work(self.sessionmaker, release)
        except Exception as exc:  # its lease runs out and another worker takes it over
            log.warning("job.release_failed", job_id=str(job.id), error=type(exc).__name__)
            return
        if released:
            log.info("job.released", job_id=str(job.id), kind=job.kind, owner=self.owner)


async def _run_handler(call: Awaitable[None]) -> None:
    await call


async def _cancel(tasks: Sequence[asyncio.Task[Any]]) -> None:
    for task in tasks:
        task.cancel()
    for task in tasks:
        with contextlib.suppress(BaseException):
            await task


def _reap(running: dict[asyncio.Task[Outcome], ClaimedJob]) -> None:
    """Forget finished tasks; an execution that failed outside its handler is logged."""
    for task in [t for t in running if t.done()]:
        job = running.pop(task)
        if not task.cancelled() and (exc := task.exception()) is not None:
            log.error(
                "job.execute_failed", job_id=str(job.id), error=type(exc).__name__, exc_info=exc
            )
