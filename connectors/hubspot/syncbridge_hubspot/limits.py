"""HubSpot's rate limits on the client side: the burst window, its 429 bodies, and search.

Every response's ``X-HubSpot-RateLimit-*`` headers adapt the burst limiter (the toolkit's
``hubspot`` header style). A 429 body names the policy that was hit (``policyName``): the
rolling ten-second window holds every call for a whole window, the secondly search limit for
a second. The daily limit holds every call for ``daily_pause_s`` and fails the call at once
with ``DailyLimitReached``, the toolkit's ``RateLimited`` with that ``retry_after``: retrying
inside the call cannot help before the day turns (at midnight in the account's time zone), so
the job is retried after the pause instead. Search calls wait for both their own limiter
(4 requests/s by default) and the burst window, since they also count as calls.
"""

from __future__ import annotations

import json

import httpx

from syncbridge.connector.errors import RateLimited
from syncbridge.connector.ratelimit import AdaptiveRateLimiter, RateLimitPolicy
from syncbridge.logs import get_logger

log = get_logger(__name__)

#: Bytes of a 429 body read for its policy name (HubSpot's bodies are a few hundred bytes).
MAX_429_BODY = 8192


class DailyLimitReached(RateLimited):
    """The account's daily API budget is spent: the job retries after ``retry_after`` s.

    Never retried inside the call (``retry_in_call``): that cannot help before the day turns.
    """

    title = "Vendor daily limit reached"
    retry_in_call = False


def policy_name(response: httpx.Response) -> str | None:
    """The ``policyName`` of a HubSpot 429 body (None when absent or unreadable)."""
    raw = response.content[:MAX_429_BODY]
    try:
        body = json.loads(raw)
    except (ValueError, RecursionError):
        return None
    name = body.get("policyName") if isinstance(body, dict) else None
    return name.upper() if isinstance(name, str) else None


class HubSpotRateLimiter(AdaptiveRateLimiter):
    """The burst limiter, also paused by what a 429 body says about the policy hit."""

    def __init__(self, policy: RateLimitPolicy, *, daily_pause_s: float) -> None:
        super().__init__(policy)
        self.daily_pause_s = daily_pause_s

    def observe(self, response: httpx.Response) -> None:
        """Adapt to the headers; on a 429, pause for its policy (raises ``DailyLimitReached``)."""
        super().observe(response)
        if response.status_code == 429:
            self.pause_for_policy(policy_name(response))

    def pause_for_policy(self, name: str | None) -> None:
        """Hold callers as long as the named policy needs (unknown: one window)."""
        if name == "DAILY":
            log.info("hubspot.daily_limit_reached", pause_s=self.daily_pause_s)
            self.pause_for(self.daily_pause_s)
            raise DailyLimitReached(
                "hubspot: the account's daily API limit is reached (it resets at midnight "
                "in the account's time zone)",
                retry_after=self.daily_pause_s,
            )
        if name == "SECONDLY":
            self.pause_for(1.0)
        else:
            # TEN_SECONDLY_ROLLING (or a policy we do not know): the window must drain.
            self.pause_for(self.period_s)


class SearchRateLimiter(HubSpotRateLimiter):
    """The search endpoints' own per-second limit, on top of the burst window."""

    def __init__(self, per_second: int, *, burst: HubSpotRateLimiter, daily_pause_s: float) -> None:
        super().__init__(
            RateLimitPolicy(per_second, 1.0, header_style="none", min_retry_after_s=1.0),
            daily_pause_s=daily_pause_s,
        )
        self.burst = burst

    async def acquire(self) -> None:
        await self.burst.acquire()
        await super().acquire()

    def observe(self, response: httpx.Response) -> None:
        # Search answers carry no burst headers; a 429 names SECONDLY (ours) or a policy
        # of the whole account, which holds the burst limiter too.
        if response.status_code != 429:
            return
        name = policy_name(response)
        if name in (None, "SECONDLY"):
            self.pause_for_policy("SECONDLY")
            return
        try:
            self.burst.pause_for_policy(name)
        finally:
            self.pause_for(self.burst.paused_until - self.clock())


__all__ = [
    "MAX_429_BODY",
    "DailyLimitReached",
    "HubSpotRateLimiter",
    "SearchRateLimiter",
    "policy_name",
]
