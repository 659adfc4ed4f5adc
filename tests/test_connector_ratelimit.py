"""The adaptive rate limiter, on virtual time: windows, pauses and the vendors' headers."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from email.utils import format_datetime

import httpx
import pytest

from syncbridge.connector.ratelimit import (
    AdaptiveRateLimiter,
    RateLimitPolicy,
    override_time,
    parse_retry_after,
)
from syncbridge.connector.testing import FakeClock


def limiter(policy: RateLimitPolicy, clock: FakeClock) -> AdaptiveRateLimiter:
    return AdaptiveRateLimiter(policy, clock=clock, sleep=clock.sleep, wall_clock=clock.wall)


def max_in_window(times: list[float], window: float) -> int:
    """The most calls any half-open window of ``window`` seconds holds."""
    ordered = sorted(times)
    return max(sum(1 for t in ordered if start <= t < start + window) for start in ordered)


def response(headers: dict[str, str], status: int = 200) -> httpx.Response:
    return httpx.Response(status, headers=headers)


@pytest.mark.parametrize(
    ("value", "expected"),
    [("2", 2.0), ("0", 0.0), ("1.5", 1.5), (" 7 ", 7.0), (None, None), ("", None), ("soon", None)],
)
def test_retry_after_in_seconds(value: str | None, expected: float | None) -> None:
    assert parse_retry_after(value, now=0.0) == expected


def test_retry_after_as_http_date_is_measured_from_now() -> None:
    now = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC).timestamp()
    assert parse_retry_after("Sun, 01 Mar 2026 12:00:30 GMT", now=now) == 30.0
    assert parse_retry_after("Sun, 01 Mar 2026 11:59:00 GMT", now=now) == 0.0


async def test_no_window_holds_more_than_the_limit() -> None:
    clock = FakeClock()
    rl = limiter(RateLimitPolicy(max_requests=5, period_s=10.0, margin_s=0.0), clock)
    times = []
    for _ in range(23):
        await rl.acquire()
        times.append(clock())
    assert max_in_window(times, 10.0) == 5
    # The limit is used, not just respected: 23 calls need 4 full windows of waiting.
    assert clock() == pytest.approx(40.0)


async def test_concurrent_callers_share_one_window() -> None:
    clock = FakeClock()
    rl = limiter(RateLimitPolicy(max_requests=4, period_s=1.0, margin_s=0.05), clock)
    times: list[float] = []

    async def call() -> None:
        await rl.acquire()
        times.append(clock())

    await asyncio.gather(*(call() for _ in range(30)))
    assert len(times) == 30
    assert max_in_window(times, 1.05) <= 4


async def test_pause_holds_the_next_acquire_for_retry_after() -> None:
    clock = FakeClock(start=100.0)
    rl = limiter(RateLimitPolicy(max_requests=100, period_s=10.0), clock)
    await rl.acquire()
    rl.pause_for(2.0)
    before = clock()
    await rl.acquire()
    assert clock() - before >= 2.0


async def test_a_shorter_pause_never_shortens_a_longer_one() -> None:
    clock = FakeClock()
    rl = limiter(RateLimitPolicy(max_requests=100, period_s=10.0), clock)
    rl.pause_for(30.0)
    rl.pause_for(1.0)
    await rl.acquire()
    assert clock() >= 30.0


async def test_hubspot_headers_set_the_limit_and_hold_callers_when_exhausted() -> None:
    clock = FakeClock()
    rl = limiter(RateLimitPolicy(100, 10.0, header_style="hubspot", margin_s=0.0), clock)
    rl.observe(
        response(
            {
                "X-HubSpot-RateLimit-Max": "190",
                "X-HubSpot-RateLimit-Remaining": "0",
                "X-HubSpot-RateLimit-Interval-Milliseconds": "10000",
            }
        )
    )
    assert (rl.max_requests, rl.period_s) == (190, 10.0)
    await rl.acquire()
    assert clock() >= 10.0


async def test_hubspot_headers_with_budget_left_do_not_pause() -> None:
    clock = FakeClock()
    rl = limiter(RateLimitPolicy(100, 10.0, header_style="hubspot"), clock)
    rl.observe(response({"X-HubSpot-RateLimit-Max": "150", "X-HubSpot-RateLimit-Remaining": "3"}))
    await rl.acquire()
    assert clock() == 0.0
    assert rl.max_requests == 150


async def test_a_lower_vendor_limit_is_enforced_at_once() -> None:
    clock = FakeClock()
    rl = limiter(RateLimitPolicy(100, 10.0, header_style="hubspot", margin_s=0.0), clock)
    times = []
    for _ in range(10):
        await rl.acquire()
        times.append(clock())
    rl.observe(response({"X-HubSpot-RateLimit-Max": "4", "X-HubSpot-RateLimit-Remaining": "2"}))
    for _ in range(10):
        await rl.acquire()
        times.append(clock())
    assert max_in_window(times[10:], 10.0) <= 4


async def test_cloudinary_exhausted_budget_waits_until_reset() -> None:
    clock = FakeClock()
    rl = limiter(RateLimitPolicy(500, 3600.0, header_style="cloudinary"), clock)
    sent = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)
    rl.observe(
        response(
            {
                "Date": format_datetime(sent, usegmt=True),
                "X-FeatureRateLimit-Limit": "2000",
                "X-FeatureRateLimit-Remaining": "0",
                "X-FeatureRateLimit-Reset": "Sun, 01 Mar 2026 12:25:00 GMT",
            }
        )
    )
    assert rl.max_requests == 2000
    await rl.acquire()
    assert clock() == pytest.approx(25 * 60)


async def test_cloudinary_reset_without_date_uses_the_wall_clock() -> None:
    clock = FakeClock(epoch=datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC).timestamp())
    rl = limiter(RateLimitPolicy(500, 3600.0, header_style="cloudinary"), clock)
    rl.observe(
        response(
            {
                "X-FeatureRateLimit-Remaining": "0",
                "X-FeatureRateLimit-Reset": "Sun, 01 Mar 2026 12:00:40 GMT",
            }
        )
    )
    await rl.acquire()
    assert clock() == pytest.approx(40.0)


async def test_headers_of_another_style_are_ignored() -> None:
    clock = FakeClock()
    rl = limiter(RateLimitPolicy(4500, 300.0), clock)
    rl.observe(response({"X-HubSpot-RateLimit-Max": "1", "X-HubSpot-RateLimit-Remaining": "0"}))
    await rl.acquire()
    assert (clock(), rl.max_requests) == (0.0, 4500)


async def test_override_time_reaches_limiters_built_inside_it() -> None:
    clock = FakeClock()
    with override_time(clock.source):
        rl = AdaptiveRateLimiter(RateLimitPolicy(1, 60.0, margin_s=0.0))
    await rl.acquire()
    await rl.acquire()
    assert clock() == 60.0
    assert clock.slept == [60.0]


def test_policy_refuses_an_empty_limit() -> None:
    with pytest.raises(ValueError, match="max_requests"):
        RateLimitPolicy(max_requests=0, period_s=10.0)
