"""The durable job queue: one row per job (see :mod:`syncbridge.jobs`)."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import CheckConstraint, Index, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from syncbridge.models.base import Base, IdMixin, utcnow


class JobStatus(StrEnum):
    """Where a job is in its life: queued -> running -> done | dead | cancelled (or queued
    again for a retry)."""

    queued = "queued"
    running = "running"
    done = "done"
    dead = "dead"
    cancelled = "cancelled"


#: The statuses of a job that may still run; a dedupe key is unique among these.
LIVE_STATUSES = (JobStatus.queued.value, JobStatus.running.value)


def _partial(predicate: str) -> dict[str, Any]:
    """An index predicate (both backends support partial indexes)."""
    return {"postgresql_where": text(predicate), "sqlite_where": text(predicate)}


class Job(IdMixin, Base):
    """A unit of background work, claimed under a lease whose token fences its completion."""

    __tablename__ = "jobs"
    __table_args__ = (
        CheckConstraint(
            "status IN ('queued', 'running', 'done', 'dead', 'cancelled')", name="status"
        ),
        CheckConstraint("attempts >= 0", name="attempts"),
        CheckConstraint("max_attempts >= 1", name="max_attempts"),
        # One live job per dedupe key; a finished job frees its key.
        Index(
            "uq_jobs_dedupe_key",
            "dedupe_key",
            unique=True,
            **_partial("status IN ('queued', 'running')"),
        ),
        # What a claim reads: ready jobs by run_after, and running ones whose lease ran out.
        # Partial, so the index stays the size of the live queue however many jobs are done.
        Index("ix_jobs_ready", "run_after", **_partial("status = 'queued'")),
        Index("ix_jobs_leased", "lease_expires_at", **_partial("status = 'running'")),
        # What a claim checks: which concurrency keys running jobs hold.
        Index("ix_jobs_concurrency_key", "concurrency_key", **_partial("status = 'running'")),
    )

    kind: Mapped[str] = mapped_column(String(100))
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    status: Mapped[str] = mapped_column(String(20), default=JobStatus.queued.value)
    #: Claims so far (a claim counts as an attempt; a release on shutdown gives it back).
    attempts: Mapped[int] = mapped_column(default=0)
    max_attempts: Mapped[int] = mapped_column(default=8)
    run_after: Mapped[datetime] = mapped_column(default=utcnow)
    lease_owner: Mapped[str | None] = mapped_column(String(200), default=None)
    lease_expires_at: Mapped[datetime | None] = mapped_column(default=None)
    #: New on every claim: only the holder of the current token may renew or finish the job.
    lease_token: Mapped[uuid.UUID | None] = mapped_column(default=None)
    dedupe_key: Mapped[str | None] = mapped_column(String(200), default=None)
    #: Jobs sharing a key never run at once: a claim skips a job whose key a running job
    #: with an unexpired lease holds (``connection:<id>``: one vendor reader per connection).
    concurrency_key: Mapped[str | None] = mapped_column(String(200), default=None)
    #: The last failure as "ExceptionType: message" (never a payload or a secret).
    last_error: Mapped[str | None] = mapped_column(Text, default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(default=None)
