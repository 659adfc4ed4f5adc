"""A worker process saying it is alive: one ``worker_heartbeats`` row, renewed every beat.

``/readyz`` fails when no worker has beaten recently. A worker that stops cleanly removes
its row; rows of workers silent for a day are removed when a worker starts.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from syncbridge.errors import describe_error
from syncbridge.jobs.clock import SYSTEM_CLOCK, Clock
from syncbridge.logs import get_logger
from syncbridge.schedule import repository
from syncbridge.store.unit_of_work import in_unit_of_work

log = get_logger(__name__)

#: Heartbeats of workers silent this long are removed.
FORGET_AFTER = timedelta(days=1)


class Heartbeat:
    """Beats for worker ``owner`` every ``every_s`` seconds while started."""

    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        owner: str,
        *,
        every_s: float,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self.sessionmaker = sessionmaker
        self.owner = owner
        self.every_s = every_s
        self.clock = clock
        self._task: asyncio.Task[None] | None = None

    async def beat(self) -> None:
        """Record that the worker is alive now (one short write)."""

        async def write(session: AsyncSession) -> None:
            await repository.beat(session, self.owner, self.clock.now())

        await in_unit_of_work(self.sessionmaker, write)

    async def start(self) -> None:
        """Beat once now (so the worker counts as alive as soon as it started), then keep
        beating in the background."""

        async def write(session: AsyncSession) -> None:
            now = self.clock.now()
            await repository.forget_workers_silent_since(session, now - FORGET_AFTER)
            await repository.beat(session, self.owner, now)

        await in_unit_of_work(self.sessionmaker, write)
        self._task = asyncio.create_task(self._run(), name="worker-heartbeat")

    async def _run(self) -> None:
        while True:
            await self.clock.sleep(self.every_s)
            try:
                await self.beat()
            except Exception as exc:  # the store is away: beat again next time
                log.warning("worker.heartbeat_failed", owner=self.owner, error=describe_error(exc))

    async def stop(self) -> None:
        """Stop beating and remove the worker's row (best effort: the store may be gone)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

        async def remove(session: AsyncSession) -> None:
            await repository.forget_worker(session, self.owner)

        try:
            await in_unit_of_work(self.sessionmaker, remove)
        except Exception as exc:  # its row just goes stale
            log.warning("worker.heartbeat_not_removed", owner=self.owner, error=describe_error(exc))
