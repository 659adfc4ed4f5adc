"""GA4 quota errors: which quota ran out, and how long to wait before asking again.

GA4 answers every exhausted quota with HTTP 429 ``RESOURCE_EXHAUSTED`` and a message naming
the quota (reference/vendor-apis.md 3.4; the exact wording is not documented, so it is read
loosely). Tokens per hour come back within the hour, concurrent requests as soon as another
call ends; tokens per day only after midnight Pacific time, which is too long to hold a read
open, so that one is handed to the caller as ``RateLimited`` with the time to wait.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

QuotaKind = Literal["hourly", "daily", "concurrent", "unknown"]
#: GA4's daily quotas refresh at midnight in this zone.
QUOTA_ZONE = ZoneInfo("America/Los_Angeles")
#: A little past the boundary, so the retry lands in the new window.
BOUNDARY_MARGIN_S = 5.0
#: Backoff for a 429 that names no known quota: 10 s doubling to 5 minutes.
UNKNOWN_BASE_S = 10.0
UNKNOWN_MAX_S = 300.0


@dataclass(frozen=True)
class QuotaError:
    """A 429 from GA4, read: the quota it names and the message to report."""

    kind: QuotaKind
    message: str

    @classmethod
    def read(cls, body: Any) -> QuotaError:
        """Google's ``{"error": {"code": 429, "message": ..., "status": ...}}`` (any shape)."""
        error = body.get("error") if isinstance(body, dict) else None
        message = error.get("message") if isinstance(error, dict) else None
        text = message[:300] if isinstance(message, str) else "quota exhausted"
        return cls(quota_kind(text), text)


def quota_kind(message: str) -> QuotaKind:
    """Which quota a 429 message names."""
    text = message.lower()
    if "concurrent" in text:
        return "concurrent"
    if "per day" in text or "daily" in text:
        return "daily"
    if "per hour" in text or "hourly" in text:
        return "hourly"
    return "unknown"


def wait_s(error: QuotaError, *, wall_now: float, attempt: int, concurrency_wait_s: float) -> float:
    """Seconds to wait before the next call (``attempt`` counts earlier 429s of this call)."""
    if error.kind == "concurrent":
        return concurrency_wait_s
    if error.kind == "hourly":
        return 3600.0 - wall_now % 3600.0 + BOUNDARY_MARGIN_S
    if error.kind == "daily":
        return seconds_to_pacific_midnight(wall_now)
    return min(UNKNOWN_MAX_S, UNKNOWN_BASE_S * 2.0 ** min(attempt, 10))


def seconds_to_pacific_midnight(wall_now: float) -> float:
    """Seconds from ``wall_now`` (Unix time) to the next midnight in Pacific time."""
    now = datetime.fromtimestamp(wall_now, UTC).astimezone(QUOTA_ZONE)
    midnight = datetime.combine(now.date() + timedelta(days=1), datetime.min.time(), QUOTA_ZONE)
    return (midnight - now).total_seconds() + BOUNDARY_MARGIN_S


def remaining_tokens(property_quota: Any, name: str = "tokensPerHour") -> int | None:
    """``propertyQuota.<name>.remaining`` of an answer, if it carried one."""
    if not isinstance(property_quota, dict):
        return None
    status = property_quota.get(name)
    remaining = status.get("remaining") if isinstance(status, dict) else None
    return remaining if isinstance(remaining, int) else None


__all__ = [
    "QuotaError",
    "QuotaKind",
    "quota_kind",
    "remaining_tokens",
    "seconds_to_pacific_midnight",
    "wait_s",
]
