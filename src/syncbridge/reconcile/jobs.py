"""The reconciliation job handler (entry point ``syncbridge.jobs: reconcile``).

``reconcile.run`` executes a reconciliation run. Its payload names the run
(``{"run_id": ...}``, as ``POST /v1/runs`` and ``syncbridge reconcile`` queue it), or not:
the scheduler's nightly job (``{"job_run_id": ...}``) and a bare job get a run of every
enabled connection, created by their first attempt and written into the job's payload (and
the slot's ``job_runs`` row), so a retry after a crash runs that same run again.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from syncbridge.errors import Conflict
from syncbridge.jobs.context import JobContext, PermanentJobError
from syncbridge.jobs.registry import HandlerRegistry
from syncbridge.logs import get_logger
from syncbridge.models.jobs import Job
from syncbridge.models.schedule import JobRun
from syncbridge.reconcile.execute import execute_reconcile
from syncbridge.reconcile.service import RECONCILE_JOB, plan_reconcile
from syncbridge.runs.repository import end_run_of_dead_job

log = get_logger(__name__)

#: Who runs created by a job without a run are requested by.
SCHEDULE_ACTOR = "schedule"


def _uuid(payload: dict[str, Any], name: str) -> uuid.UUID | None:
    value = payload.get(name)
    if value is None:
        return None
    try:
        return uuid.UUID(str(value))
    except ValueError:
        raise PermanentJobError(f"payload field {name!r} is not a uuid") from None


async def _own_run(ctx: JobContext, job_run_id: uuid.UUID | None) -> uuid.UUID | None:
    """A new run of every enabled connection for this job, noted in its payload (and on its
    scheduler slot) in the same fenced transaction."""
    services = ctx.services

    async def create(session: AsyncSession) -> uuid.UUID:
        run = await plan_reconcile(
            session,
            services.connections,
            services.http,
            connection_id=None,
            requested_by=SCHEDULE_ACTOR,
            queue=False,
        )
        payload = {**ctx.payload, "run_id": str(run.id)}
        await session.execute(
            update(Job)
            .where(Job.id == ctx.job_id)
            .values(payload=payload)
            .execution_options(synchronize_session=False)
        )
        if job_run_id is not None:
            await session.execute(
                update(JobRun)
                .where(JobRun.id == job_run_id, JobRun.run_id.is_(None))
                .values(run_id=run.id)
                .execution_options(synchronize_session=False)
            )
        return run.id

    try:
        return await ctx.fenced(create)
    except Conflict:  # no connection is enabled: nothing to reconcile tonight
        log.info("reconcile.nothing_to_reconcile", job_id=str(ctx.job_id))
        return None


async def reconcile_run(ctx: JobContext) -> None:
    """Execute a reconciliation run (creating it first when the payload names none)."""
    run_id = _uuid(ctx.payload, "run_id")
    job_run_id = _uuid(ctx.payload, "job_run_id")
    if run_id is None:
        run_id = await _own_run(ctx, job_run_id)
        if run_id is None:
            return
    services = ctx.services
    run = await execute_reconcile(ctx.sessionmaker, services.connections, services.http, run_id)
    log.info("reconcile.job_done", run_id=str(run_id), status=run.status)


def register(registry: HandlerRegistry) -> None:
    """Add the reconciliation handler to ``registry``."""
    registry.register(RECONCILE_JOB, reconcile_run, on_dead=end_run_of_dead_job)


__all__ = ["SCHEDULE_ACTOR", "reconcile_run", "register"]
