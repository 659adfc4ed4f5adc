"""``LISTEN`` on one PostgreSQL channel over a connection of its own, listening again after
losing it.

Shared by the revision watch (:mod:`syncbridge.store.revision_watch`) and the job workers'
wake-ups (:mod:`syncbridge.jobs.wakeup`): each says what a notification means, what to do once
listening (read what may have been missed) and what to forget while not listening.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from syncbridge.logs import get_logger

__all__ = ["RECONNECT_DELAY_S", "PostgresListener"]

#: How long the listener waits before listening again after losing its connection.
RECONNECT_DELAY_S = 1.0

log = get_logger(__name__)


class PostgresListener:
    """A background task that keeps ``LISTEN channel`` open on a dedicated connection.

    ``on_notify(payload)`` runs for each notification; ``on_listening(driver)`` once the
    listener is in place (on every reconnect; a notification sent before it is not lost, it
    arrives after); ``on_silent()`` whenever it stops listening (connection lost, failed,
    stopped). Events ``<event>_listening`` and ``<event>_lost`` are logged.
    """

    def __init__(
        self,
        engine: AsyncEngine,
        channel: str,
        *,
        on_notify: Callable[[str], None],
        on_listening: Callable[[Any], Awaitable[None]],
        on_silent: Callable[[], None],
        event: str,
    ) -> None:
        self._engine = engine
        self._channel = channel
        self._on_notify = on_notify
        self._on_listening = on_listening
        self._on_silent = on_silent
        self._listening_event = event + "_listening"
        self._lost_event = event + "_lost"
        self._lost = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self, name: str) -> None:
        """Begin listening in a background task called ``name``."""
        self._task = asyncio.create_task(self._run(), name=name)

    async def stop(self) -> None:
        """Stop listening (``on_silent`` has run when this returns)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        self._on_silent()

    def _notified(self, _conn: Any, _pid: int, _channel: str, payload: str) -> None:
        self._on_notify(payload)

    def _terminated(self, _conn: Any) -> None:
        self._on_silent()
        self._lost.set()

    async def _listen_once(self) -> None:
        async with self._engine.connect() as conn:
            driver = (await conn.get_raw_connection()).driver_connection
            assert driver is not None
            await driver.add_listener(self._channel, self._notified)
            driver.add_termination_listener(self._terminated)
            self._lost.clear()
            try:
                # Listening first, then ``on_listening``: nothing falls between the two.
                await self._on_listening(driver)
                log.info(self._listening_event)
                await self._lost.wait()
            finally:
                self._on_silent()
                with contextlib.suppress(Exception):
                    await driver.remove_listener(self._channel, self._notified)

    async def _run(self) -> None:
        while True:
            try:
                await self._listen_once()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the callers have a fallback: log, then listen again
                self._on_silent()
                log.warning(self._lost_event, error=type(exc).__name__)
            await asyncio.sleep(RECONNECT_DELAY_S)
