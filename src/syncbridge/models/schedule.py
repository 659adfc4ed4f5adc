"""The scheduler's slots and the workers' heartbeats.

Every worker process runs the same ticker; a tick claims its slot by inserting the
``job_runs`` row keyed by (job name, slot time) with ``ON CONFLICT DO NOTHING``, so N workers
give exactly one run per slot. ``worker_heartbeats`` says which workers are alive (``/readyz``
checks that one beat recently).
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import CheckConstraint, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from syncbridge.models.base import Base, IdMixin, utcnow

JOB_RUN_STATUSES = ("running", "succeeded", "failed", "skipped")


class JobRun(IdMixin, Base):
    """One slot of one scheduled job: claimed once, whoever ticks first."""

    __tablename__ = "job_runs"
    __table_args__ = (
        UniqueConstraint("name", "slot"),
        CheckConstraint(
            "status IN (" + ", ".join(f"'{s}'" for s in JOB_RUN_STATUSES) + ")", name="status"
        ),
        Index("ix_job_runs_name_started_at", "name", "started_at"),
    )

    #: The scheduled job's fixed id (``reconcile``, ``sync.incremental``...).
    name: Mapped[str] = mapped_column(String(100))
    #: The time the slot was scheduled for (aware, UTC).
    slot: Mapped[datetime]
    status: Mapped[str] = mapped_column(String(20), default="running")
    #: The worker process that claimed it.
    owner: Mapped[str] = mapped_column(String(200))
    #: Who asked: ``schedule``, ``catch-up`` or ``admin:<key name>``.
    trigger: Mapped[str] = mapped_column(String(200), default="schedule")
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(default=None)
    #: The queue job or run that carries the work, when there is one.
    job_id: Mapped[uuid.UUID | None] = mapped_column(default=None)
    run_id: Mapped[uuid.UUID | None] = mapped_column(default=None)
    #: Why it failed, or why the slot was skipped.
    detail: Mapped[str | None] = mapped_column(Text, default=None)


class WorkerHeartbeat(Base):
    """A worker process, and when it last said it was alive."""

    __tablename__ = "worker_heartbeats"

    owner: Mapped[str] = mapped_column(String(200), primary_key=True)
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    seen_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
