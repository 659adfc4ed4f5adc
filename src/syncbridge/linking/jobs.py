"""Job handlers of the linking package (entry point ``syncbridge.jobs``: ``linking``)."""

from __future__ import annotations

from syncbridge.jobs import HandlerRegistry, JobContext
from syncbridge.linking.run import relink
from syncbridge.linking.service import RELINK_JOB


async def relink_store(ctx: JobContext) -> None:
    """Re-link the whole store with the rules as they are now (idempotent: a retried or
    duplicate job changes nothing more)."""
    await relink(ctx.sessionmaker)


def register(registry: HandlerRegistry) -> None:
    """Register the linking job handlers."""
    registry.register(RELINK_JOB, relink_store)
