"""Job handlers of the write-back package (entry point ``syncbridge.jobs``: ``writeback``)."""

from __future__ import annotations

import uuid

from syncbridge.jobs import HandlerRegistry, JobContext, PermanentJobError
from syncbridge.logs import get_logger
from syncbridge.settings import get_settings
from syncbridge.writeback.sending import SendPolicy, send_writebacks
from syncbridge.writeback.service import SEND_JOB

__all__ = ["register", "send_job"]

log = get_logger(__name__)


def policy_from_settings() -> SendPolicy:
    """The send policy of the worker's settings (``SYNCBRIDGE_WRITEBACK_*``)."""
    settings = get_settings()
    return SendPolicy(
        max_attempts=settings.writeback_max_attempts,
        retry_base_s=settings.writeback_retry_base_s,
        retry_max_s=settings.writeback_retry_max_s,
        batch=settings.writeback_batch,
        lease_s=settings.worker_lease_s,
        reread_after_s=settings.writeback_reread_after_s,
    )


async def send_job(ctx: JobContext) -> None:
    """Send the payload connection's ready write-backs; idempotent (a row is claimed under a
    lease token, and a retried attempt re-reads the DAM before writing)."""
    try:
        connection_id = uuid.UUID(str(ctx.payload.get("connection_id")))
    except ValueError:
        raise PermanentJobError("payload field 'connection_id' is not a uuid") from None
    services = ctx.services
    report = await send_writebacks(
        ctx.sessionmaker,
        services.connections,
        services.http,
        connection_id,
        fenced=ctx.fenced,
        check=ctx.check,
        owner=str(ctx.job_id),
        policy=policy_from_settings(),
    )
    log.info(
        "writeback.sender_done",
        connection_id=str(connection_id),
        writes=report.writes,
        attempts=report.attempts,
    )


def register(registry: HandlerRegistry) -> None:
    """Register the write-back job handlers."""
    registry.register(SEND_JOB, send_job)
