"""Client-side rate limiting per connection: the vendor's documented limit, adapted to its headers.

The limiter is a sliding-window log: it remembers when each of the last ``max_requests`` calls
was let through and lets the next one go only once the oldest has left the window. Unlike a
leaky bucket (aiolimiter's ``AsyncLimiter`` admits a full bucket *plus* the drip, up to twice
the limit inside one window), no window of ``period_s`` ever holds more than the limit, which
is what vendors that count fixed or rolling windows enforce. Clock and sleep are injectable so
tests run minutes of vendor time without sleeping.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Literal

import httpx

from syncbridge.logs import get_logger

log = get_logger(__name__)

#: A monotonic clock in seconds.
Clock = Callable[[], float]
#: ``await sleep(seconds)``.
Sleep = Callable[[float], Awaitable[None]]
#: Wall-clock time as a Unix timestamp (to read HTTP dates without a ``Date`` header).
WallClock = Callable[[], float]

HeaderStyle = Literal["none", "hubspot", "cloudinary"]


@dataclass(frozen=True)
class TimeSource:
    """The clock, sleep and wall clock a limiter (and its ``VendorHttp`` backoff) runs on."""

    clock: Clock = time.monotonic
    sleep: Sleep = asyncio.sleep
    wall_clock: WallClock = time.time


_time_source: ContextVar[TimeSource | None] = ContextVar("syncbridge_time_source", default=None)


@contextmanager
def override_time(source: TimeSource) -> Iterator[TimeSource]:
    """Limiters built inside this block run on ``source`` (tests: a fake clock).

    Connectors build their limiter in their factory, so a test can put virtual time under a
    connector it did not write, without any connector plumbing a clock through.
    """
    token = _time_source.set(source)
    try:
        yield source
    finally:
        _time_source.reset(token)


@dataclass(frozen=True)
class RateLimitPolicy:
    """The documented vendor limit a limiter starts from, and how the vendor reports it."""

    max_requests: int
    period_s: float
    header_style: HeaderStyle = "none"
    #: Floor when a 429 carries ``Retry-After: 0`` or none at all.
    min_retry_after_s: float = 1.0
    #: Added to the window so requests delayed between ``acquire`` and arrival at the vendor
    #: still never fall into one vendor window together.
    margin_s: float = 0.1

    def __post_init__(self) -> None:
        if self.max_requests < 1 or self.period_s <= 0:
            raise ValueError("a rate limit needs max_requests >= 1 and period_s > 0")


def parse_retry_after(value: str | None, *, now: float) -> float | None:
    """Seconds to wait from a ``Retry-After`` value (delta seconds or an HTTP date).

    ``now`` is the Unix time the HTTP date is measured against. Returns None when the value is
    missing or unreadable; never a negative number.
    """
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    at = _http_date(text)
    return None if at is None else max(0.0, at - now)


def _http_date(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError, IndexError, OverflowError):
        return None


def _int_header(headers: Mapping[str, str], name: str) -> int | None:
    raw = headers.get(name)
    if raw is None:
        return None
    try:
        return int(raw.strip())
    except ValueError:
        return None


class AdaptiveRateLimiter:
    """Per-connection limiter: starts from the policy and adapts to the vendor's limit headers.

    After ``pause_for(n)`` (a 429 with ``Retry-After: n``) every caller waits at least ``n`` s.
    Callers are served in arrival order.
    """

    def __init__(
        self,
        policy: RateLimitPolicy,
        *,
        clock: Clock | None = None,
        sleep: Sleep | None = None,
        wall_clock: WallClock | None = None,
    ) -> None:
        source = _time_source.get() or TimeSource()
        self.policy = policy
        self.clock: Clock = clock or source.clock
        self.sleep: Sleep = sleep or source.sleep
        self.wall_clock: WallClock = wall_clock or source.wall_clock
        self._max = policy.max_requests
        self._period = policy.period_s
        self._sent: deque[float] = deque()
        self._paused_until = float("-inf")
        self._lock = asyncio.Lock()

    @property
    def max_requests(self) -> int:
        """The limit in force now (the policy's, or what the vendor's headers said)."""
        return self._max

    @property
    def period_s(self) -> float:
        """The window in force now, in seconds."""
        return self._period

    @property
    def paused_until(self) -> float:
        """Clock time before which no call goes out (``-inf`` when not paused)."""
        return self._paused_until

    async def acquire(self) -> None:
        """Wait until one more call fits the window and no pause is in force, then take it."""
        async with self._lock:
            while (wait := self._wait_s(self.clock())) > 0:
                await self.sleep(wait)
            self._sent.append(self.clock())

    def _wait_s(self, now: float) -> float:
        window = self._period + self.policy.margin_s
        while self._sent and self._sent[0] <= now - window:
            self._sent.popleft()
        wait = self._paused_until - now
        if len(self._sent) >= self._max:
            # The limit may have shrunk after a header: wait for enough entries to leave.
            wait = max(wait, self._sent[len(self._sent) - self._max] + window - now)
        return wait

    def note_calls(self, times: Iterable[float]) -> None:
        """Count calls made elsewhere (``times`` on this limiter's clock) as if it had let
        them through: a sender taking a connection over from another process starts with the
        window its predecessor left. Never waits; the next :meth:`acquire` does, if need be."""
        self._sent = deque(sorted([*self._sent, *times]))

    def pause_for(self, seconds: float) -> None:
        """Hold every caller for ``seconds`` from now (a pause never shortens an earlier one)."""
        until = self.clock() + max(0.0, seconds)
        if until > self._paused_until:
            self._paused_until = until
            log.info("ratelimit.paused", seconds=round(seconds, 3))

    def observe(self, response: httpx.Response) -> None:
        """Read the vendor's limit headers from any response and adapt the limit or pause."""
        if self.policy.header_style == "hubspot":
            self._observe_hubspot(response.headers)
        elif self.policy.header_style == "cloudinary":
            self._observe_cloudinary(response.headers)

    def _observe_hubspot(self, headers: Mapping[str, str]) -> None:
        limit = _int_header(headers, "X-HubSpot-RateLimit-Max")
        remaining = _int_header(headers, "X-HubSpot-RateLimit-Remaining")
        interval_ms = _int_header(headers, "X-HubSpot-RateLimit-Interval-Milliseconds")
        if limit is not None and limit > 0:
            self._max = limit
        if interval_ms is not None and interval_ms > 0:
            self._period = interval_ms / 1000
        if remaining is not None and remaining <= 0:
            # A rolling window does not say when its oldest call expires: wait a whole one.
            self.pause_for(self._period)

    def _observe_cloudinary(self, headers: Mapping[str, str]) -> None:
        limit = _int_header(headers, "X-FeatureRateLimit-Limit")
        remaining = _int_header(headers, "X-FeatureRateLimit-Remaining")
        if limit is not None and limit > 0:
            self._max = limit
        if remaining is None or remaining > 0:
            return
        reset = _http_date(headers.get("X-FeatureRateLimit-Reset"))
        wait = self._period if reset is None else reset - self.vendor_now(headers)
        self.pause_for(max(wait, self.policy.min_retry_after_s))

    def vendor_now(self, headers: Mapping[str, str]) -> float:
        """The Unix time a response was sent: its ``Date`` header, else our wall clock.

        Measuring vendor dates against the vendor's own clock makes waits immune to skew.
        """
        sent = _http_date(headers.get("Date"))
        return self.wall_clock() if sent is None else sent


__all__ = [
    "AdaptiveRateLimiter",
    "Clock",
    "HeaderStyle",
    "RateLimitPolicy",
    "Sleep",
    "TimeSource",
    "WallClock",
    "override_time",
    "parse_retry_after",
]
