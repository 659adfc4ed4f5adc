"""Desired performance tags: per asset and tag rule, the tier concept a scoring run computed
and every input it came from (KPI, smoothed value, cohort and its size, percentile, rule
version, run).

Derived data, one row per (asset, rule): each scoring run rewrites a rule's rows, leaving a
row alone when its tag and inputs did not change (so ``run_id`` and ``computed_at`` name the
run that last changed it).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Float, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from syncbridge.models.base import Base, IdMixin, JSONType, utcnow

#: The longest cohort key stored (concept keys of up to five schemes).
COHORT_LENGTH = 1000


class DesiredTag(Base):
    """The performance tag one asset should carry under one tag rule, with its inputs."""

    __tablename__ = "desired_tags"
    __table_args__ = (UniqueConstraint("asset_id", "rule_id"),)

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True
    )
    asset_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("assets.id", ondelete="CASCADE"))
    rule_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("tag_rules.id", ondelete="CASCADE"), index=True
    )
    rule_version: Mapped[int] = mapped_column()
    #: The tier concept's key, or the rule's insufficient concept.
    concept: Mapped[str] = mapped_column(String(200))
    #: The rule's cohort of the asset (``asset-type:image/channel:email``; see scoring.score).
    cohort: Mapped[str] = mapped_column(String(COHORT_LENGTH))
    #: Ranked assets in the cohort.
    cohort_size: Mapped[int] = mapped_column()
    #: The denominator's total (rate) or the days with data (count) over the window.
    sample: Mapped[float] = mapped_column(Float)
    #: The raw KPI (None: a rate with no denominator).
    kpi: Mapped[float | None] = mapped_column(Float, default=None)
    smoothed: Mapped[float | None] = mapped_column(Float, default=None)
    #: Percentile rank within the cohort (None: below the minimum sample).
    percentile: Mapped[float | None] = mapped_column(Float, default=None)
    #: The window's first and last day, as ISO dates.
    window_start: Mapped[str] = mapped_column(String(10))
    window_end: Mapped[str] = mapped_column(String(10))
    #: The scoring run that last changed the row.
    run_id: Mapped[uuid.UUID | None] = mapped_column(default=None)
    computed_at: Mapped[datetime] = mapped_column(default=utcnow)


class ScoreRunRule(IdMixin, Base):
    """What one scoring run did under one tag rule: its window and counts."""

    __tablename__ = "score_run_rules"
    __table_args__ = (UniqueConstraint("run_id", "rule_id"),)

    run_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"))
    rule_id: Mapped[uuid.UUID] = mapped_column()
    rule_version: Mapped[int] = mapped_column()
    window_start: Mapped[str] = mapped_column(String(10))
    window_end: Mapped[str] = mapped_column(String(10))
    #: Assets scored (every live asset), and how many rows changed, stayed or went.
    assets: Mapped[int] = mapped_column()
    changed: Mapped[int] = mapped_column()
    unchanged: Mapped[int] = mapped_column()
    removed: Mapped[int] = mapped_column()
    #: Assets per concept (tiers and the insufficient concept).
    tiers: Mapped[dict[str, Any]] = mapped_column(JSONType)
    finished_at: Mapped[datetime] = mapped_column(default=utcnow)


__all__ = ["COHORT_LENGTH", "DesiredTag", "ScoreRunRule"]
