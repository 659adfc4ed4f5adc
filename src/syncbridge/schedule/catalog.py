"""The scheduled jobs, declared in code with fixed names; their timing comes from settings.

* ``reconcile`` queues a ``reconcile.run`` job (the nightly correctness backstop);
* ``sync.incremental`` queues an incremental sync run of every enabled connection, as
  ``POST /v1/runs`` does;
* ``inbox.retention`` queues ``inbox.prune`` (handled webhook events past their retention).

Scoring is not scheduled: every finished sync queues its metrics, which queue scoring.
"""

from __future__ import annotations

from dataclasses import dataclass

from apscheduler.triggers.base import BaseTrigger

from syncbridge.schedule.slots import cron_trigger
from syncbridge.settings import Settings

RECONCILE = "reconcile"
SYNC_INCREMENTAL = "sync.incremental"
INBOX_RETENTION = "inbox.retention"

#: The queue job a reconcile slot adds (its handler lives with the reconciliation).
RECONCILE_JOB = "reconcile.run"


@dataclass(frozen=True)
class ScheduledJob:
    """One job of the schedule: its fixed name, when it runs, and what it is for."""

    name: str
    #: The crontab it was built from (shown by ``GET /v1/schedules``).
    schedule: str
    timezone: str
    trigger: BaseTrigger
    description: str

    @classmethod
    def from_crontab(cls, name: str, crontab: str, timezone: str, description: str) -> ScheduledJob:
        return cls(name, crontab, timezone, cron_trigger(crontab, timezone), description)


_DESCRIPTIONS = {
    RECONCILE: "Queues a reconciliation: every DAM re-read and compared with the store, drift "
    "repaired.",
    SYNC_INCREMENTAL: "Queues an incremental sync run of every enabled connection.",
    INBOX_RETENTION: "Queues the pruning of handled webhook events past their retention.",
}


def scheduled_jobs(settings: Settings) -> dict[str, ScheduledJob]:
    """Every scheduled job by name, timed as ``settings`` say."""
    crontabs = {
        RECONCILE: settings.schedule_reconcile,
        SYNC_INCREMENTAL: settings.schedule_sync_incremental,
        INBOX_RETENTION: settings.schedule_inbox_retention,
    }
    return {
        name: ScheduledJob.from_crontab(
            name, crontab, settings.schedule_timezone, _DESCRIPTIONS[name]
        )
        for name, crontab in crontabs.items()
    }
