"""The built-in job handlers of runs (entry point ``syncbridge.jobs: runs``).

``sync.run`` with payload ``{"run_id": ..., "connection_id": ...}`` executes, or after a crash
resumes, that connection's streams of the run (every stream of the run without a connection
id); the job that finishes the run's last stream settles the run (linking, then
classification) before the run is marked finished (see ``execute_run``). Both steps are
idempotent, so a retried job changes nothing more than a single attempt.
"""

from __future__ import annotations

import uuid

from syncbridge.jobs.context import JobContext, PermanentJobError
from syncbridge.jobs.registry import HandlerRegistry
from syncbridge.logs import get_logger
from syncbridge.runs.repository import SYNC_JOB, end_run_of_dead_job
from syncbridge.sync.runs import execute_run

log = get_logger(__name__)


def _uuid(ctx: JobContext, name: str, *, required: bool) -> uuid.UUID | None:
    value = ctx.payload.get(name)
    if value is None and not required:
        return None
    try:
        return uuid.UUID(str(value))
    except ValueError:
        raise PermanentJobError(f"payload field {name!r} is not a uuid") from None


async def sync_run(ctx: JobContext) -> None:
    """Execute (or resume) a sync run's streams, then settle the run once it has finished."""
    run_id = _uuid(ctx, "run_id", required=True)
    assert run_id is not None
    connection_id = _uuid(ctx, "connection_id", required=False)
    services = ctx.services
    run = await execute_run(
        ctx.sessionmaker,
        services.connections,
        services.http,
        run_id,
        connection_id=connection_id,
    )
    log.info("run.job_done", run_id=str(run_id), status=run.status)


def register(registry: HandlerRegistry) -> None:
    """Add the runs' handlers to ``registry``."""
    registry.register(SYNC_JOB, sync_run, on_dead=end_run_of_dead_job)


__all__ = ["register", "sync_run"]
