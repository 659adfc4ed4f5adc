"""Tag rules (a current row and immutable versions): how performance tags are computed
(window, cohort, KPI, smoothing, minimum sample, percentile tiers) and where they land in
each DAM. The rule's parts are JSON as ``syncbridge.tagging.schemas`` describes them."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import CheckConstraint, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from syncbridge.models.base import Base, IdMixin, TimestampMixin, utcnow


class TagRuleFields:
    """Columns shared by a tag rule and each of its versions."""

    name: Mapped[str] = mapped_column(String(200))
    #: Days of metric facts read, ending with the last day of data.
    window_days: Mapped[int] = mapped_column()
    #: Taxonomy scheme keys; assets sharing a concept of each are one cohort.
    cohort_by: Mapped[list[Any]] = mapped_column(default=list)
    #: ``{"type": "count", "metric": ...}`` or ``{"type": "rate", "numerator", "denominator"}``.
    kpi: Mapped[dict[str, Any]] = mapped_column()
    #: How a rate is smoothed for small samples (None for a count).
    smoothing: Mapped[dict[str, Any] | None] = mapped_column(default=None)
    min_sample: Mapped[int] = mapped_column()
    #: ``[{"concept", "from_percentile", "to_percentile"}, ...]`` covering 0..100.
    tiers: Mapped[list[Any]] = mapped_column()
    insufficient_concept: Mapped[str] = mapped_column(String(200))
    #: Per DAM connection, how tags land (empty: every DAM connection, owned prefixed tags).
    targets: Mapped[list[Any]] = mapped_column(default=list)
    enabled: Mapped[bool] = mapped_column(default=True)


class TagRule(TagRuleFields, IdMixin, TimestampMixin, Base):
    """The current version of a tag rule."""

    __tablename__ = "tag_rules"
    __table_args__ = (
        CheckConstraint("window_days >= 1", name="window_days"),
        CheckConstraint("min_sample >= 1", name="min_sample"),
    )

    version: Mapped[int] = mapped_column(default=1)
    #: Counts every committed change (content versions and archiving); the rule's ``ETag``.
    revision: Mapped[int] = mapped_column(default=1, server_default="1")
    archived_at: Mapped[datetime | None] = mapped_column(default=None)
    #: Set for the rules bootstrap loaded from ``taxonomy/tags/tag_rules.yaml`` (their key).
    default_key: Mapped[str | None] = mapped_column(String(100), default=None, unique=True)


class TagRuleVersion(TagRuleFields, IdMixin, Base):
    """One immutable version of a tag rule; editing a rule appends one."""

    __tablename__ = "tag_rule_versions"
    __table_args__ = (UniqueConstraint("rule_id", "version"),)

    rule_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("tag_rules.id", ondelete="CASCADE"), index=True
    )
    version: Mapped[int] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by: Mapped[str] = mapped_column(String(200))
