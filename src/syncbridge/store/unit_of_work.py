"""One owner per transaction.

:func:`unit_of_work` is the transaction of the CLI, bootstrap, the sandbox set-up and worker
steps; the request scope (:func:`syncbridge.api.deps.get_session`) opens the same kind of
transaction around each API call. Services and repositories only ``flush()``: the owner
commits on success and rolls back on error.

A write transaction on SQLite starts with ``BEGIN IMMEDIATE`` (it takes the write lock before
its first read, so two writers never both read and then both write); on PostgreSQL, writes
that guard a cross-row invariant take a row lock first (:mod:`syncbridge.store.revisions`).
A serialization failure or deadlock aborts the whole transaction, so the retry unit is the
whole unit of work: :func:`retrying` re-runs it a bounded number of times.

A step that calls a vendor is two units of work with the call between them: no transaction
is ever open while a vendor is called.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, TypeVar

from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from tenacity import (
    AsyncRetrying,
    retry_if_exception,
    stop_after_attempt,
    wait_random_exponential,
)

from syncbridge.logs import get_logger
from syncbridge.store import revisions

T = TypeVar("T")
log = get_logger(__name__)

#: How often a unit of work is tried when the database asks for a retry.
MAX_ATTEMPTS = 6

#: Execution options of a write transaction (read by the SQLite ``begin`` hook in ``db``).
WRITE_OPTIONS: dict[str, Any] = {"sqlite_begin": "IMMEDIATE"}
READ_OPTIONS: dict[str, Any] = {"sqlite_begin": "DEFERRED"}

#: PostgreSQL SQLSTATEs that mean "run the transaction again": serialization_failure and
#: deadlock_detected.
RETRYABLE_SQLSTATES = frozenset({"40001", "40P01"})


class ConnectionLost(Exception):
    """A connection lost under a statement run through the driver itself, not SQLAlchemy
    (which says so with ``connection_invalidated``): a new connection may work."""


def is_retryable(exc: BaseException) -> bool:
    """True for a database error that a fresh attempt of the same transaction can cure:
    SQLAlchemy's, or the driver's own for a statement run without it."""
    if isinstance(exc, ConnectionLost):
        return True
    if isinstance(exc, DBAPIError):
        if exc.connection_invalidated:
            # The connection was lost (a database restart, a dropped socket); a new one may
            # work.
            return True
        orig: BaseException | None = exc.orig
    else:
        orig = exc
    code = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
    if code in RETRYABLE_SQLSTATES:
        return True
    # SQLite's SQLITE_BUSY surfaces as OperationalError("database is locked") once the busy
    # timeout runs out; a deferred reader that tried to write sees it at once.
    return isinstance(exc, DBAPIError) and "database is locked" in str(orig)


def _log_retry(state: Any) -> None:
    exc = state.outcome.exception() if state.outcome else None
    log.warning("store.transaction_retried", attempt=state.attempt_number, error=type(exc).__name__)


def retrying(attempts: int = MAX_ATTEMPTS) -> AsyncRetrying:
    """A tenacity loop that re-runs a unit of work on retryable database errors only."""
    return AsyncRetrying(
        retry=retry_if_exception(is_retryable),
        stop=stop_after_attempt(attempts),
        wait=wait_random_exponential(multiplier=0.01, max=0.25),
        before_sleep=_log_retry,
        reraise=True,
    )


@asynccontextmanager
async def unit_of_work(
    sessionmaker: async_sessionmaker[AsyncSession], *, write: bool = True
) -> AsyncIterator[AsyncSession]:
    """One transaction: commit when the block ends, roll back when it raises.

    ``write=False`` opens a read transaction (on SQLite a deferred one, which never takes
    the write lock). This tries once; use :func:`in_unit_of_work` (or :func:`retrying`) to
    re-run the block on serialization failures and deadlocks.
    """
    options = WRITE_OPTIONS if write else READ_OPTIONS
    async with sessionmaker(execution_options=options) as session:
        try:
            yield session
        except BaseException:
            await session.rollback()
            revisions.forget(session)
            raise
        try:
            await session.commit()
            revisions.committed(session)
        finally:
            revisions.forget(session)


async def in_unit_of_work(
    sessionmaker: async_sessionmaker[AsyncSession],
    work: Callable[[AsyncSession], Awaitable[T]],
    *,
    write: bool = True,
) -> T:
    """Run ``work`` in a unit of work, re-running the whole unit when the database reports a
    serialization failure or deadlock (at most :data:`MAX_ATTEMPTS` times)."""

    async def once() -> T:
        async with unit_of_work(sessionmaker, write=write) as session:
            return await work(session)

    # The first try runs outside tenacity: the common case pays nothing for the retries.
    try:
        return await once()
    except Exception as exc:
        if not is_retryable(exc):
            raise
    async for attempt in retrying(MAX_ATTEMPTS - 1):
        with attempt:
            return await once()
    raise AssertionError("unreachable: tenacity re-raises the last error")  # pragma: no cover
