"""What the GA4 simulator's property knows: its dimensions and metrics, drawn from the world.

Every ``AnalyticsRow`` of the sandbox world is one raw hit-aggregate of one asset on one day;
these tables say how a dimension reads it and which column a metric sums. The metadata
endpoint renders them in ``GET /v1beta/properties/{id}/metadata``'s shape.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from syncbridge.sandbox.world import AnalyticsRow

RawMetrics = tuple[int, int, int, int, Decimal]


@dataclass(frozen=True)
class DimensionInfo:
    ui_name: str
    description: str
    category: str
    custom: bool = False


@dataclass(frozen=True)
class MetricInfo:
    ui_name: str
    description: str
    category: str
    type: str
    #: Index into ``raw_metrics(row)``.
    column: int
    deprecated_names: tuple[str, ...] = ()


DIMENSIONS: dict[str, DimensionInfo] = {
    "date": DimensionInfo("Date", "The date of the event, formatted as YYYYMMDD.", "Time"),
    "pagePath": DimensionInfo(
        "Page path",
        "The portion of the URL between the hostname and query string for web pages.",
        "Page / Screen",
    ),
    "sessionCampaignName": DimensionInfo(
        "Session campaign",
        "The marketing campaign name for a session.",
        "Traffic Source",
    ),
    "sessionSourceMedium": DimensionInfo(
        "Session source / medium",
        "The combined values of the dimensions sessionSource and sessionMedium.",
        "Traffic Source",
    ),
    "sessionSource": DimensionInfo(
        "Session source", "The source that initiated a session.", "Traffic Source"
    ),
    "sessionMedium": DimensionInfo(
        "Session medium", "The medium that initiated a session.", "Traffic Source"
    ),
    "customEvent:asset_id": DimensionInfo(
        "asset_id",
        "An event-scoped custom dimension: the DAM asset id sent with each event.",
        "Custom",
        custom=True,
    ),
}
DIMENSION_NAMES = tuple(DIMENSIONS)
# ``dimension_values`` writes a row's values in this order.
assert DIMENSION_NAMES == (
    "date",
    "pagePath",
    "sessionCampaignName",
    "sessionSourceMedium",
    "sessionSource",
    "sessionMedium",
    "customEvent:asset_id",
)

METRICS: dict[str, MetricInfo] = {
    "screenPageViews": MetricInfo(
        "Views", "The number of app screens or web pages your users viewed.", "Page / Screen",
        "TYPE_INTEGER", 0,
    ),
    "sessions": MetricInfo(
        "Sessions", "The number of sessions that began on your site or app.", "Session",
        "TYPE_INTEGER", 1,
    ),
    "eventCount": MetricInfo(
        "Event count", "The count of events.", "Event", "TYPE_INTEGER", 2
    ),
    "keyEvents": MetricInfo(
        "Key events", "The count of key events.", "Key event", "TYPE_INTEGER", 3,
        deprecated_names=("conversions",),
    ),
    "totalRevenue": MetricInfo(
        "Total revenue",
        "The sum of revenue from purchases, subscriptions, and advertising.",
        "Revenue",
        "TYPE_CURRENCY",
        4,
    ),
}  # fmt: skip
#: Names the API still accepts for a renamed metric (``conversions`` became ``keyEvents``).
METRIC_ALIASES = {old: name for name, m in METRICS.items() for old in m.deprecated_names}

#: ``MetricType`` enum numbers (google.analytics.data.v1beta.MetricType).
METRIC_TYPE_NUMBERS = {"TYPE_INTEGER": 1, "TYPE_FLOAT": 2, "TYPE_CURRENCY": 9}


def metric_info(name: str) -> MetricInfo | None:
    """The metric ``name`` stands for, following deprecated names."""
    return METRICS.get(METRIC_ALIASES.get(name, name))


def dimension_values(row: AnalyticsRow, day: str) -> tuple[str, ...]:
    """Every dimension of a world row, in ``DIMENSION_NAMES`` order (``day`` is YYYYMMDD)."""
    source, _, medium = row.source_medium.partition(" / ")
    return (
        day,
        row.page_path,
        row.campaign_key,
        row.source_medium,
        source,
        medium,
        row.asset_id,
    )


def raw_metrics(row: AnalyticsRow) -> RawMetrics:
    return (row.views, row.sessions, row.event_count, row.key_events, row.revenue)


def metadata(property_id: str) -> dict[str, Any]:
    """``GET /v1beta/properties/{id}/metadata``: every dimension and metric of the property."""
    dimensions = [
        {
            "apiName": name,
            "uiName": d.ui_name,
            "description": d.description,
            "category": d.category,
            **({"customDefinition": True} if d.custom else {}),
        }
        for name, d in DIMENSIONS.items()
    ]
    metrics = [
        {
            "apiName": name,
            "uiName": m.ui_name,
            "description": m.description,
            "type": m.type,
            "category": m.category,
            **({"deprecatedApiNames": list(m.deprecated_names)} if m.deprecated_names else {}),
        }
        for name, m in METRICS.items()
    ]
    return {
        "name": f"properties/{property_id}/metadata",
        "dimensions": dimensions,
        "metrics": metrics,
    }


__all__ = [
    "DIMENSIONS",
    "DIMENSION_NAMES",
    "METRICS",
    "METRIC_ALIASES",
    "METRIC_TYPE_NUMBERS",
    "DimensionInfo",
    "MetricInfo",
    "RawMetrics",
    "dimension_values",
    "metadata",
    "metric_info",
    "raw_metrics",
]
