"""What the GA4 simulator's property knows: its dimensions and metrics, drawn from the world.

Every ``AnalyticsRow`` of the sandbox world is one raw hit-aggregate of one asset on one day;
these tables say how a dimension reads it and which column a metric sums. The metadata
endpoint renders them in ``GET /v1beta/properties/{id}/metadata``'s shape.
"""

from __future__ import annotations

from collections.abc import Callable
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
    read: Callable[[AnalyticsRow, str], str]
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


def _source(row: AnalyticsRow, _day: str) -> str:
    return row.source_medium.partition(" / ")[0]


def _medium(row: AnalyticsRow, _day: str) -> str:
    return row.source_medium.partition(" / ")[2]


DIMENSIONS: dict[str, DimensionInfo] = {
    "date": DimensionInfo(
        "Date", "The date of the event, formatted as YYYYMMDD.", "Time", lambda _r, day: day
    ),
    "pagePath": DimensionInfo(
        "Page path",
        "The portion of the URL between the hostname and query string for web pages.",
        "Page / Screen",
        lambda r, _d: r.page_path,
    ),
    "sessionCampaignName": DimensionInfo(
        "Session campaign",
        "The marketing campaign name for a session.",
        "Traffic Source",
        lambda r, _d: r.campaign_key,
    ),
    "sessionSourceMedium": DimensionInfo(
        "Session source / medium",
        "The combined values of the dimensions sessionSource and sessionMedium.",
        "Traffic Source",
        lambda r, _d: r.source_medium,
    ),
    "sessionSource": DimensionInfo(
        "Session source", "The source that initiated a session.", "Traffic Source", _source
    ),
    "sessionMedium": DimensionInfo(
        "Session medium", "The medium that initiated a session.", "Traffic Source", _medium
    ),
    "customEvent:asset_id": DimensionInfo(
        "asset_id",
        "An event-scoped custom dimension: the DAM asset id sent with each event.",
        "Custom",
        lambda r, _d: r.asset_id,
        custom=True,
    ),
}
DIMENSION_NAMES = tuple(DIMENSIONS)

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
    "metadata",
    "metric_info",
    "raw_metrics",
]
