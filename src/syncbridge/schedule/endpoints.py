"""``/v1/schedules``: the scheduled jobs with their next and last runs; an admin runs one now.

Next runs are computed from each job's schedule, not asked of a live scheduler: the API
process ticks nothing on PostgreSQL (the workers do).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, status

from syncbridge.api.deps import Admin, SessionDep, SettingsDep, UnitOfWorkRoute, Viewer
from syncbridge.api.problems import problem_responses
from syncbridge.connections.endpoints import ContextDep, HttpDep
from syncbridge.jobs.clock import SYSTEM_CLOCK
from syncbridge.jobs.services import JobServices
from syncbridge.schedule import service
from syncbridge.schedule.catalog import scheduled_jobs
from syncbridge.schedule.schemas import JobRunOut, ScheduleOut

router = APIRouter(prefix="/v1/schedules", tags=["schedules"], route_class=UnitOfWorkRoute)


@router.get("", operation_id="list_schedules")
async def list_schedules(
    session: SessionDep, settings: SettingsDep, _principal: Viewer
) -> list[ScheduleOut]:
    """Each scheduled job: its schedule and time zone, its next run, and its latest runs
    (who ran each slot, how it went, and the job or run that carries its work)."""
    return await service.list_schedules(session, scheduled_jobs(settings), SYSTEM_CLOCK.now())


@router.post(
    "/{name}/run",
    status_code=status.HTTP_202_ACCEPTED,
    operation_id="run_schedule_now",
    responses=problem_responses(404),
)
async def run_schedule_now(
    name: Annotated[str, Path(max_length=100, description="The job's name (`reconcile`).")],
    session: SessionDep,
    settings: SettingsDep,
    ctx: ContextDep,
    client: HttpDep,
    principal: Admin,
) -> JobRunOut:
    """Run a scheduled job now, besides its schedule: its work is queued as a scheduled
    slot's is (`job_id` or `run_id` names it) and the run is listed with trigger
    `admin:<key name>`. `skipped` when there is nothing to do (no connection enabled)."""
    return await service.run_now(
        session,
        scheduled_jobs(settings),
        name,
        trigger=f"admin:{principal.name}",
        owner=principal.actor,
        actor=principal.actor,
        services=JobServices(connections=ctx, http=client),
        clock=SYSTEM_CLOCK,
    )
