"""The worker's time: what "now" is and how it waits, injectable so tests run on virtual time.

Every time the queue compares (``run_after``, lease expiry) is computed from this clock and
bound as a parameter, never read from the database server's clock.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Protocol

from syncbridge.models.base import utcnow


class Clock(Protocol):
    """Now, and a way to wait."""

    def now(self) -> datetime:
        """The current time, aware UTC."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Wait ``seconds`` of this clock's time."""
        ...


class SystemClock:
    """Wall-clock time and real waits."""

    def now(self) -> datetime:
        return utcnow()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


SYSTEM_CLOCK = SystemClock()
