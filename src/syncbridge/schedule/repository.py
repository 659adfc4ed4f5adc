"""The scheduler's queries: slot claims, run records, the per-job lock and heartbeats."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import delete, exists, func, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from syncbridge.models import JobRun, Run, WorkerHeartbeat


def _insert(session: AsyncSession) -> Any:
    return postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert


async def insert_run(
    session: AsyncSession,
    *,
    name: str,
    slot: datetime,
    status: str,
    owner: str,
    trigger: str,
    now: datetime,
    detail: str | None = None,
) -> uuid.UUID | None:
    """Add the ``job_runs`` row of (``name``, ``slot``) unless the slot has one: its id, or
    None when another run holds the slot. On PostgreSQL a claim racing an uncommitted one
    waits for it, and gets None if it commits."""
    values: dict[str, Any] = {
        "id": uuid.uuid4(),
        "name": name,
        "slot": slot,
        "status": status,
        "owner": owner[:200],
        "trigger": trigger[:200],
        "started_at": now,
        "detail": detail,
    }
    if status != "running":
        values["finished_at"] = now
    statement = (
        _insert(session)(JobRun)
        .values(**values)
        .on_conflict_do_nothing(index_elements=[JobRun.name, JobRun.slot])
        .returning(JobRun.id)
    )
    claimed: uuid.UUID | None = (await session.execute(statement)).scalar_one_or_none()
    return claimed


async def finish_run(
    session: AsyncSession,
    job_run_id: uuid.UUID,
    *,
    status: str,
    now: datetime,
    job_id: uuid.UUID | None,
    run_id: uuid.UUID | None,
    detail: str | None,
) -> JobRun:
    """Record how the run of a claimed slot ended; the row as it is now."""
    statement = (
        update(JobRun)
        .where(JobRun.id == job_run_id)
        .values(status=status, finished_at=now, job_id=job_id, run_id=run_id, detail=detail)
        .returning(JobRun)
        .execution_options(populate_existing=True)
    )
    return (await session.scalars(statement)).one()


def job_lock_key(name: str) -> int:
    """The PostgreSQL advisory lock key of scheduled job ``name`` (a signed 64-bit int)."""
    digest = hashlib.sha256(f"syncbridge.schedule:{name}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


async def hold_job_lock(session: AsyncSession, name: str) -> None:
    """On PostgreSQL, wait for and hold job ``name``'s advisory lock until the transaction
    ends, so two runs of one job never overlap. SQLite serialises write transactions."""
    if session.get_bind().dialect.name == "postgresql":
        await session.execute(
            text("SELECT pg_advisory_xact_lock(:key)"), {"key": job_lock_key(name)}
        )


async def slot_is_taken(session: AsyncSession, name: str, slot: datetime) -> bool:
    """Whether (``name``, ``slot``) has a row."""
    statement = select(exists().where(JobRun.name == name, JobRun.slot == slot))
    return bool(await session.scalar(statement))


async def ran_before(session: AsyncSession, name: str, slot: datetime) -> bool:
    """Whether job ``name`` has a row for any slot before ``slot`` (it was scheduled then)."""
    statement = select(exists().where(JobRun.name == name, JobRun.slot < slot))
    return bool(await session.scalar(statement))


async def last_runs(
    session: AsyncSession, names: Iterable[str], limit: int
) -> dict[str, list[JobRun]]:
    """Each job's ``limit`` latest runs, latest slot first."""
    runs: dict[str, list[JobRun]] = {}
    for name in names:
        statement = (
            select(JobRun).where(JobRun.name == name).order_by(JobRun.slot.desc()).limit(limit)
        )
        runs[name] = list(await session.scalars(statement))
    return runs


async def previous_run(
    session: AsyncSession, name: str, before: uuid.UUID
) -> tuple[uuid.UUID, str] | None:
    """The run (id, status) that job ``name``'s latest slot other than ``before`` queued."""
    statement = (
        select(Run.id, Run.status)
        .join(JobRun, JobRun.run_id == Run.id)
        .where(JobRun.name == name, JobRun.id != before)
        .order_by(JobRun.slot.desc())
        .limit(1)
    )
    row = (await session.execute(statement)).one_or_none()
    return None if row is None else (row[0], row[1])


async def beat(session: AsyncSession, owner: str, now: datetime) -> None:
    """Record that worker ``owner`` is alive at ``now`` (its row is added the first time)."""
    statement = (
        _insert(session)(WorkerHeartbeat)
        .values(owner=owner[:200], started_at=now, seen_at=now)
        .on_conflict_do_update(index_elements=[WorkerHeartbeat.owner], set_={"seen_at": now})
    )
    await session.execute(statement)


async def forget_worker(session: AsyncSession, owner: str) -> None:
    """Remove worker ``owner``'s heartbeat (it stopped cleanly)."""
    await session.execute(delete(WorkerHeartbeat).where(WorkerHeartbeat.owner == owner[:200]))


async def forget_workers_silent_since(session: AsyncSession, before: datetime) -> None:
    """Remove the heartbeats of workers not seen since ``before`` (long gone)."""
    await session.execute(delete(WorkerHeartbeat).where(WorkerHeartbeat.seen_at < before))


async def latest_beat(session: AsyncSession) -> datetime | None:
    """When any worker last said it was alive."""
    seen: datetime | None = await session.scalar(select(func.max(WorkerHeartbeat.seen_at)))
    return seen
