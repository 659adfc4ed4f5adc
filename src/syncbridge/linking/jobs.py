"""Job handlers of the linking package (entry point ``syncbridge.jobs``: ``linking``)."""

from __future__ import annotations

from syncbridge.jobs import HandlerRegistry, JobContext
from syncbridge.linking.service import RELINK_JOB
from syncbridge.sync.settle import relink_and_reclassify


async def relink_store(ctx: JobContext) -> None:
    """Re-link the whole store with the rules as they are now, and re-classify what the new
    links change (idempotent: a retried or duplicate job changes nothing more)."""
    await relink_and_reclassify(ctx.sessionmaker, job_id=ctx.job_id, between_batches=ctx.check)


def register(registry: HandlerRegistry) -> None:
    """Register the linking job handlers."""
    registry.register(RELINK_JOB, relink_store)
