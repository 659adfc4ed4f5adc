"""The GA4 simulator's property quotas: tokens per hour and per day, concurrent requests.

GA4's numbers for a standard property (reference/vendor-apis.md 3.4): 200,000 tokens a day,
40,000 an hour, 14,000 per project an hour, 10 concurrent requests. A request that arrives
while ``concurrent_requests`` others run, or whose cost would overdraw a window, is refused
with 429 ``RESOURCE_EXHAUSTED`` and charged nothing. Hourly windows
are wall-clock hours and daily windows wall-clock days of the simulator's clock (GA4 resets
days at midnight Pacific time; the simulator keeps UTC days). What a request costs is GA4's
secret ("most requests cost fewer than 10 tokens"): here 1 token plus 1 per 10,000 rows of
the report's rows (``rowCount``), see ``token_cost``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from syncbridge_ga4.sim_errors import GoogleError

HOUR_S = 3600
DAY_S = 86_400


def exhausted(message: str) -> GoogleError:
    return GoogleError(429, "RESOURCE_EXHAUSTED", message)


@dataclass
class _Window:
    length_s: int
    limit: int
    index: int = -1
    consumed: int = 0

    def roll(self, now: float) -> None:
        index = int(now // self.length_s)
        if index != self.index:
            self.index, self.consumed = index, 0

    @property
    def remaining(self) -> int:
        return max(0, self.limit - self.consumed)

    def status(self) -> dict[str, int]:
        return {"consumed": self.consumed, "remaining": self.remaining}


@dataclass
class PropertyQuota:
    """A property's token windows and concurrency limit, on an injectable wall clock."""

    tokens_per_hour: int = 40_000
    tokens_per_day: int = 200_000
    tokens_per_project_per_hour: int = 14_000
    concurrent_requests: int = 10
    server_errors_per_hour: int = 10
    thresholded_requests_per_hour: int = 120
    wall_clock: Callable[[], float] = time.time
    refused: int = 0
    _in_flight: int = 0
    _hour: _Window = field(init=False)
    _day: _Window = field(init=False)
    _project_hour: _Window = field(init=False)

    def __post_init__(self) -> None:
        self._hour = _Window(HOUR_S, self.tokens_per_hour)
        self._day = _Window(DAY_S, self.tokens_per_day)
        self._project_hour = _Window(HOUR_S, self.tokens_per_project_per_hour)

    @contextmanager
    def running(self) -> Iterator[None]:
        """One request in flight; raises 429 beyond ``concurrent_requests``."""
        if self._in_flight >= self.concurrent_requests:
            self.refused += 1
            raise exhausted(
                "Exhausted concurrent requests quota. Too many concurrent requests for this "
                "property; retry when earlier requests have finished."
            )
        self._in_flight += 1
        try:
            yield
        finally:
            self._in_flight -= 1

    def charge(self, tokens: int) -> None:
        """Take ``tokens`` from every window, or raise 429 and take nothing."""
        now = self.wall_clock()
        for window in (self._hour, self._day, self._project_hour):
            window.roll(now)
        if self._day.consumed + tokens > self._day.limit:
            self.refused += 1
            raise exhausted("Exhausted property tokens per day. Quota resets at midnight.")
        for window, what in (
            (self._hour, "property tokens per hour"),
            (self._project_hour, "property tokens per project per hour"),
        ):
            if window.consumed + tokens > window.limit:
                self.refused += 1
                raise exhausted(f"Exhausted {what}. Quota refreshes within the hour.")
        for window in (self._hour, self._day, self._project_hour):
            window.consumed += tokens

    def status(self) -> dict[str, Any]:
        """``propertyQuota`` of a response."""
        now = self.wall_clock()
        for window in (self._hour, self._day, self._project_hour):
            window.roll(now)
        return {
            "tokensPerDay": self._day.status(),
            "tokensPerHour": self._hour.status(),
            "concurrentRequests": {
                "consumed": self._in_flight,
                "remaining": max(0, self.concurrent_requests - self._in_flight),
            },
            "serverErrorsPerProjectPerHour": {
                "consumed": 0,
                "remaining": self.server_errors_per_hour,
            },
            "potentiallyThresholdedRequestsPerHour": {
                "consumed": 0,
                "remaining": self.thresholded_requests_per_hour,
            },
            "tokensPerProjectPerHour": self._project_hour.status(),
        }


def token_cost(row_count: int) -> int:
    """The simulator's model of a request's cost: 1 token + 1 per 10,000 rows of the report."""
    return 1 + row_count // 10_000


__all__ = ["PropertyQuota", "exhausted", "token_cost"]
