"""The queries of the job queue. Every write that a worker makes after its claim names the
lease token it holds: a worker whose lease was taken over changes nothing.

Jobs that share a ``concurrency_key`` never run at once: a claim skips a job whose key another
running job with an unexpired lease holds, and takes at most one job per key. On SQLite the
claim's write transaction excludes every other claimer; on PostgreSQL a claimer also takes a
transaction-scoped advisory lock per key it is about to lease (``pg_try_advisory_xact_lock``,
skipping a key another claimer is leasing right now) and then checks the key again, so two
claimers never lease two jobs of one key.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, and_, func, or_, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from syncbridge.jobs.wakeup import CHANNEL
from syncbridge.models.jobs import LIVE_STATUSES, Job, JobStatus

#: Advisory lock namespace of concurrency keys (the first key of the two-int lock form).
KEY_LOCK_SPACE = 7_320_001

#: What a claim that found a job on its last attempt with its lease run out records.
LEASE_RAN_OUT = "LeaseExpired: the worker holding the job's last attempt stopped renewing it"

_NO_SYNC: dict[str, Any] = {"synchronize_session": False}
_NO_LEASE: dict[str, Any] = {"lease_owner": None, "lease_expires_at": None, "lease_token": None}
_LIVE_KEY = Job.status.in_(LIVE_STATUSES)
#: The dedupe index's predicate as literal SQL: PostgreSQL matches an ON CONFLICT target to a
#: partial index only by its text, and a bound parameter stops matching under the generic
#: plan of a prepared statement (after its fifth execution).
LIVE_KEY_PREDICATE = "status IN ('queued', 'running')"
_LIVE_KEY_SQL = text(LIVE_KEY_PREDICATE)


@dataclass(frozen=True, slots=True)
class DeadJob:
    """A job a claim found dead (its lease ran out on its last attempt) and buried."""

    id: uuid.UUID
    kind: str


@dataclass(frozen=True, slots=True)
class ClaimedJob:
    """A job as its claim left it: the lease token is the right to renew and finish it."""

    id: uuid.UUID
    kind: str
    payload: dict[str, Any]
    attempt: int
    max_attempts: int
    lease_token: uuid.UUID
    lease_expires_at: datetime
    concurrency_key: str | None = None


async def insert_job(
    session: AsyncSession,
    *,
    kind: str,
    payload: dict[str, Any],
    dedupe_key: str | None,
    run_after: datetime,
    max_attempts: int,
    concurrency_key: str | None = None,
) -> Job | None:
    """Insert a queued job; None when a live job already holds ``dedupe_key``."""
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    values = {
        "kind": kind,
        "payload": payload,
        "dedupe_key": dedupe_key,
        "concurrency_key": concurrency_key,
        "run_after": run_after,
        "max_attempts": max_attempts,
    }
    statement = (
        insert(Job)
        .values(**values)
        .on_conflict_do_nothing(index_elements=[Job.dedupe_key], index_where=_LIVE_KEY_SQL)
        .returning(Job)
    )
    return (await session.scalars(statement)).one_or_none()


async def live_job_with_key(session: AsyncSession, dedupe_key: str) -> Job | None:
    """The queued or running job holding ``dedupe_key``, if any."""
    statement = select(Job).where(Job.dedupe_key == dedupe_key, _LIVE_KEY)
    return (await session.scalars(statement)).one_or_none()


def _holders(key: Any, job_id: Any, now: datetime) -> Select[tuple[uuid.UUID]]:
    """Running jobs other than ``job_id`` with an unexpired lease on concurrency ``key``."""
    holder = Job.__table__.alias("holder")
    return select(holder.c.id).where(
        holder.c.concurrency_key == key,
        holder.c.status == JobStatus.running.value,
        holder.c.lease_expires_at >= now,
        holder.c.id != job_id,
    )


def _key_held(now: datetime) -> ColumnElement[bool]:
    """The job's concurrency key is held by another running job with an unexpired lease."""
    return _holders(Job.concurrency_key, Job.id, now).exists()


