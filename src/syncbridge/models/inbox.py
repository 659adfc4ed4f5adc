"""The durable inbox: one row per verified webhook event, unique per (connection, delivery key).

A row is written in the transaction that answers the vendor (the 2xx goes out after it
commits) and is handled by the connection's ``inbox.process`` job: pending -> handled, or
dead after repeated failures (an admin replays it). Handled rows are pruned after the
retention period.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from syncbridge.models.base import Base, IdMixin, utcnow
from syncbridge.models.store import EXTERNAL_ID_LENGTH, STREAM_LENGTH

#: Longest delivery key kept (vendor message ids, or hashes of identifying fields).
DELIVERY_KEY_LENGTH = 300
#: The longest action name an event can carry.
ACTION_LENGTH = 50


class EventStatus(StrEnum):
    """pending -> handled | dead (a replay makes a dead or handled event pending again)."""

    pending = "pending"
    handled = "handled"
    dead = "dead"


EVENT_STATUSES = tuple(s.value for s in EventStatus)


class InboxEvent(IdMixin, Base):
    """One verified, normalised webhook event."""

    __tablename__ = "inbox_events"
    __table_args__ = (
        UniqueConstraint("connection_id", "delivery_key"),
        CheckConstraint(
            "status IN (" + ", ".join(f"'{s}'" for s in EVENT_STATUSES) + ")", name="status"
        ),
        # What the processor reads: a connection's pending events, oldest first.
        Index(
            "ix_inbox_events_pending",
            "connection_id",
            "received_at",
            postgresql_where=text("status = 'pending'"),
            sqlite_where=text("status = 'pending'"),
        ),
        # Listing by time, and retention (handled events past the period).
        Index("ix_inbox_events_received_at", "received_at"),
        Index("ix_inbox_events_status_handled_at", "status", "handled_at"),
    )

    connection_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("connections.id", ondelete="CASCADE")
    )
    delivery_key: Mapped[str] = mapped_column(String(DELIVERY_KEY_LENGTH))
    stream: Mapped[str] = mapped_column(String(STREAM_LENGTH))
    external_id: Mapped[str | None] = mapped_column(String(EXTERNAL_ID_LENGTH), default=None)
    #: ``created``, ``updated``, ``deleted``... as the connector normalised it.
    action: Mapped[str] = mapped_column(String(ACTION_LENGTH))
    occurred_at: Mapped[datetime | None] = mapped_column(default=None)
    #: What the vendor said about the change (thin: the processor fetches fresh state).
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    status: Mapped[str] = mapped_column(String(20), default=EventStatus.pending.value)
    #: Processing attempts that failed (reset by a replay).
    attempts: Mapped[int] = mapped_column(default=0)
    #: The last failure as "ExceptionType: message" (never a secret).
    last_error: Mapped[str | None] = mapped_column(Text, default=None)
    #: What handling did: ``fetched``, ``tombstoned``, ``not found at the vendor``...
    outcome: Mapped[str | None] = mapped_column(String(100), default=None)
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    handled_at: Mapped[datetime | None] = mapped_column(default=None)
    #: The ``events`` run that applied it (its trace and counts).
    run_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("runs.id", ondelete="SET NULL"), default=None
    )
    #: Times it was replayed by an admin.
    replays: Mapped[int] = mapped_column(default=0)
