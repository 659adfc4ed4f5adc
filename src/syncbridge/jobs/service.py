"""Putting work on the queue, in the caller's transaction."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from syncbridge.jobs import repository
from syncbridge.logs import get_logger
from syncbridge.models.base import utcnow
from syncbridge.models.jobs import Job

log = get_logger(__name__)

#: Attempts a job gets unless its enqueuer says otherwise.
DEFAULT_MAX_ATTEMPTS = 8
KIND_MAX_CHARS = 100
DEDUPE_KEY_MAX_CHARS = 200


async def enqueue(
    session: AsyncSession,
    kind: str,
    payload: dict[str, Any],
    *,
    dedupe_key: str | None = None,
    run_after: datetime | None = None,
    max_attempts: int = DEFAULT_MAX_ATTEMPTS,
    concurrency_key: str | None = None,
) -> Job:
    """Queue a job of ``kind`` with a JSON ``payload`` in the caller's transaction (flushes,
    never commits): it exists exactly when the state that caused it commits.

    With a ``dedupe_key`` that a queued or running job already holds, nothing is added and
    that job is returned. ``run_after`` (aware) delays the first attempt. Jobs sharing a
    ``concurrency_key`` never run at once (the later ones wait, queued, for the key to be
    free). On PostgreSQL the workers are woken when the transaction commits (``NOTIFY`` is
    transactional).
    """
    if not kind or len(kind) > KIND_MAX_CHARS:
        raise ValueError(f"a job kind has 1 to {KIND_MAX_CHARS} characters")
    if dedupe_key is not None and not 0 < len(dedupe_key) <= DEDUPE_KEY_MAX_CHARS:
        raise ValueError(f"a dedupe key has 1 to {DEDUPE_KEY_MAX_CHARS} characters")
    if concurrency_key is not None and not 0 < len(concurrency_key) <= DEDUPE_KEY_MAX_CHARS:
        raise ValueError(f"a concurrency key has 1 to {DEDUPE_KEY_MAX_CHARS} characters")
    if max_attempts < 1:
        raise ValueError("max_attempts must be at least 1")
    now = utcnow()
    when = run_after or now
    # A job holding the key may finish between our insert and our read (PostgreSQL, read
    # committed): then the key is free and the insert is tried again.
    for _ in range(3):
        job = await repository.insert_job(
            session,
            kind=kind,
            payload=payload,
            dedupe_key=dedupe_key,
            run_after=when,
            max_attempts=max_attempts,
            concurrency_key=concurrency_key,
        )
        if job is not None:
            if when <= now:
                await repository.announce(session)
            log.debug("job.enqueued", job_id=str(job.id), kind=kind)
            return job
        assert dedupe_key is not None  # only a dedupe key can conflict
        existing = await repository.live_job_with_key(session, dedupe_key)
        if existing is not None:
            return existing
    raise RuntimeError("the dedupe key kept changing hands while enqueueing")  # pragma: no cover
