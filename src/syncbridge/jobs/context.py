"""What a job handler is given and may raise.

A handler is ``async def handle(ctx: JobContext) -> None``. It runs outside any transaction:
it may call vendors, and opens its own units of work on ``ctx.sessionmaker``. Returning means
done; raising means failed (see :mod:`syncbridge.jobs.retry` for what each error leads to).

Its lease is renewed in the background while it runs. If the lease is lost (another worker
took the job over after this one stalled past its expiry) the handler is cancelled and its
completion refused. Writes that must happen at most once per job go through
:meth:`JobContext.fenced`: they commit only while this attempt still holds the lease.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from syncbridge.jobs import repository
from syncbridge.jobs.clock import Clock
from syncbridge.jobs.repository import ClaimedJob
from syncbridge.store.unit_of_work import in_unit_of_work

if TYPE_CHECKING:
    from syncbridge.jobs.services import JobServices

T = TypeVar("T")


class LeaseLost(Exception):
    """Another worker holds the job now: this attempt must stop and change nothing."""


class PermanentJobError(Exception):
    """Raised by a handler when the job can never succeed: it goes dead at once."""


class NoServices(PermanentJobError):
    """The handler needs vendor access (:class:`~syncbridge.jobs.services.JobServices`) and
    its worker was started without it."""


class JobContext:
    """One attempt of one job: its payload, its lease, and the store."""

    def __init__(
        self,
        job: ClaimedJob,
        *,
        sessionmaker: async_sessionmaker[AsyncSession],
        clock: Clock,
        lease_s: float,
        stopping: asyncio.Event,
        services: JobServices | None = None,
    ) -> None:
        self._job = job
        self._services = services
        self._clock = clock
        self._lease = timedelta(seconds=lease_s)
        self._stopping = stopping
        self._lost = False
        self.sessionmaker = sessionmaker

    @property
    def job_id(self) -> uuid.UUID:
        return self._job.id

    @property
    def kind(self) -> str:
        return self._job.kind

    @property
    def payload(self) -> dict[str, Any]:
        return self._job.payload

    @property
    def services(self) -> JobServices:
        """Vendor access: the connection context and the shared guarded HTTP client; raises
        :class:`NoServices` (the job goes dead) when the worker has none."""
        if self._services is None:
            raise NoServices(f"job kind {self.kind!r} needs a worker with vendor access")
        return self._services

    @property
    def attempt(self) -> int:
        """This attempt's number, from 1."""
        return self._job.attempt

    @property
    def max_attempts(self) -> int:
        return self._job.max_attempts

    @property
    def lease_token(self) -> uuid.UUID:
        return self._job.lease_token

    @property
    def lost(self) -> bool:
        """True once this attempt is known to have lost its lease."""
        return self._lost

    @property
    def stopping(self) -> bool:
        """True once the worker is shutting down (a long handler may stop at a safe point;
        it is released back to the queue if it has not finished by the grace period)."""
        return self._stopping.is_set()

    async def wait_stopping(self) -> None:
        """Return when the worker starts shutting down."""
        await self._stopping.wait()

    def check(self) -> None:
        """Raise :class:`LeaseLost` if this attempt no longer holds the lease."""
        if self._lost:
            raise LeaseLost(str(self.job_id))

    def mark_lost(self) -> None:
        self._lost = True

    async def heartbeat(self) -> None:
        """Renew the lease now; raises :class:`LeaseLost` if another worker holds it."""
        self.check()

        async def renew(session: AsyncSession) -> bool:
            return await self._renew(session)

        if not await in_unit_of_work(self.sessionmaker, renew):
            self.mark_lost()
            self.check()

    async def release_dedupe_key(self) -> None:
        """Free this job's dedupe key (see ``repository.release_dedupe_key``): work that
        arrives while it runs queues a follow-up job. Raises :class:`LeaseLost` if the lease
        is gone."""
        self.check()

        async def free(session: AsyncSession) -> bool:
            return await repository.release_dedupe_key(session, self.job_id, self.lease_token)

        if not await in_unit_of_work(self.sessionmaker, free):
            self.mark_lost()
            self.check()

    async def fenced(self, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
        """Run ``work`` in a unit of work that commits only while this attempt holds the lease.

        The lease row is renewed (and, on PostgreSQL, locked) first in the same transaction,
        so no other worker can take the job over until it commits. Raises :class:`LeaseLost`
        (nothing written) when the lease is already gone.
        """
        self.check()

        async def guarded(session: AsyncSession) -> T:
            if not await self._renew(session):
                self.mark_lost()
                self.check()
            return await work(session)

        return await in_unit_of_work(self.sessionmaker, guarded)

    async def _renew(self, session: AsyncSession) -> bool:
        now = self._clock.now()
        return await repository.renew(
            session, self.job_id, self.lease_token, now=now, until=now + self._lease
        )


#: A job handler: returns when done, raises when failed.
Handler = Callable[[JobContext], Awaitable[None]]
