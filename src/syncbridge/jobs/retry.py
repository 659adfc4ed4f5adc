"""What a failed attempt leads to: another attempt later, or the dead-letter state.

The decision is made by the error's TYPE, never by what it says:

* :class:`~syncbridge.connector.errors.RateLimited`: retry after at least ``retry_after``;
* other :class:`~syncbridge.connector.errors.TransientConnectorError`: retry with full-jitter
  exponential backoff;
* :func:`permanent` (permanent vendor errors, auth refused, invalid input, a handler's
  :class:`~syncbridge.jobs.context.PermanentJobError`, settings that no longer fit): dead at
  once;
* anything else (a bug, an unexpected failure): retried the same way, logged with its traceback.

Every retry is bounded by the job's ``max_attempts``; then the job is dead. The error kept on
the row is ``"Type: message"``, cut to :data:`syncbridge.errors.ERROR_MAX_CHARS`.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import pydantic

from syncbridge.connector.errors import (
    PermanentConnectorError,
    RateLimited,
    TransientConnectorError,
)
from syncbridge.connector.http import full_jitter
from syncbridge.errors import InvalidInput, NotFound, describe_error
from syncbridge.jobs.context import PermanentJobError

#: Errors that no retry can cure: the job goes dead at once.
PERMANENT: tuple[type[BaseException], ...] = (
    PermanentConnectorError,
    PermanentJobError,
    pydantic.ValidationError,
    InvalidInput,
    NotFound,
)


@cache
def permanent() -> tuple[type[BaseException], ...]:
    """:data:`PERMANENT` and a connection whose stored settings no longer fit its connector
    (imported on first use: the connections package queues jobs, so it imports this one)."""
    from syncbridge.connections.service import SettingsNoLongerFit

    return (*PERMANENT, SettingsNoLongerFit)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Full-jitter exponential backoff: attempt n waits a random time in
    ``[0, min(max_s, base_s * 2 ** (n - 1))]`` (tenacity's ``wait_random_exponential``)."""

    base_s: float = 2.0
    max_s: float = 600.0

    def backoff(self, attempt: int) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1-based)."""
        return full_jitter(attempt, self.base_s, self.max_s)


@dataclass(frozen=True, slots=True)
class Decision:
    """Retry after ``delay_s`` seconds, or (``retry`` False) dead now."""

    retry: bool
    delay_s: float
    error: str
    #: False for an error of no known kind: worth a traceback in the logs.
    expected: bool


def decide(exc: BaseException, *, attempt: int, max_attempts: int, policy: RetryPolicy) -> Decision:
    """What the failure ``exc`` of attempt ``attempt`` (of ``max_attempts``) leads to."""
    error = describe_error(exc)
    if isinstance(exc, permanent()):
        return Decision(retry=False, delay_s=0.0, error=error, expected=True)
    expected = isinstance(exc, TransientConnectorError)
    if attempt >= max_attempts:
        return Decision(retry=False, delay_s=0.0, error=error, expected=expected)
    delay = policy.backoff(attempt)
    if isinstance(exc, RateLimited) and exc.retry_after is not None:
        # The vendor said how long to wait: never sooner than that.
        delay = max(delay, exc.retry_after)
    return Decision(retry=True, delay_s=delay, error=error, expected=expected)
