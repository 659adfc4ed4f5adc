"""Classifications: an asset placed on a concept, with the provenance that put it there.

A classification comes from a mapping rule (``source='rule'``: the rule and its version, the
record and field value that matched, the run) or from a person (``source='manual'``). An
asset holds at most one classification per (concept, source): a concept several rules reach
keeps the winning rule's provenance, and a manual classification stands beside a rule's on
the same concept. Rules never overwrite or remove a manual classification.
``classification_changes`` keeps why each classification came, changed or went.
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

from syncbridge.models.base import Base, IdMixin, JSONType, utcnow

SOURCES = ("rule", "manual")
CHANGES = ("added", "changed", "removed")


def _in(values: tuple[str, ...]) -> str:
    return ", ".join(f"'{v}'" for v in values)


class Classification(IdMixin, Base):
    """One asset on one concept, by a rule or a person."""

    __tablename__ = "classifications"
    __table_args__ = (
        # Leads with the asset: an asset's classifications are one index range.
        UniqueConstraint("asset_id", "concept_id", "source"),
        CheckConstraint(f"source IN ({_in(SOURCES)})", name="source"),
    )

    asset_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("assets.id", ondelete="CASCADE"))
    concept_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("concepts.id", ondelete="RESTRICT"), index=True
    )
    #: ``rule`` or ``manual``.
    source: Mapped[str] = mapped_column(String(10))
    rule_id: Mapped[uuid.UUID | None] = mapped_column(default=None, index=True)
    rule_version: Mapped[int | None] = mapped_column(default=None)
    #: The record whose field matched (None: the asset's own data matched).
    record_id: Mapped[uuid.UUID | None] = mapped_column(default=None, index=True)
    field_path: Mapped[str | None] = mapped_column(String(500), default=None)
    #: The field value that matched, as found.
    value: Mapped[Any | None] = mapped_column(JSONType, default=None)
    #: The run whose data made the classification (None: a re-classification job or a person).
    run_id: Mapped[uuid.UUID | None] = mapped_column(default=None)
    #: Who added a manual classification (an API key's name and id).
    created_by: Mapped[str | None] = mapped_column(String(200), default=None)
    note: Mapped[str | None] = mapped_column(Text, default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    #: When the provenance last changed (a new rule version, another winning rule).
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class ClassificationChange(Base):
    """One classification coming, changing its provenance, or going, and why.

    Kept after the classification (and even its concept) is gone, so it names the concept
    by key too and holds no foreign key to concepts.
    """

    __tablename__ = "classification_changes"
    __table_args__ = (
        CheckConstraint(f"change IN ({_in(CHANGES)})", name="change"),
        CheckConstraint(f"source IN ({_in(SOURCES)})", name="source"),
        Index("ix_classification_changes_asset", "asset_id", "at"),
    )

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True
    )
    asset_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("assets.id", ondelete="CASCADE"))
    concept_id: Mapped[uuid.UUID] = mapped_column()
    concept_key: Mapped[str] = mapped_column(String(200))
    #: ``added``, ``changed`` (same concept, new provenance) or ``removed``.
    change: Mapped[str] = mapped_column(String(10))
    source: Mapped[str] = mapped_column(String(10))
    reason: Mapped[str] = mapped_column(Text)
    #: The provenance the classification has after the change (before it, for a removal).
    rule_id: Mapped[uuid.UUID | None] = mapped_column(default=None)
    rule_version: Mapped[int | None] = mapped_column(default=None)
    record_id: Mapped[uuid.UUID | None] = mapped_column(default=None)
    #: What made the change: a sync run, a re-classification job, or a person (``actor``).
    run_id: Mapped[uuid.UUID | None] = mapped_column(default=None)
    job_id: Mapped[uuid.UUID | None] = mapped_column(default=None)
    actor: Mapped[str | None] = mapped_column(String(200), default=None)
    at: Mapped[datetime] = mapped_column(default=utcnow)
