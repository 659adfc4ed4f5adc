"""Job handlers for tests that run a real worker: name this module in
``SYNCBRIDGE_JOB_MODULES='["tests.jobs_handlers"]'``."""

from __future__ import annotations

import asyncio

from sqlalchemy.ext.asyncio import AsyncSession

from syncbridge.jobs import HandlerRegistry, JobContext
from syncbridge.models import AuditEntry


async def echo(ctx: JobContext) -> None:
    """Leave one audit row naming the job (written only while the lease holds)."""

    async def write(session: AsyncSession) -> None:
        session.add(
            AuditEntry(
                actor="job", action="test.echo", entity_type="job", entity_id=str(ctx.job_id)
            )
        )
        await session.flush()

    await ctx.fenced(write)


async def slow(_ctx: JobContext) -> None:
    """Never finishes on its own: a shutdown has to release it."""
    await asyncio.Event().wait()


async def drain(ctx: JobContext) -> None:
    """Finishes as soon as the worker starts shutting down (inside the grace period)."""
    await ctx.wait_stopping()


def register(registry: HandlerRegistry) -> None:
    registry.register("test.echo", echo)
    registry.register("test.slow", slow)
    registry.register("test.drain", drain)
