"""Mapping rules (a current row) and their immutable versions."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import CheckConstraint, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from syncbridge.models.base import Base, IdMixin, TimestampMixin, utcnow

OPERATORS = ("equals", "in", "prefix", "contains", "regex", "range", "exists")
_OPS_SQL = ", ".join(f"'{op}'" for op in OPERATORS)


class MappingRuleFields:
    """Columns shared by a rule and each of its versions."""

    name: Mapped[str] = mapped_column(String(200))
    connector_key: Mapped[str] = mapped_column(String(100))
    connection_id: Mapped[uuid.UUID | None] = mapped_column(default=None)
    stream: Mapped[str | None] = mapped_column(String(100), default=None)
    field_path: Mapped[str] = mapped_column(String(500))
    operator: Mapped[str] = mapped_column(String(20))
    values: Mapped[list[Any]] = mapped_column(default=list)
    case_sensitive: Mapped[bool] = mapped_column(default=False)
    match_labels: Mapped[bool] = mapped_column(default=False)
    concept_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("concepts.id", ondelete="RESTRICT"))
    priority: Mapped[int] = mapped_column(default=100)
    enabled: Mapped[bool] = mapped_column(default=True)


class MappingRule(MappingRuleFields, IdMixin, TimestampMixin, Base):
    """The current version of a mapping rule."""

    __tablename__ = "mapping_rules"
    __table_args__ = (CheckConstraint(f"operator IN ({_OPS_SQL})", name="operator"),)

    version: Mapped[int] = mapped_column(default=1)
    #: Counts every committed change (content versions and archiving); the rule's ``ETag``.
    revision: Mapped[int] = mapped_column(default=1, server_default="1")
    archived_at: Mapped[datetime | None] = mapped_column(default=None)


class MappingRuleVersion(MappingRuleFields, IdMixin, Base):
    """One immutable version of a rule; editing a rule appends one."""

    __tablename__ = "mapping_rule_versions"
    __table_args__ = (UniqueConstraint("rule_id", "version"),)

    rule_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("mapping_rules.id", ondelete="CASCADE"), index=True
    )
    version: Mapped[int] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by: Mapped[str] = mapped_column(String(200))
