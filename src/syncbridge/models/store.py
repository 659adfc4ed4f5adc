"""The store of vendor items (assets and records), stream cursors, and sync runs.

``assets`` hold the items of streams whose ``StreamSpec.entity`` is ``asset`` (DAM media),
``records`` the others (CRM and analytics rows). A deleted vendor item becomes a tombstone
(``deleted_at`` set), never a deleted row. ``last_run_id`` is the run that last changed a
row's content; ``seen_run_id`` the last run that read it (a full read tombstones the rows it
did not see).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from syncbridge.models.base import Base, IdMixin, utcnow

#: Longest external id the store keeps (longer ones are rejected at validation).
EXTERNAL_ID_LENGTH = 500
STREAM_LENGTH = 200

RUN_STATUSES = ("queued", "running", "succeeded", "failed", "cancelled")
#: The kind of a reconciliation run (its write-backs may be sent from what it read).
RECONCILE_KIND = "reconcile"
RUN_KINDS = ("sync", "score", "events", RECONCILE_KIND)


def _in(values: tuple[str, ...]) -> str:
    return ", ".join(f"'{v}'" for v in values)


class _Item:
    """Columns shared by assets and records."""

    connection_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("connections.id", ondelete="CASCADE")
    )
    stream: Mapped[str] = mapped_column(String(STREAM_LENGTH))
    external_id: Mapped[str] = mapped_column(String(EXTERNAL_ID_LENGTH))
    data: Mapped[dict[str, Any]]
    #: sha256 hex of the canonical JSON of ``data`` (``syncbridge.sync.encoding``).
    content_hash: Mapped[str] = mapped_column(String(64))
    vendor_updated_at: Mapped[datetime | None] = mapped_column(default=None)
    first_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    deleted_at: Mapped[datetime | None] = mapped_column(default=None)
    #: Indexed: linking and classifying after a run read what the run changed.
    last_run_id: Mapped[uuid.UUID | None] = mapped_column(default=None, index=True)
    seen_run_id: Mapped[uuid.UUID | None] = mapped_column(default=None)


class Asset(IdMixin, _Item, Base):
    """One DAM item of a connection."""

    __tablename__ = "assets"
    # The external id leads the only index: a page's lookup by ids is then an index search
    # whatever the table's statistics say. (Led by the connection, or beside an index on
    # (connection, stream), PostgreSQL planned a young table's lookups as a walk over the
    # whole stream: a sync went quadratic until the next ANALYZE.)
    __table_args__ = (UniqueConstraint("external_id", "connection_id"),)


class StoredRecord(IdMixin, _Item, Base):
    """One CRM or analytics item of a connection's stream."""

    __tablename__ = "records"
    #: See ``Asset``: the external id leads the only index.
    __table_args__ = (UniqueConstraint("external_id", "connection_id", "stream"),)


class StreamState(IdMixin, Base):
    """Where the next read of a connection's stream starts, and which run holds it."""

    __tablename__ = "stream_states"
    __table_args__ = (UniqueConstraint("connection_id", "stream"),)

    connection_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("connections.id", ondelete="CASCADE")
    )
    stream: Mapped[str] = mapped_column(String(STREAM_LENGTH))
    #: The resume cursor committed with the last page written (None: from the start).
    cursor: Mapped[str | None] = mapped_column(Text, default=None)
    last_full_read_at: Mapped[datetime | None] = mapped_column(default=None)
    #: The run reading the stream now (a claim: one run per stream at a time).
    claimed_by_run_id: Mapped[uuid.UUID | None] = mapped_column(default=None)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class Run(IdMixin, Base):
    """One sync run: of one connection, or of every enabled connection."""

    __tablename__ = "runs"
    __table_args__ = (
        CheckConstraint(f"kind IN ({_in(RUN_KINDS)})", name="kind"),
        CheckConstraint(f"status IN ({_in(RUN_STATUSES)})", name="status"),
    )

    kind: Mapped[str] = mapped_column(String(20), default="sync")
    connection_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("connections.id", ondelete="SET NULL"), default=None, index=True
    )
    full: Mapped[bool] = mapped_column(default=False)
    status: Mapped[str] = mapped_column(String(20), default="queued")
    requested_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    started_at: Mapped[datetime | None] = mapped_column(default=None)
    finished_at: Mapped[datetime | None] = mapped_column(default=None)
    error: Mapped[str | None] = mapped_column(Text, default=None)
    #: When a cancel was asked of the run while it ran: its streams stop at the next page
    #: boundary (committed pages stay) and end ``cancelled``.
    cancel_requested_at: Mapped[datetime | None] = mapped_column(default=None)
    cancelled_by: Mapped[str | None] = mapped_column(String(200), default=None)
    #: What a run found beyond its streams' counts (a reconciliation's drift by kind, with
    #: examples, and the vendor calls it used).
    report: Mapped[dict[str, Any] | None] = mapped_column(default=None)


class RunStream(IdMixin, Base):
    """One stream of one connection inside a run, with what the run did to it."""

    __tablename__ = "run_streams"
    __table_args__ = (
        UniqueConstraint("run_id", "connection_id", "stream"),
        CheckConstraint(f"status IN ({_in(RUN_STATUSES)})", name="status"),
    )

    run_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"))
    connection_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("connections.id", ondelete="CASCADE")
    )
    stream: Mapped[str] = mapped_column(String(STREAM_LENGTH))
    #: ``asset`` or ``record``: which table the stream's items go to.
    entity: Mapped[str] = mapped_column(String(10))
    status: Mapped[str] = mapped_column(String(20), default="queued")
    pages: Mapped[int] = mapped_column(default=0)
    read: Mapped[int] = mapped_column(default=0)
    inserted: Mapped[int] = mapped_column(default=0)
    updated: Mapped[int] = mapped_column(default=0)
    unchanged: Mapped[int] = mapped_column(default=0)
    deleted: Mapped[int] = mapped_column(default=0)
    rejected: Mapped[int] = mapped_column(default=0)
    vendor_calls: Mapped[int] = mapped_column(default=0)
    #: Vendor answers asking to slow down (429, Cloudinary's 420).
    rate_limited: Mapped[int] = mapped_column(default=0)
    #: Items the stream is expected to read in all, when the vendor reports a total.
    expected: Mapped[int | None] = mapped_column(default=None)
    error: Mapped[str | None] = mapped_column(Text, default=None)
    started_at: Mapped[datetime | None] = mapped_column(default=None)
    finished_at: Mapped[datetime | None] = mapped_column(default=None)
    #: The cursor committed with the last page written (where a resumed run goes on).
    last_cursor: Mapped[str | None] = mapped_column(Text, default=None)
    #: Set when the stream's pages were linked as they landed, against the assets as they
    #: stood at this time (see ``syncbridge.linking.pages``); None: the settle pass links it.
    linked_since: Mapped[datetime | None] = mapped_column(default=None)


class RunRejection(Base):
    """A vendor item a run refused (no external id, not JSON, too large), with why."""

    __tablename__ = "run_rejections"
    __table_args__ = (Index("ix_run_rejections_run", "run_id", "stream"),)

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True
    )
    run_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"))
    connection_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("connections.id", ondelete="CASCADE")
    )
    stream: Mapped[str] = mapped_column(String(STREAM_LENGTH))
    #: The item's external id as given (cut to the column's length), when it had one.
    external_id: Mapped[str | None] = mapped_column(String(EXTERNAL_ID_LENGTH), default=None)
    reason: Mapped[str] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(default=utcnow)
