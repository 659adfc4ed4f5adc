"""What ``/v1/schedules`` answers: each scheduled job and its runs."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

JobRunStatus = Literal["running", "succeeded", "failed", "skipped"]


class JobRunOut(BaseModel):
    """One slot of a scheduled job: who ran it, when, and what it queued."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    name: str
    slot: datetime = Field(description="The time the slot was scheduled for (UTC).")
    status: JobRunStatus = Field(
        description="`succeeded`: its work is queued; `skipped`: nothing to do, or missed "
        "beyond the catch-up window (`detail` says which); `failed`: see `detail`."
    )
    owner: str = Field(description="The worker process (or API key) that ran the slot.")
    trigger: str = Field(description="`schedule`, `catch-up` or `admin:<key name>`.")
    started_at: datetime
    finished_at: datetime | None
    job_id: uuid.UUID | None = Field(description="The queued job carrying the work.")
    run_id: uuid.UUID | None = Field(description="The run carrying the work (`/v1/runs/{id}`).")
    detail: str | None


class ScheduleOut(BaseModel):
    """A scheduled job: when it runs, when it runs next, and its latest runs."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "name": "reconcile",
                    "description": "Queues a reconciliation.",
                    "schedule": "0 2 * * *",
                    "timezone": "Europe/Paris",
                    "next_run_at": "2026-12-02T02:00:00+01:00",
                    "last_runs": [],
                }
            ]
        }
    )

    name: str = Field(description="The job's fixed name.")
    description: str
    schedule: str = Field(description="Crontab: minute hour day-of-month month day-of-week.")
    timezone: str = Field(description="The IANA time zone the schedule is read in.")
    next_run_at: datetime | None = Field(description="The next slot, in the schedule's time zone.")
    last_runs: list[JobRunOut] = Field(description="The latest runs, latest slot first.")
