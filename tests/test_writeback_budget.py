"""Handing a connection's rate budget to a sender in another process: the new sender's
limiter counts every call its predecessor made in the window (a full window stays full) and
its pause, and seeding it never waits."""

from __future__ import annotations

from syncbridge.connector.ratelimit import AdaptiveRateLimiter, RateLimitPolicy
from syncbridge.writeback.budget import seed


class Clock:
    """Virtual time for one limiter: its clock, wall clock and sleep (which moves time)."""

    def __init__(self, at: float = 1_000_000.0) -> None:
        self.at = at
        self.slept: list[float] = []

    def now(self) -> float:
        return self.at

    async def sleep(self, seconds: float) -> None:
        assert len(self.slept) < 100, "the limiter keeps sleeping without time moving"
        self.slept.append(seconds)
        self.at += seconds


def limiter(clock: Clock, limit: int = 100, period: float = 10.0) -> AdaptiveRateLimiter:
    policy = RateLimitPolicy(max_requests=limit, period_s=period, margin_s=0.1)
    return AdaptiveRateLimiter(policy, clock=clock.now, sleep=clock.sleep, wall_clock=clock.now)


async def test_a_predecessor_that_filled_its_window_leaves_it_full() -> None:
    clock = Clock()
    fresh = limiter(clock)
    # 100 calls over the last 5 s: the vendor's window is full.
    calls = [clock.now() - 5.0 + i * 0.05 for i in range(100)]

    seed([fresh], calls, None)
    assert clock.slept == []  # seeding never waits
    await fresh.acquire()

    # The 101st call waits until the oldest call has left the window (10 s and the margin).
    assert clock.slept, "the next call went out at once: 101 calls in one window"
    assert clock.now() >= calls[0] + 10.0 + 0.1


async def test_calls_older_than_the_window_do_not_count() -> None:
    clock = Clock()
    fresh = limiter(clock)
    seed([fresh], [clock.now() - 60.0 + i * 0.1 for i in range(100)], None)
    await fresh.acquire()
    assert clock.slept == []


async def test_a_pause_handed_over_holds_the_next_call_and_seeding_never_waits() -> None:
    clock = Clock()
    fresh = limiter(clock)
    calls = [clock.now() - 2.0 + i * 0.01 for i in range(20)]
    paused = clock.now() + 30.0  # the vendor said Retry-After: 30 to the predecessor

    seed([fresh], calls, paused)
    assert clock.slept == []
    await fresh.acquire()

    assert clock.now() >= paused
