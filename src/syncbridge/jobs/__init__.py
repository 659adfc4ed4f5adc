"""The durable job queue: a table written in the same transaction as the state that caused
the work, and workers that claim jobs under leases with fencing tokens.

* :func:`enqueue` adds a job in the caller's transaction (deduplicated by key);
* a :class:`HandlerRegistry` maps each job kind to ``async def handler(ctx: JobContext)``;
* a :class:`Worker` claims, runs and records jobs (``syncbridge worker``, or in the API
  process on SQLite); see :mod:`syncbridge.jobs.worker` for the life of one attempt and
  :mod:`syncbridge.jobs.retry` for what each error leads to.
"""

from syncbridge.jobs.clock import SYSTEM_CLOCK, Clock, SystemClock
from syncbridge.jobs.context import Handler, JobContext, LeaseLost, PermanentJobError
from syncbridge.jobs.registry import HandlerLoadError, HandlerRegistry
from syncbridge.jobs.repository import ClaimedJob
from syncbridge.jobs.retry import RetryPolicy
from syncbridge.jobs.service import DEFAULT_MAX_ATTEMPTS, enqueue
from syncbridge.jobs.worker import Outcome, Worker, WorkerConfig
from syncbridge.models.jobs import Job, JobStatus

__all__ = [
    "DEFAULT_MAX_ATTEMPTS",
    "SYSTEM_CLOCK",
    "ClaimedJob",
    "Clock",
    "Handler",
    "HandlerLoadError",
    "HandlerRegistry",
    "Job",
    "JobContext",
    "JobStatus",
    "LeaseLost",
    "Outcome",
    "PermanentJobError",
    "RetryPolicy",
    "SystemClock",
    "Worker",
    "WorkerConfig",
    "enqueue",
]
