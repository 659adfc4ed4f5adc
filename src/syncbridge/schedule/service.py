"""Running one slot of a scheduled job: claim it, queue its work, record how it went.

:func:`run_slot` does all three in the caller's transaction (services flush, the owner
commits): the ``job_runs`` row says ``succeeded`` exactly when the queued work committed
with it. A slot another run claimed first changes nothing. The work itself always runs on
the job queue, never here.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from syncbridge.errors import Conflict, NotFound
from syncbridge.inbox.service import PRUNE_JOB, queue_pruning
from syncbridge.jobs.clock import Clock
from syncbridge.jobs.repository import live_job_with_key
from syncbridge.jobs.service import enqueue
from syncbridge.jobs.services import JobServices
from syncbridge.logs import get_logger
from syncbridge.models import JobRun
from syncbridge.runs.schemas import RunCreate
from syncbridge.runs.service import start_run
from syncbridge.schedule import repository
from syncbridge.schedule.catalog import (
    INBOX_RETENTION,
    RECONCILE,
    RECONCILE_JOB,
    SYNC_INCREMENTAL,
    ScheduledJob,
)
from syncbridge.schedule.schemas import JobRunOut, ScheduleOut
from syncbridge.schedule.slots import next_slot
from syncbridge.sync.repository import FINISHED

log = get_logger(__name__)

#: Runs shown per job by ``GET /v1/schedules``.
LAST_RUNS = 5


@dataclass(frozen=True)
class Work:
    """What a slot queued: the job or run carrying the work, or why nothing was."""

    status: str = "succeeded"
    job_id: uuid.UUID | None = None
    run_id: uuid.UUID | None = None
    detail: str | None = None


QueueWork = Callable[[AsyncSession, JobServices, uuid.UUID, str], Awaitable[Work]]


async def _reconcile(
    session: AsyncSession, _services: JobServices, job_run_id: uuid.UUID, _actor: str
) -> Work:
    # One reconciliation at a time, however the slots and admin runs pile up.
    job = await enqueue(
        session, RECONCILE_JOB, {"job_run_id": str(job_run_id)}, concurrency_key=RECONCILE_JOB
    )
    return Work(job_id=job.id)


async def _sync_incremental(
    session: AsyncSession, services: JobServices, job_run_id: uuid.UUID, actor: str
) -> Work:
    # Runs of one connection queue behind each other: while the last one has not finished,
    # another adds nothing but a wait (a slow vendor would otherwise pile them up).
    previous = await repository.previous_run(session, SYNC_INCREMENTAL, job_run_id)
    if previous is not None and previous[1] not in FINISHED:
        run_id, status = previous
        return Work(
            status="skipped", detail=f"The previous incremental sync run {run_id} is {status}."
        )
    # The path of POST /v1/runs: the run, its streams and one job per connection.
    try:
        run = await start_run(
            session, services.connections, services.http, RunCreate(kind="sync"), actor=actor
        )
    except Conflict as exc:  # no connection is enabled: nothing to sync (nothing written)
        return Work(status="skipped", detail=exc.detail)
    return Work(run_id=run.id)


async def _inbox_retention(
    session: AsyncSession, _services: JobServices, _job_run_id: uuid.UUID, _actor: str
) -> Work:
    await queue_pruning(session)
    job = await live_job_with_key(session, PRUNE_JOB)
    return Work(job_id=None if job is None else job.id)


#: What each scheduled job queues, by its fixed name.
WORK: Mapping[str, QueueWork] = {
    RECONCILE: _reconcile,
    SYNC_INCREMENTAL: _sync_incremental,
    INBOX_RETENTION: _inbox_retention,
}


async def run_slot(
    session: AsyncSession,
    job: ScheduledJob,
    slot: datetime,
    *,
    trigger: str,
    owner: str,
    actor: str,
    services: JobServices,
    clock: Clock,
) -> JobRun | None:
    """Claim ``slot`` of ``job`` and queue its work, in ``session`` (flushed, not committed).

    Returns the run, or None when the slot was already claimed (nothing is written). On
    PostgreSQL it holds the job's advisory lock until the transaction ends, so two runs of
    one job never overlap. Errors of the work propagate: the caller rolls back (the claim
    with it) and records the failure.
    """
    job_run_id = await repository.insert_run(
        session,
        name=job.name,
        slot=slot,
        status="running",
        owner=owner,
        trigger=trigger,
        now=clock.now(),
    )
    if job_run_id is None:
        return None
    await repository.hold_job_lock(session, job.name)
    work = await WORK[job.name](session, services, job_run_id, actor)
    run = await repository.finish_run(
        session,
        job_run_id,
        status=work.status,
        now=clock.now(),
        job_id=work.job_id,
        run_id=work.run_id,
        detail=work.detail,
    )
    log.info(
        "schedule.slot_run",
        job=job.name,
        slot=slot.isoformat(),
        trigger=trigger,
        status=run.status,
        job_run_id=str(run.id),
    )
    return run


async def run_now(
    session: AsyncSession,
    jobs: Mapping[str, ScheduledJob],
    name: str,
    *,
    trigger: str,
    owner: str,
    actor: str,
    services: JobServices,
    clock: Clock,
) -> JobRunOut:
    """Run job ``name`` now, out of its schedule (its slot is the time now); raises
    ``NotFound`` for an unknown job."""
    job = jobs.get(name)
    if job is None:
        raise NotFound(f"No scheduled job '{name}'.", extra={"reason": "no_scheduled_job"})
    run = await run_slot(
        session,
        job,
        clock.now(),
        trigger=trigger,
        owner=owner,
        actor=actor,
        services=services,
        clock=clock,
    )
    if run is None:  # pragma: no cover - a slot is a microsecond: two requests never share one
        raise Conflict(f"'{name}' was just run; try again.", extra={"reason": "slot_taken"})
    return JobRunOut.model_validate(run)


async def list_schedules(
    session: AsyncSession, jobs: Mapping[str, ScheduledJob], now: datetime
) -> list[ScheduleOut]:
    """Each job with its schedule, its next slot after ``now`` and its latest runs."""
    runs = await repository.last_runs(session, jobs, LAST_RUNS)
    out = []
    for job in jobs.values():
        upcoming = next_slot(job.trigger, now)
        local = None if upcoming is None else upcoming.astimezone(ZoneInfo(job.timezone))
        out.append(
            ScheduleOut(
                name=job.name,
                description=job.description,
                schedule=job.schedule,
                timezone=job.timezone,
                next_run_at=local,
                last_runs=[JobRunOut.model_validate(r) for r in runs[job.name]],
            )
        )
    return out
