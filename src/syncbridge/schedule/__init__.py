"""The scheduler: jobs declared in code, ticked in every worker process, one run per slot.

Each worker runs an APScheduler 3 ticker (:mod:`~syncbridge.schedule.ticker`) over the jobs
of :mod:`~syncbridge.schedule.catalog`. A tick claims its slot with a ``job_runs`` row
(unique per job and slot, ``ON CONFLICT DO NOTHING``) and queues the real work on the job
queue in the same transaction, so N workers give exactly one run per slot and the work
exists exactly when its slot is claimed. ``GET /v1/schedules`` shows each job's next and
last runs; an admin can run one now.
"""

from syncbridge.schedule.catalog import (
    INBOX_RETENTION,
    RECONCILE,
    RECONCILE_JOB,
    SYNC_INCREMENTAL,
    ScheduledJob,
    scheduled_jobs,
)
from syncbridge.schedule.slots import latest_slot, next_slot

__all__ = [
    "INBOX_RETENTION",
    "RECONCILE",
    "RECONCILE_JOB",
    "SYNC_INCREMENTAL",
    "ScheduledJob",
    "latest_slot",
    "next_slot",
    "scheduled_jobs",
]
