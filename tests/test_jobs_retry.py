"""What a failed attempt leads to, decided by the error's type: the backoff window, Retry-After,
the attempt bound, and the error text kept on the row."""

from __future__ import annotations

import pytest

from syncbridge.connector.errors import (
    AuthError,
    InvalidWebhook,
    PermanentConnectorError,
    RateLimited,
    TransientConnectorError,
)
from syncbridge.errors import ERROR_MAX_CHARS
from syncbridge.errors import describe_error as describe
from syncbridge.jobs import PermanentJobError, RetryPolicy
from syncbridge.jobs.retry import decide

POLICY = RetryPolicy(base_s=2.0, max_s=60.0)


@pytest.mark.parametrize(
    ("attempt", "window"), [(1, 2.0), (2, 4.0), (3, 8.0), (5, 32.0), (9, 60.0)]
)
def test_the_backoff_is_full_jitter_within_a_doubling_window_up_to_the_cap(
    attempt: int, window: float
) -> None:
    delays = [POLICY.backoff(attempt) for _ in range(300)]
    assert all(0.0 <= d <= window for d in delays)
    # Full jitter spreads over the whole window (not a fixed wait, not only its top).
    assert min(delays) < window / 4
    assert max(delays) > window * 3 / 4


def test_a_transient_error_is_retried_until_the_last_attempt() -> None:
    error = TransientConnectorError("timeout")
    retried = [decide(error, attempt=n, max_attempts=3, policy=POLICY).retry for n in (1, 2, 3)]
    assert retried == [True, True, False]


def test_retry_after_is_a_floor_under_the_backoff() -> None:
    decisions = [
        decide(RateLimited("429", retry_after=7.5), attempt=1, max_attempts=5, policy=POLICY)
        for _ in range(50)
    ]
    assert {d.delay_s for d in decisions} == {7.5}  # the first window (2 s) is below it
    later = decide(RateLimited("429", retry_after=1.0), attempt=6, max_attempts=9, policy=POLICY)
    assert 1.0 <= later.delay_s <= 60.0
    unknown = decide(RateLimited("429"), attempt=1, max_attempts=5, policy=POLICY)
    assert 0.0 <= unknown.delay_s <= 2.0


@pytest.mark.parametrize(
    "error",
    [
        PermanentConnectorError("400"),
        AuthError("401"),
        InvalidWebhook("bad signature"),
        PermanentJobError("gone"),
    ],
)
def test_permanent_errors_are_never_retried(error: Exception) -> None:
    decision = decide(error, attempt=1, max_attempts=8, policy=POLICY)
    assert (decision.retry, decision.expected) == (False, True)


def test_an_unknown_error_is_retried_but_flagged_for_a_traceback() -> None:
    decision = decide(
        ZeroDivisionError("division by zero"), attempt=1, max_attempts=2, policy=POLICY
    )
    assert (decision.retry, decision.expected) == (True, False)
    assert decision.error == "ZeroDivisionError: division by zero"


def test_the_error_text_is_the_type_and_message_and_bounded() -> None:
    assert describe(TimeoutError()) == "TimeoutError"
    assert describe(AuthError("refused")) == "AuthError: refused"
    long = describe(RuntimeError("x" * 10_000))
    assert len(long) == ERROR_MAX_CHARS
    assert long.startswith("RuntimeError: xxx")
