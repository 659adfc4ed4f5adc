"""Scoring runs: a :class:`~syncbridge.models.Run` of kind ``score`` and its ``score.run``
job. Queued by ``POST /v1/runs {"kind": "score"}``; the job scores every enabled tag rule
(:func:`syncbridge.scoring.service.score_all`) and finishes the run. One scoring job runs at
a time (the concurrency key ``scoring``), since each rewrites the desired tags."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from syncbridge.errors import NotFound
from syncbridge.jobs.service import enqueue
from syncbridge.models import Run
from syncbridge.models.base import utcnow
from syncbridge.models.jobs import Job, JobStatus
from syncbridge.scoring.service import RuleResult, score_all
from syncbridge.store.unit_of_work import in_unit_of_work
from syncbridge.writeback.service import plan_writebacks

SCORE_JOB = "score.run"
SCORE_KIND = "score"
CONCURRENCY_KEY = "scoring"


def job_dedupe_key(run_id: uuid.UUID) -> str:
    """The dedupe key of a scoring run's job."""
    return f"{SCORE_JOB}:{run_id}"


async def queue_score_run(
    session: AsyncSession, *, requested_by: str, run_after: datetime | None = None
) -> Run:
    """Add a queued scoring run and its job in the caller's transaction (flushes); the job
    may run from ``run_after`` (default: now)."""
    run = Run(kind=SCORE_KIND, status="queued", requested_by=requested_by, full=False)
    session.add(run)
    await session.flush()
    await enqueue(
        session,
        SCORE_JOB,
        {"run_id": str(run.id)},
        dedupe_key=job_dedupe_key(run.id),
        run_after=run_after,
        concurrency_key=CONCURRENCY_KEY,
    )
    return run


async def queue_score_run_once(
    session: AsyncSession, *, requested_by: str, run_after: datetime
) -> tuple[Run, bool]:
    """A queued scoring run: one already queued (it has read nothing yet, so it scores what
    the caller's transaction commits), else a new one whose job may run from ``run_after``.
    Returns the run and whether it is new. Flushes. Two callers at once may each add one:
    callers that must not (the metrics jobs) never run at once."""
    queued = await session.scalar(
        select(Run)
        .where(Run.kind == SCORE_KIND, Run.status == "queued")
        .order_by(Run.created_at)
        .limit(1)
    )
    if queued is not None:
        return queued, False
    return await queue_score_run(session, requested_by=requested_by, run_after=run_after), True


async def cancel_queued_score_job(session: AsyncSession, run_id: uuid.UUID, now: datetime) -> None:
    """Cancel the scoring run's job if no worker has claimed it yet (flushes)."""
    await session.execute(
        update(Job)
        .where(Job.dedupe_key == job_dedupe_key(run_id), Job.status == JobStatus.queued.value)
        .values(status=JobStatus.cancelled.value, finished_at=now, updated_at=now)
        .execution_options(synchronize_session=False)
    )


async def _set_status(
    sessionmaker: async_sessionmaker[AsyncSession],
    run_id: uuid.UUID,
    status: str,
    *,
    error: str | None = None,
) -> Run:
    async def work(session: AsyncSession) -> Run:
        run = await session.get(Run, run_id, with_for_update=True, populate_existing=True)
        if run is None or run.kind != SCORE_KIND:
            raise NotFound(f"No scoring run {run_id}.")
        now = utcnow()
        if status == "running":
            run.started_at = run.started_at or now
        else:
            run.finished_at = now
        run.status, run.error = status, error
        if status == "succeeded":
            # The outbox rows for the DAMs commit with the run's result.
            await plan_writebacks(session, run_id=run_id)
        await session.flush()
        return run

    return await in_unit_of_work(sessionmaker, work)


async def execute_score_run(
    sessionmaker: async_sessionmaker[AsyncSession],
    run_id: uuid.UUID,
    *,
    between_batches: Callable[[], None] | None = None,
    progress: Callable[[uuid.UUID, int], None] | None = None,
) -> list[RuleResult]:
    """Run a queued (or resumed) scoring run to ``succeeded``; a finished run is left as it
    is (``progress``: see :func:`score_all`). Raises ``NotFound`` for an unknown run; an
    error leaves the run ``running`` for the caller to retry or fail (:func:`fail_score_run`)."""

    async def status(session: AsyncSession) -> str | None:
        run = await session.get(Run, run_id)
        return None if run is None else run.status

    current = await in_unit_of_work(sessionmaker, status, write=False)
    if current is None:
        raise NotFound(f"No scoring run {run_id}.")
    if current in ("succeeded", "failed", "cancelled"):
        return []
    await _set_status(sessionmaker, run_id, "running")
    results = await score_all(
        sessionmaker, run_id=run_id, between_batches=between_batches, progress=progress
    )
    await _set_status(sessionmaker, run_id, "succeeded")
    return results


async def fail_score_run(
    sessionmaker: async_sessionmaker[AsyncSession], run_id: uuid.UUID, error: str
) -> None:
    """End a scoring run ``failed`` with ``error``."""
    await _set_status(sessionmaker, run_id, "failed", error=error)
