"""One rate budget per connection across every worker process.

One sender per connection runs at a time (the send job's concurrency key), so one limiter
governs the vendor calls at any moment. What is left is the handover: a sender in another
process starts with a fresh limiter that knows nothing of the calls its predecessor made in
the current window, and could fill that window a second time. So each sender records, with
its batches, the wall-clock times of its recent calls (and any pause the vendor asked for) in
``writeback_senders``; a sender that is not the one that made them seeds its limiters with
them before its first call.

Calls are timed by a thin client in front of the shared one (every call the connector makes
goes through it). Each limiter of the connector is seeded with every call: conservative when
a connector has several budgets (Cloudinary's Admin and Upload APIs).
"""

from __future__ import annotations

import time
import uuid
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from syncbridge.connector.http import VendorHttp, client_over
from syncbridge.connector.ratelimit import AdaptiveRateLimiter
from syncbridge.connector.spec import Connector
from syncbridge.models import WriteBackSender

#: Calls kept at most (the longest window's worth is what matters).
MAX_KEPT = 10_000


@dataclass
class CallLog:
    """The wall-clock times of one connector instance's vendor calls."""

    wall_clock: Callable[[], float] = time.time
    instance: str = field(default_factory=lambda: uuid.uuid4().hex)
    calls: deque[float] = field(default_factory=lambda: deque(maxlen=MAX_KEPT))

    def recent(self, window_s: float) -> list[float]:
        since = self.wall_clock() - window_s
        return [t for t in self.calls if t > since]


def timed_client(shared: httpx.AsyncClient, log: CallLog) -> httpx.AsyncClient:
    """A client with ``shared``'s behaviour (pool, timeouts, SSRF guard) that notes the time
    of every call in ``log``."""

    async def on_request(_request: httpx.Request) -> None:
        log.calls.append(log.wall_clock())

    return client_over(shared, on_request=on_request)


def limiters_of(connector: Connector) -> list[AdaptiveRateLimiter]:
    """The rate limiters a connector instance holds (through its ``VendorHttp`` views)."""
    found: list[AdaptiveRateLimiter] = []
    for value in vars(connector).values():
        limiter = value.limiter if isinstance(value, VendorHttp) else value
        if isinstance(limiter, AdaptiveRateLimiter) and limiter not in found:
            found.append(limiter)
    return found


def window_s(limiters: Sequence[AdaptiveRateLimiter]) -> float:
    """The longest window of ``limiters`` (its margin included); 0 without limiters."""
    return max((lim.period_s + lim.policy.margin_s for lim in limiters), default=0.0)


def paused_until(limiters: Sequence[AdaptiveRateLimiter]) -> float | None:
    """The latest pause in force, as wall-clock time (None: none)."""
    latest = None
    for limiter in limiters:
        if limiter.paused_until > limiter.clock():
            at = limiter.paused_until - limiter.clock() + limiter.wall_clock()
            latest = at if latest is None else max(latest, at)
    return latest


def seed(
    limiters: Sequence[AdaptiveRateLimiter], calls: Sequence[float], paused: float | None
) -> None:
    """Count ``calls`` (wall-clock times) in each fresh limiter's window, as if it had let
    them through (all of them: a predecessor that filled its window leaves it full), and hold
    it until ``paused`` (wall-clock) if that is still ahead. Never waits."""
    for limiter in limiters:
        offset = limiter.clock() - limiter.wall_clock()
        since = limiter.wall_clock() - limiter.period_s - limiter.policy.margin_s
        limiter.note_calls(at + offset for at in calls if at > since)
        if paused is not None and paused > limiter.wall_clock():
            limiter.pause_for(paused - limiter.wall_clock())


async def handed_over(
    session: AsyncSession, connection_id: uuid.UUID, log: CallLog
) -> tuple[list[float], float | None] | None:
    """The calls and pause of the connection's last sender when it is not ``log``'s
    connector (None: it is, or there was none)."""
    row = await session.get(WriteBackSender, connection_id)
    if row is None or row.instance == log.instance:
        return None
    return [float(t) for t in row.calls], row.paused_until


async def hand_over(
    session: AsyncSession,
    connection_id: uuid.UUID,
    log: CallLog,
    limiters: Sequence[AdaptiveRateLimiter],
) -> None:
    """Record ``log``'s recent calls (and any pause) as the connection's last sender's."""
    calls = log.recent(window_s(limiters)) if limiters else []
    row = await session.get(WriteBackSender, connection_id, with_for_update=True)
    if row is None:
        row = WriteBackSender(connection_id=connection_id, instance=log.instance)
        session.add(row)
    row.instance, row.calls, row.paused_until = log.instance, calls, paused_until(limiters)
    await session.flush()


__all__ = [
    "CallLog",
    "hand_over",
    "handed_over",
    "limiters_of",
    "seed",
    "timed_client",
    "window_s",
]
