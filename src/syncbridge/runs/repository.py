"""The queries of ``/v1/runs``: runs, their streams and rejections, and their queued jobs."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Select, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from syncbridge.errors import ERROR_MAX_CHARS
from syncbridge.models import Run, RunRejection, RunStream
from syncbridge.models.jobs import Job, JobStatus
from syncbridge.sync.repository import FINISHED

#: The job kind of a sync run (one job per connection of the run).
SYNC_JOB = "sync.run"
#: The most rejections one run's report shows.
REJECTIONS_SHOWN = 1000


def job_dedupe_key(run_id: uuid.UUID, connection_id: uuid.UUID) -> str:
    """The dedupe key of the job that syncs ``connection_id``'s streams of run ``run_id``."""
    return f"{SYNC_JOB}:{run_id}:{connection_id}"


def connection_key(connection_id: uuid.UUID) -> str:
    """The concurrency key of every job that reads ``connection_id``'s vendor."""
    return f"connection:{connection_id}"


def runs_query(
    *,
    connection_id: uuid.UUID | None = None,
    status: str | None = None,
    kind: str | None = None,
) -> Select[Run]:
    """Runs matching every filter given, newest first."""
    statement = select(Run)
    if connection_id is not None:
        touched = select(RunStream.run_id).where(RunStream.connection_id == connection_id)
        statement = statement.where(Run.id.in_(touched))
    if status is not None:
        statement = statement.where(Run.status == status)
    if kind is not None:
        statement = statement.where(Run.kind == kind)
    return statement.order_by(Run.created_at.desc(), Run.id.desc())


async def streams_of(
    session: AsyncSession, run_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, list[RunStream]]:
    """The streams of each run, by connection then name."""
    found: dict[uuid.UUID, list[RunStream]] = {run_id: [] for run_id in run_ids}
    if not run_ids:
        return found
    rows = await session.scalars(
        select(RunStream)
        .where(RunStream.run_id.in_(run_ids))
        .order_by(RunStream.connection_id, RunStream.stream)
        .execution_options(populate_existing=True)
    )
    for row in rows:
        found[row.run_id].append(row)
    return found


async def rejections_of(session: AsyncSession, run_id: uuid.UUID) -> list[RunRejection]:
    """The run's kept rejections, oldest first, at most :data:`REJECTIONS_SHOWN`."""
    rows = await session.scalars(
        select(RunRejection)
        .where(RunRejection.run_id == run_id)
        .order_by(RunRejection.id)
        .limit(REJECTIONS_SHOWN)
    )
    return list(rows)


async def locked_run(session: AsyncSession, run_id: uuid.UUID) -> Run | None:
    """The run, locked for update (PostgreSQL) until the transaction ends."""
    return await session.get(Run, run_id, with_for_update=True, populate_existing=True)


async def cancel_queued_streams(session: AsyncSession, run_id: uuid.UUID, now: datetime) -> None:
    """End the run's streams that have not started as ``cancelled``."""
    await session.execute(
        update(RunStream)
        .where(RunStream.run_id == run_id, RunStream.status == "queued")
        .values(status="cancelled", finished_at=now)
        .execution_options(synchronize_session=False)
    )


async def cancel_queued_jobs(
    session: AsyncSession, run_id: uuid.UUID, now: datetime
) -> list[uuid.UUID]:
    """Cancel the run's jobs that no worker has claimed yet, for the connections whose
    streams have all finished (a claimed job ends on its own); their ids."""
    open_streams = await session.scalars(
        select(RunStream.connection_id)
        .where(RunStream.run_id == run_id, RunStream.status.in_(("queued", "running")))
        .distinct()
    )
    busy = set(open_streams)
    every = await session.scalars(
        select(RunStream.connection_id).where(RunStream.run_id == run_id).distinct()
    )
    keys = [job_dedupe_key(run_id, c) for c in set(every) - busy]
    if not keys:
        return []
    rows = await session.execute(
        update(Job)
        .where(Job.dedupe_key.in_(keys), Job.status == JobStatus.queued.value)
        .values(status=JobStatus.cancelled.value, finished_at=now, updated_at=now)
        .returning(Job.id)
        .execution_options(synchronize_session=False)
    )
    return [row.id for row in rows]


async def end_run_of_dead_job(
    session: AsyncSession, job_id: uuid.UUID, error: str, now: datetime
) -> None:
    """A run's job died (its last attempt failed, or the worker holding it stopped): what it
    left unfinished of its run fails with the job's last error. Its streams (the
    connection's, for a job of one connection) end ``failed``, and the run too once none of
    its streams is left to finish, as no other job will conclude it. Without this the run
    stayed ``running`` for ever, and the scheduler, which waits for the previous incremental
    sync to finish, queued no sync again. Pages the job committed stay."""
    job = await session.get(Job, job_id)
    payload = job.payload if job is not None else {}
    run_id, connection_id = _uuid_of(payload, "run_id"), _uuid_of(payload, "connection_id")
    run = None if run_id is None else await locked_run(session, run_id)
    if run is None or run.status in FINISHED:
        return
    detail = f"its job {job_id} died: {error}"[:ERROR_MAX_CHARS]
    unfinished = (RunStream.run_id == run.id, RunStream.status.in_(("queued", "running")))
    mine = (
        unfinished
        if connection_id is None
        else (*unfinished, RunStream.connection_id == connection_id)
    )
    await session.execute(
        update(RunStream)
        .where(*mine)
        .values(status="failed", error=detail, finished_at=now)
        .execution_options(synchronize_session=False)
    )
    left = await session.scalar(select(RunStream.id).where(*unfinished).limit(1))
    if left is None:
        run.status, run.error, run.finished_at = "failed", detail, now
        run.started_at = run.started_at or now


def _uuid_of(payload: dict[str, Any] | None, name: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(str((payload or {})[name]))
    except (KeyError, ValueError):
        return None


async def jobs_of(session: AsyncSession, run_id: uuid.UUID) -> list[Job]:
    """The jobs of a run (found by their dedupe keys)."""
    connections = await session.scalars(
        select(RunStream.connection_id).where(RunStream.run_id == run_id).distinct()
    )
    keys = [job_dedupe_key(run_id, c) for c in connections]
    if not keys:
        return []
    return list(await session.scalars(select(Job).where(Job.dedupe_key.in_(keys))))
