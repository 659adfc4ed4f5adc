"""Classifications: an asset placed on a concept, with the provenance that put it there.

A classification comes from a mapping rule (``source='rule'``: the rule and its version, the
record and field value that matched, the run) or from a person (``source='manual'``). Rules
never overwrite a manual classification. ``classification_changes`` keeps why each
classification came or went.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from syncbridge.models.base import Base, IdMixin, JSONType, utcnow


class Classification(IdMixin, Base):
    """One asset on one concept, by a rule or a person."""

    __tablename__ = "classifications"

    asset_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("assets.id", ondelete="CASCADE"))
    concept_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("concepts.id", ondelete="RESTRICT"))
    #: ``rule`` or ``manual``.
    source: Mapped[str] = mapped_column(String(10))
    rule_id: Mapped[uuid.UUID | None] = mapped_column(default=None)
    rule_version: Mapped[int | None] = mapped_column(default=None)
    #: The record whose field matched (None: the asset's own data matched).
    record_id: Mapped[uuid.UUID | None] = mapped_column(default=None)
    field_path: Mapped[str | None] = mapped_column(String(500), default=None)
    #: The field value that matched, as found.
    value: Mapped[Any | None] = mapped_column(JSONType, default=None)
    run_id: Mapped[uuid.UUID | None] = mapped_column(default=None)
    #: Who added a manual classification (an API key's name and id).
    created_by: Mapped[str | None] = mapped_column(String(200), default=None)
    note: Mapped[str | None] = mapped_column(Text, default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
