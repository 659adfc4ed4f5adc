"""The inbox's job handlers (entry point ``syncbridge.jobs: inbox``).

``inbox.process`` ``{"connection_id": ...}`` applies a connection's pending events (see
:mod:`syncbridge.inbox.processing`); ``inbox.prune`` deletes handled events older than the
retention period (``SYNCBRIDGE_INBOX_RETENTION_HOURS``).
"""

from __future__ import annotations

import uuid
from datetime import timedelta

from syncbridge.inbox import repository
from syncbridge.inbox.processing import ProcessPolicy, process_connection
from syncbridge.inbox.service import PROCESS_JOB, PRUNE_JOB
from syncbridge.jobs.context import JobContext, PermanentJobError
from syncbridge.jobs.registry import HandlerRegistry
from syncbridge.logs import get_logger
from syncbridge.models.base import utcnow
from syncbridge.settings import get_settings
from syncbridge.store.unit_of_work import in_unit_of_work

log = get_logger(__name__)

#: Handled events deleted per transaction while pruning.
PRUNE_BATCH = 5000


async def process(ctx: JobContext) -> None:
    """Apply one connection's pending events."""
    try:
        connection_id = uuid.UUID(str(ctx.payload.get("connection_id")))
    except ValueError:
        raise PermanentJobError("payload field 'connection_id' is not a uuid") from None
    settings = get_settings()
    policy = ProcessPolicy(batch=settings.inbox_batch, max_attempts=settings.inbox_max_attempts)
    report = await process_connection(ctx, connection_id, policy)
    log.info(
        "inbox.processed",
        connection_id=str(connection_id),
        events=report.events,
        handled=report.handled,
        dead=report.dead,
        fetched=report.fetched,
        runs=len(report.runs),
    )


async def prune(ctx: JobContext) -> None:
    """Delete handled events past the retention period, in batches."""
    before = utcnow() - timedelta(hours=get_settings().inbox_retention_hours)
    total = 0
    while not ctx.stopping:
        deleted = await in_unit_of_work(
            ctx.sessionmaker, lambda s: repository.prune(s, before, PRUNE_BATCH)
        )
        total += deleted
        if deleted < PRUNE_BATCH:
            break
    log.info("inbox.pruned", deleted=total, before=before.isoformat())


def register(registry: HandlerRegistry) -> None:
    """Add the inbox's handlers to ``registry``."""
    registry.register(PROCESS_JOB, process)
    registry.register(PRUNE_JOB, prune)


__all__ = ["process", "prune", "register"]