def _claimable(
    kinds: Sequence[str], now: datetime, only: Sequence[uuid.UUID] | None = None
) -> ColumnElement[bool]:
    ready = and_(Job.status == JobStatus.queued.value, Job.run_after <= now)
    lease_ran_out = and_(Job.status == JobStatus.running.value, Job.lease_expires_at < now)
    free = or_(Job.concurrency_key.is_(None), ~_key_held(now))
    claimable = and_(Job.kind.in_(kinds), or_(ready, lease_ran_out), free)
    return claimable if only is None else and_(claimable, Job.id.in_(only))


async def has_claimable(
    session: AsyncSession,
    kinds: Sequence[str],
    now: datetime,
    only: Sequence[uuid.UUID] | None = None,
) -> bool:
    """Whether a claim would find anything now (a read: takes no lock)."""
    if not kinds:
        return False
    statement = select(Job.id).where(_claimable(kinds, now, only)).limit(1)
    return (await session.scalars(statement)).first() is not None


async def claim(
    session: AsyncSession,
    *,
    kinds: Sequence[str],
    owner: str,
    now: datetime,
    lease_expires_at: datetime,
    limit: int,
    only: Sequence[uuid.UUID] | None = None,
) -> tuple[list[ClaimedJob], list[DeadJob]]:
    """Lease up to ``limit`` claimable jobs of ``kinds`` (and, with ``only``, of those ids) to
    ``owner``, oldest ``run_after`` first, at most one per concurrency key; returns them and
    the jobs found dead (lease ran out on their last attempt), buried in this transaction.

    On PostgreSQL rows other claimers hold are skipped (``FOR UPDATE SKIP LOCKED``); on SQLite
    the write transaction (``BEGIN IMMEDIATE``) already excludes every other claimer.
    """
    if not kinds or limit < 1:
        return [], []
    found = (
        await session.execute(
            select(
                Job.id, Job.kind, Job.status, Job.attempts, Job.max_attempts, Job.concurrency_key
            )
            .where(_claimable(kinds, now, only))
            .order_by(Job.run_after, Job.created_at)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
    ).all()
    found = await _one_per_key(session, found, now)
    dead = [
        DeadJob(row.id, row.kind)
        for row in found
        if row.status == JobStatus.running.value and row.attempts >= row.max_attempts
    ]
    exhausted = {job.id for job in dead}
    order = [row.id for row in found if row.id not in exhausted]
    if exhausted:
        await session.execute(
            update(Job)
            .where(Job.id.in_(exhausted))
            .values(
                status=JobStatus.dead.value,
                last_error=LEASE_RAN_OUT,
                finished_at=now,
                updated_at=now,
                **_NO_LEASE,
            )
            .execution_options(**_NO_SYNC)
        )
    if not order:
        return [], dead
    token = uuid.uuid4()
    rows = (
        await session.execute(
            update(Job)
            .where(Job.id.in_(order))
            .values(
                status=JobStatus.running.value,
                attempts=Job.attempts + 1,
                lease_owner=owner,
                lease_expires_at=lease_expires_at,
                lease_token=token,
                updated_at=now,
            )
            .returning(
                Job.id,
                Job.kind,
                Job.payload,
                Job.attempts,
                Job.max_attempts,
                Job.concurrency_key,
            )
            .execution_options(**_NO_SYNC)
        )
    ).all()
    by_id = {row.id: row for row in rows}
    claimed = [
        ClaimedJob(
            id=job_id,
            kind=by_id[job_id].kind,
            payload=by_id[job_id].payload,
            attempt=by_id[job_id].attempts,
            max_attempts=by_id[job_id].max_attempts,
            lease_token=token,
            lease_expires_at=lease_expires_at,
            concurrency_key=by_id[job_id].concurrency_key,
        )
        for job_id in order
    ]
    return claimed, dead


async def _one_per_key(session: AsyncSession, found: Sequence[Any], now: datetime) -> list[Any]:
    """``found`` with at most one job per concurrency key, none whose key is now held.

    A job found dead-on-arrival (its lease ran out on its last attempt) is kept whatever its
    key: the claim only buries it. On PostgreSQL a key is taken with a transaction-scoped
    advisory lock (skipped if another claimer holds it) and checked again afterwards: the
    first check's snapshot may predate a claim that committed since.
    """
    postgres = session.get_bind().dialect.name == "postgresql"
    kept: list[Any] = []
    keys: set[str] = set()
    for row in found:
        key = row.concurrency_key
        exhausted = row.status == JobStatus.running.value and row.attempts >= row.max_attempts
        if key is None or exhausted:
            kept.append(row)
            continue
        if key in keys:
            continue
        if postgres and not await _lock_key(session, key, row.id, now):
            continue
        keys.add(key)
        kept.append(row)
    return kept


async def _lock_key(session: AsyncSession, key: str, job_id: uuid.UUID, now: datetime) -> bool:
    """Take ``key``'s advisory lock for this transaction and check nobody holds the key."""
    lock = func.pg_try_advisory_xact_lock(KEY_LOCK_SPACE, func.hashtext(key))
    if not (await session.execute(select(lock))).scalar_one():
        return False
    held = _holders(key, job_id, now).limit(1)
    return (await session.execute(held)).first() is None


async def announce(session: AsyncSession) -> None:
    """Wake idle workers when this transaction commits (PostgreSQL ``NOTIFY``; SQLite polls)."""
    if session.get_bind().dialect.name == "postgresql":
        await session.execute(select(func.pg_notify(CHANNEL, "")))


async def _update_held(
    session: AsyncSession, job_id: uuid.UUID, token: uuid.UUID, values: dict[str, Any]
) -> bool:
    """Apply ``values`` to the job if ``token`` still holds its lease; True when it did."""
    statement = (
        update(Job)
        .where(
            Job.id == job_id,
            Job.lease_token == token,
            Job.status == JobStatus.running.value,
        )
        .values(**values)
        .returning(Job.id)
        .execution_options(**_NO_SYNC)
    )
    return (await session.execute(statement)).first() is not None


async def release_dedupe_key(session: AsyncSession, job_id: uuid.UUID, token: uuid.UUID) -> bool:
    """Free the dedupe key of a running job the caller holds: work queued with that key from
    now on makes a new job (which waits for this one when they share a concurrency key)
    instead of being folded into one that may already have looked for it."""
    return await _update_held(session, job_id, token, {"dedupe_key": None})


async def renew(
    session: AsyncSession, job_id: uuid.UUID, token: uuid.UUID, *, now: datetime, until: datetime
) -> bool:
    """Extend the lease to ``until``; False when ``token`` no longer holds it.

    On PostgreSQL the row stays locked until the transaction ends, so no claimer can take the
    job over while the caller's transaction is open (the fence of ``JobContext.fenced``).
    """
    return await _update_held(
        session, job_id, token, {"lease_expires_at": until, "updated_at": now}
    )


async def finish(
    session: AsyncSession,
    job_id: uuid.UUID,
    token: uuid.UUID,
    *,
    status: JobStatus,
    now: datetime,
    last_error: str | None = None,
) -> bool:
    """Mark the job done or dead; False (and nothing changed) when ``token`` lost the lease."""
    values = {"status": status.value, "finished_at": now, "updated_at": now, **_NO_LEASE}
    if last_error is not None:
        values["last_error"] = last_error
    return await _update_held(session, job_id, token, values)


async def retry_later(
    session: AsyncSession,
    job_id: uuid.UUID,
    token: uuid.UUID,
    *,
    now: datetime,
    run_after: datetime,
    last_error: str,
) -> bool:
    """Queue the job again for ``run_after``; False when ``token`` lost the lease."""
    values = {
        "status": JobStatus.queued.value,
        "run_after": run_after,
        "last_error": last_error,
        "updated_at": now,
        **_NO_LEASE,
    }
    return await _update_held(session, job_id, token, values)


async def release(
    session: AsyncSession, job_id: uuid.UUID, token: uuid.UUID, *, now: datetime
) -> bool:
    """Give an unfinished job back to the queue, ready at once; the attempt does not count."""
    values = {
        "status": JobStatus.queued.value,
        "run_after": now,
        "attempts": Job.attempts - 1,
        "updated_at": now,
        **_NO_LEASE,
    }
    return await _update_held(session, job_id, token, values)
