"""Write-back: the outbox of planned owned-tag changes, the ledger of every attempt, and
per (asset, DAM connection) what syncbridge last confirmed there.

* ``writebacks``: one row per (asset, desired-tag version, target connection), planned by a
  scoring run in the transaction that finishes it, sent by the ``writeback.send`` job;
  ``pending -> sending -> done | dead`` (or ``pending`` again for a retry), ``superseded``
  when a newer version was planned before it was sent.
* ``writeback_attempts``: the ledger, one row per attempt (dry runs included).
* ``writeback_states``: the owned tags and metadata syncbridge last confirmed in the DAM
  (what planning compares the desired tags with) and the last version planned.
* ``writeback_senders``: per connection, the recent vendor calls of its last sender.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from syncbridge.models.base import Base, IdMixin, utcnow


class WriteBackStatus(StrEnum):
    """Where a write-back is: pending -> sending -> done | dead (or pending for a retry)."""

    pending = "pending"
    sending = "sending"
    done = "done"
    dead = "dead"
    superseded = "superseded"


WRITEBACK_STATUSES = tuple(s.value for s in WriteBackStatus)


class WriteBack(IdMixin, Base):
    """One planned change of owned tags on one asset in one DAM (an outbox row)."""

    __tablename__ = "writebacks"
    __table_args__ = (
        UniqueConstraint("asset_id", "connection_id", "version"),
        CheckConstraint(
            "status IN ('pending', 'sending', 'done', 'dead', 'superseded')", name="status"
        ),
        CheckConstraint("attempts >= 0", name="attempts"),
        # What a claim reads: a connection's ready rows, and sending ones whose lease ran out.
        Index(
            "ix_writebacks_ready",
            "connection_id",
            "run_after",
            postgresql_where=text("status IN ('pending', 'sending')"),
            sqlite_where=text("status IN ('pending', 'sending')"),
        ),
        Index("ix_writebacks_asset_id", "asset_id"),
        Index("ix_writebacks_status", "status"),
    )

    asset_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("assets.id", ondelete="CASCADE"))
    connection_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("connections.id", ondelete="CASCADE")
    )
    #: The desired-tag version of (asset, connection), counting from 1.
    version: Mapped[int] = mapped_column()
    status: Mapped[str] = mapped_column(String(20), default=WriteBackStatus.pending.value)
    #: Claims so far (each is one ledger attempt).
    attempts: Mapped[int] = mapped_column(default=0)
    run_after: Mapped[datetime] = mapped_column(default=utcnow)
    lease_owner: Mapped[str | None] = mapped_column(String(200), default=None)
    lease_token: Mapped[uuid.UUID | None] = mapped_column(default=None)
    lease_expires_at: Mapped[datetime | None] = mapped_column(default=None)
    #: The full owned state wanted: tags, and metadata (a key set to None is cleared).
    desired_tags: Mapped[list[Any]] = mapped_column(default=list)
    desired_metadata: Mapped[dict[str, Any]] = mapped_column(default=dict)
    #: The difference against what syncbridge last confirmed, when planned.
    planned_add: Mapped[list[Any]] = mapped_column(default=list)
    planned_remove: Mapped[list[Any]] = mapped_column(default=list)
    planned_metadata: Mapped[dict[str, Any]] = mapped_column(default=dict)
    #: The scoring run that planned it (None: planned outside a run).
    run_id: Mapped[uuid.UUID | None] = mapped_column(default=None)
    #: True when it was recorded without sending (the connection's ``dry_run``).
    dry_run: Mapped[bool] = mapped_column(default=False)
    #: The vendor's answer to the last attempt (applied, accepted, skipped, unchanged,
    #: failed, dry_run).
    vendor_status: Mapped[str | None] = mapped_column(String(20), default=None)
    #: The vendor's message of the last failed attempt.
    last_error: Mapped[str | None] = mapped_column(Text, default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(default=None)


class WriteBackAttempt(Base):
    """One attempt at a write-back (the ledger): what it sent, what the vendor said."""

    __tablename__ = "writeback_attempts"
    __table_args__ = (
        Index("ix_writeback_attempts_writeback_id", "writeback_id"),
        Index("ix_writeback_attempts_asset_id", "asset_id"),
    )

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True
    )
    writeback_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("writebacks.id", ondelete="CASCADE"))
    asset_id: Mapped[uuid.UUID] = mapped_column()
    connection_id: Mapped[uuid.UUID] = mapped_column()
    attempt: Mapped[int] = mapped_column()
    at: Mapped[datetime] = mapped_column(default=utcnow)
    #: Owned tags added and removed, and owned metadata set, by this attempt (what was sent,
    #: or with ``dry_run`` what would have been).
    added: Mapped[list[Any]] = mapped_column(default=list)
    removed: Mapped[list[Any]] = mapped_column(default=list)
    metadata_set: Mapped[dict[str, Any]] = mapped_column("metadata", default=dict)
    vendor_status: Mapped[str] = mapped_column(String(20))
    error: Mapped[str | None] = mapped_column(Text, default=None)
    dry_run: Mapped[bool] = mapped_column(default=False)


class WriteBackState(Base):
    """What syncbridge last confirmed in one DAM for one asset, and last planned."""

    __tablename__ = "writeback_states"

    asset_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("assets.id", ondelete="CASCADE"), primary_key=True
    )
    connection_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("connections.id", ondelete="CASCADE"), primary_key=True
    )
    confirmed_tags: Mapped[list[Any]] = mapped_column(default=list)
    confirmed_metadata: Mapped[dict[str, Any]] = mapped_column(default=dict)
    #: A digest of the confirmed owned state (what planning compares, without decoding it).
    confirmed_key: Mapped[str] = mapped_column(String(64), default="")
    confirmed_at: Mapped[datetime | None] = mapped_column(default=None)
    #: The last version planned, and its owned state and digest.
    planned_version: Mapped[int] = mapped_column(default=0)
    planned_tags: Mapped[list[Any]] = mapped_column(default=list)
    planned_metadata: Mapped[dict[str, Any]] = mapped_column(default=dict)
    planned_key: Mapped[str] = mapped_column(String(64), default="")
    #: The last planned version was recorded without sending (plan it again once the
    #: connection sends for real).
    planned_dry_run: Mapped[bool] = mapped_column(default=False)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class WriteBackSender(Base):
    """The last sender of one connection and its recent vendor calls, so that a sender in
    another process starts with the same rate budget (``syncbridge.writeback.budget``)."""

    __tablename__ = "writeback_senders"

    connection_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("connections.id", ondelete="CASCADE"), primary_key=True
    )
    #: The connector instance that made the calls.
    instance: Mapped[str] = mapped_column(String(64))
    #: Wall-clock times (Unix seconds) of its vendor calls within the last rate window.
    calls: Mapped[list[Any]] = mapped_column(default=list)
    #: Wall-clock time before which the vendor asked for no calls (a 429's Retry-After).
    paused_until: Mapped[float | None] = mapped_column(Float, default=None)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


__all__ = [
    "WRITEBACK_STATUSES",
    "WriteBack",
    "WriteBackAttempt",
    "WriteBackSender",
    "WriteBackState",
    "WriteBackStatus",
]
