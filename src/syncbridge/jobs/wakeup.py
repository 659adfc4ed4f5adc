"""Waking idle workers when a job is queued.

On PostgreSQL :func:`~syncbridge.jobs.service.enqueue` sends ``NOTIFY syncbridge_jobs`` in the
enqueuing transaction (delivered when it commits) and each worker ``LISTEN``\\s on a connection
of its own. Polling stays the fallback: a worker that is not listening (starting, or after
losing its connection) still finds every job within its poll interval. SQLite has no
notifications: the worker polls.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from syncbridge.store.listener import PostgresListener

__all__ = ["CHANNEL", "PostgresWakeup", "Wakeup"]

#: The PostgreSQL notification channel of newly queued jobs (the payload is empty, so the
#: notifications of one transaction collapse into one).
CHANNEL = "syncbridge_jobs"


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
        self._listener = PostgresListener(
            engine,
            CHANNEL,
            on_notify=lambda _payload: on_wake(),
            on_listening=self._on_listening,
            on_silent=self.listening.clear,
            event="job.wakeup",
        )

    async def start(self) -> None:
        self._listener.start("jobs-wakeup")

    async def stop(self) -> None:
        await self._listener.stop()

    async def _on_listening(self, _driver: Any) -> None:
        self.listening.set()
        # A job queued while nobody listened was not announced: look once now.
        self._on_wake()
