"""Taxonomy tables, shaped after SKOS: schemes, concepts, labels and the broader relation."""

from __future__ import annotations

import uuid
from enum import StrEnum

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from syncbridge.models.base import Base, IdMixin, TimestampMixin


class ConceptStatus(StrEnum):
    draft = "draft"
    approved = "approved"
    deprecated = "deprecated"


class LabelKind(StrEnum):
    pref = "pref"
    alt = "alt"


class ConceptScheme(IdMixin, TimestampMixin, Base):
    """A SKOS concept scheme: one facet of the taxonomy (channel, region...)."""

    __tablename__ = "concept_schemes"

    key: Mapped[str] = mapped_column(String(100), unique=True)
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text)
    #: Counts every committed change; exposed as the scheme's ``ETag``.
    revision: Mapped[int] = mapped_column(default=1, server_default="1")


class Concept(IdMixin, TimestampMixin, Base):
    """A SKOS concept with a stable key (its notation)."""

    __tablename__ = "concepts"
    __table_args__ = (
        CheckConstraint("status IN ('draft', 'approved', 'deprecated')", name="status"),
    )

    scheme_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("concept_schemes.id", ondelete="RESTRICT"), index=True
    )
    key: Mapped[str] = mapped_column(String(200), unique=True)
    status: Mapped[str] = mapped_column(String(20), default=ConceptStatus.approved.value)
    definition: Mapped[str | None] = mapped_column(Text)
    replaced_by_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("concepts.id", ondelete="SET NULL")
    )
    #: Bumped on every change; the change history lives in the audit log.
    revision: Mapped[int] = mapped_column(default=1)


class ConceptLabel(IdMixin, Base):
    """A preferred or alternative label of a concept in one language."""

    __tablename__ = "concept_labels"
    __table_args__ = (
        CheckConstraint("kind IN ('pref', 'alt')", name="kind"),
        UniqueConstraint("concept_id", "kind", "lang", "text"),
        # One preferred label per language per concept ...
        Index(
            "uq_concept_labels_pref_per_lang",
            "concept_id",
            "lang",
            unique=True,
            sqlite_where=text("kind = 'pref'"),
            postgresql_where=text("kind = 'pref'"),
        ),
        # ... and a preferred label is unique within its scheme (case-insensitively).
        Index(
            "uq_concept_labels_pref_in_scheme",
            "scheme_id",
            "lang",
            "norm",
            unique=True,
            sqlite_where=text("kind = 'pref'"),
            postgresql_where=text("kind = 'pref'"),
        ),
    )

    concept_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("concepts.id", ondelete="CASCADE"))
    scheme_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("concept_schemes.id", ondelete="CASCADE")
    )
    kind: Mapped[str] = mapped_column(String(4))
    lang: Mapped[str] = mapped_column(String(16), default="en")
    text: Mapped[str] = mapped_column(String(300))
    #: ``text`` case-folded and whitespace-collapsed, for uniqueness and search.
    norm: Mapped[str] = mapped_column(String(300), index=True)


class ConceptBroader(Base):
    """Edge ``concept`` skos:broader ``broader``; a concept may have several broaders."""

    __tablename__ = "concept_broader"

    concept_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("concepts.id", ondelete="CASCADE"), primary_key=True
    )
    broader_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("concepts.id", ondelete="CASCADE"), primary_key=True, index=True
    )
