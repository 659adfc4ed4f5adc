"""Queueing the processing of a connection's events, and the inbox's admin operations."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from syncbridge.jobs import repository as jobs_repository
from syncbridge.jobs.service import enqueue
from syncbridge.models.base import utcnow

#: The job kind that applies a connection's pending events.
PROCESS_JOB = "inbox.process"
#: The job kind that prunes handled events past the retention period.
PRUNE_JOB = "inbox.prune"
#: Attempts of a processing job (each event counts its own attempts and dies on its own).
PROCESS_JOB_ATTEMPTS = 100


def concurrency_key(connection_id: uuid.UUID) -> str:
    """One processor per connection at a time: its events are applied in order."""
    return f"inbox:{connection_id}"


def process_job(connection_id: uuid.UUID) -> dict[str, Any]:
    """The values of the job that processes a connection's pending events (but its
    ``run_after``): one queued at a time per connection (dedupe key), one running at a time
    (concurrency key)."""
    return {
        "kind": PROCESS_JOB,
        "payload": {"connection_id": str(connection_id)},
        "dedupe_key": f"{PROCESS_JOB}:{connection_id}",
        "max_attempts": PROCESS_JOB_ATTEMPTS,
        "concurrency_key": concurrency_key(connection_id),
    }


async def queue_processing(
    session: AsyncSession, connection_ids: Iterable[uuid.UUID], *, delay_s: float
) -> None:
    """Queue the processing of each connection's pending events in ``delay_s`` (flushes):
    one statement per connection.

    One queued job per connection at a time (dedupe key): events arriving before it starts
    join it, so a burst costs one fetch per object; a queued job already holding the key is
    left as it is, never read back. That is safe because a processor frees its key before it
    reads the pending events: what found the key held was committed before that read, and
    what comes after finds the key free and queues a follow-up, which waits for the running
    one (concurrency key)."""
    run_after = utcnow() + timedelta(seconds=delay_s)
    queued = False
    for connection_id in dict.fromkeys(connection_ids):
        job = await jobs_repository.insert_job(
            session, run_after=run_after, **process_job(connection_id)
        )
        queued = queued or job is not None
    if queued and delay_s <= 0:
        await jobs_repository.announce(session)  # wake idle workers at the commit


async def queue_pruning(session: AsyncSession) -> None:
    """Queue a prune of handled events past the retention period (one at a time)."""
    await enqueue(session, PRUNE_JOB, {}, dedupe_key=PRUNE_JOB, concurrency_key=PRUNE_JOB)


__all__ = [
    "PROCESS_JOB",
    "PRUNE_JOB",
    "concurrency_key",
    "process_job",
    "queue_processing",
    "queue_pruning",
]
