"""Links: an asset joined to a record (campaign, deal, analytics row), with the evidence."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from syncbridge.models.base import Base, IdMixin, utcnow


class Link(IdMixin, Base):
    """One asset to one record, found by a link rule (its version), on a field and value."""

    __tablename__ = "links"

    asset_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("assets.id", ondelete="CASCADE"))
    record_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("records.id", ondelete="CASCADE"))
    rule_id: Mapped[uuid.UUID | None] = mapped_column(default=None)
    rule_version: Mapped[int | None] = mapped_column(default=None)
    #: The record field holding the evidence, and the value found there.
    field_path: Mapped[str] = mapped_column(String(500))
    value: Mapped[str] = mapped_column(Text)
    run_id: Mapped[uuid.UUID | None] = mapped_column(default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
