"""Waking idle workers when a job is queued.

On PostgreSQL :func:`~syncbridge.jobs.service.enqueue` sends ``NOTIFY syncbridge_jobs`` in the
enqueuing transaction (delivered when it commits) and each worker ``LISTEN``\\s on a connection
of its own. Polling stays the fallback: a worker that is not listening (starting, or after
losing its connection) still finds every job within its poll interval. SQLite has no
notifications: the worker polls.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from syncbridge.logs import get_logger

__all__ = ["CHANNEL", "PostgresWakeup", "Wakeup"]

#: The PostgreSQL notification channel of newly queued jobs (the payload is empty, so the
#: notifications of one transaction collapse into one).
CHANNEL = "syncbridge_jobs"

#: How long the listener waits before listening again after losing its connection.
RECONNECT_DELAY_S = 1.0

log = get_logger(__name__)


class Wakeup:
    """No notifications: the worker relies on polling."""

    def __init__(self, on_wake: Callable[[], None]) -> None:
        self._on_wake = on_wake
        #: Set while notifications are being received.
        self.listening = asyncio.Event()

    async def start(self) -> None:
        """Begin listening (nothing to do without notifications)."""

    async def stop(self) -> None:
        """Stop listening."""
        self.listening.clear()

    @staticmethod
    def for_engine(engine: AsyncEngine, on_wake: Callable[[], None]) -> Wakeup:
        """The wake-up source that suits ``engine``'s database."""
        if engine.dialect.name == "postgresql":
            return PostgresWakeup(engine, on_wake)
        return Wakeup(on_wake)


class PostgresWakeup(Wakeup):
    """``LISTEN syncbridge_jobs`` on a dedicated connection, reconnecting when it is lost."""

    def __init__(self, engine: AsyncEngine, on_wake: Callable[[], None]) -> None:
        super().__init__(on_wake)
        self._engine = engine
        self._task: asyncio.Task[None] | None = None
        self._lost = asyncio.Event()

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="jobs-wakeup")

    async def stop(self) -> None:
        await super().stop()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def _on_notify(self, _conn: Any, _pid: int, _channel: str, _payload: str) -> None:
        self._on_wake()

    def _on_terminated(self, _conn: Any) -> None:
        self.listening.clear()
        self._lost.set()

    async def _listen_once(self) -> None:
        async with self._engine.connect() as conn:
            driver = await _driver_connection(conn)
            await driver.add_listener(CHANNEL, self._on_notify)
            driver.add_termination_listener(self._on_terminated)
            self._lost.clear()
            self.listening.set()
            # A job queued while nobody listened was not announced: look once now.
            self._on_wake()
            log.info("job.wakeup_listening")
            try:
                await self._lost.wait()
            finally:
                self.listening.clear()
                with contextlib.suppress(Exception):
                    await driver.remove_listener(CHANNEL, self._on_notify)

    async def _run(self) -> None:
        while True:
            try:
                await self._listen_once()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # polling covers the gap: log, then listen again
                self.listening.clear()
                log.warning("job.wakeup_lost", error=type(exc).__name__)
            await asyncio.sleep(RECONNECT_DELAY_S)


async def _driver_connection(conn: AsyncConnection) -> Any:
    raw = await conn.get_raw_connection()
    return raw.driver_connection
