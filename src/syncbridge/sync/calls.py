"""A run's view of the shared HTTP client, counting the vendor calls its connectors make.

Connectors take an ``httpx.AsyncClient``; a run hands them a thin client whose transport
forwards every request to the process's shared client (its pool, timeouts and SSRF guard
stay in force) and whose event hooks count the calls and the rate-limit answers (429, 420)
of the stream being read. Closing it never closes the shared client.
"""

from __future__ import annotations

from dataclasses import dataclass

import httpx

from syncbridge.connector.http import RATE_LIMIT_STATUSES, client_over


@dataclass
class CallCount:
    """Vendor calls and rate-limit answers seen so far (read and reset per page)."""

    calls: int = 0
    rate_limited: int = 0

    def take(self) -> tuple[int, int]:
        """The counts since the last ``take``."""
        counts = (self.calls, self.rate_limited)
        self.calls = self.rate_limited = 0
        return counts


def counting_client(shared: httpx.AsyncClient, count: CallCount) -> httpx.AsyncClient:
    """A client for a run's connectors: ``shared``'s behaviour, calls counted in ``count``."""

    async def on_request(_request: httpx.Request) -> None:
        count.calls += 1

    async def on_response(response: httpx.Response) -> None:
        if response.status_code in RATE_LIMIT_STATUSES:
            count.rate_limited += 1

    return client_over(shared, on_request=on_request, on_response=on_response)


__all__ = ["CallCount", "counting_client"]
