"""Metric facts: one daily number per asset, metric and source connection, and the records
each was computed from.

Facts are derived data: :mod:`syncbridge.metrics.service` rewrites an asset's facts from its
live linked records (delete, then insert), so they hold no history of their own. A fact's
``records`` counts the records behind it; ``metric_fact_records`` names them, once per
(asset, day, source connection): the facts of one day and connection come from the same
records (a GA4 row gives every analytics metric of its day; a won deal both
``influenced_deals`` and ``influenced_revenue``).
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from syncbridge.models.base import Base, utcnow

#: Analytics metrics (GA4 rows) and CRM metrics (won deals through campaigns).
METRICS = (
    "views",
    "sessions",
    "key_events",
    "events",
    "revenue",
    "influenced_deals",
    "influenced_revenue",
)
#: How a deal's amount is credited to the assets linked to it.
ATTRIBUTIONS = ("even", "full")
#: Ten-thousandths: a split of cents is exact, and so is every count.
VALUE_TYPE = Numeric(20, 4)


def _in(values: tuple[str, ...]) -> str:
    return ", ".join(f"'{v}'" for v in values)


_BIG_ID = BigInteger().with_variant(Integer(), "sqlite")


class MetricFact(Base):
    """One asset's value of one metric on one day, from one source connection."""

    __tablename__ = "metric_facts"
    __table_args__ = (
        # Leads with the asset: an asset's facts over a window are one index range.
        UniqueConstraint("asset_id", "day", "metric", "connection_id"),
        CheckConstraint(f"metric IN ({_in(METRICS)})", name="metric"),
        CheckConstraint(
            f"attribution IS NULL OR attribution IN ({_in(ATTRIBUTIONS)})", name="attribution"
        ),
    )

    id: Mapped[int] = mapped_column(_BIG_ID, primary_key=True, autoincrement=True)
    asset_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("assets.id", ondelete="CASCADE"))
    day: Mapped[date] = mapped_column(Date)
    metric: Mapped[str] = mapped_column(String(40))
    #: The connection the records came from (GA4 property, CRM).
    connection_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("connections.id", ondelete="CASCADE")
    )
    value: Mapped[Decimal] = mapped_column(VALUE_TYPE)
    #: How many records the value was computed from.
    records: Mapped[int] = mapped_column()
    #: The attribution rule a credited metric was split by (None: measured, not credited).
    attribution: Mapped[str | None] = mapped_column(String(10), default=None)
    #: The run whose changes made the computation (None: a recomputation not caused by one).
    run_id: Mapped[uuid.UUID | None] = mapped_column(default=None)
    computed_at: Mapped[datetime] = mapped_column(default=utcnow)


class MetricFactRecord(Base):
    """One record behind an asset's facts of one day and source connection."""

    __tablename__ = "metric_fact_records"
    __table_args__ = (
        UniqueConstraint("asset_id", "day", "connection_id", "record_id"),
        # A run's changed records find the assets whose facts they fed.
        Index("ix_metric_fact_records_record_id", "record_id"),
    )

    id: Mapped[int] = mapped_column(_BIG_ID, primary_key=True, autoincrement=True)
    asset_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("assets.id", ondelete="CASCADE"))
    day: Mapped[date] = mapped_column(Date)
    connection_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("connections.id", ondelete="CASCADE")
    )
    record_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("records.id", ondelete="CASCADE"))


__all__ = ["ATTRIBUTIONS", "METRICS", "MetricFact", "MetricFactRecord"]
