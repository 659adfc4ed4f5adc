"""Metric facts from linked records: pure functions, no database.

Which records count, and as what:

* **analytics rows** (connector ``ga4``, any stream; and CSV exports whose stream's role is
  ``analytics``): a row with a ``date`` gives its day's ``views`` (``screenPageViews``),
  ``sessions``, ``key_events`` (``keyEvents``), ``events`` (``eventCount``) and ``revenue``
  (``totalRevenue``, exact) to every asset it is linked to. A CSV export's column map may
  name its fields either way (``screenPageViews`` or ``views``). A metric the row lacks, or
  holds no number for, is left out.
* **won deals** (HubSpot ``deals``, Salesforce ``Opportunity``): on its close date a won deal
  counts once in ``influenced_deals`` and credits its amount to ``influenced_revenue`` of the
  assets linked to it (the assets its campaigns used). Open and lost deals count nowhere: an
  open deal's amount is pipeline, not revenue, and its close date an expectation that moves.

Attribution (how a won deal's amount is credited): ``even`` (the default) splits it evenly
over the live assets linked to the deal *within each DAM connection* (the same campaign
asset mirrored in two DAMs is credited once per DAM, so each DAM's assets add up to the
deal's amount); the split is in cents, the leftover cents going one each to the first assets
by id, so the shares add up exactly. ``full`` credits each linked asset the whole amount.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

Attribution = Literal["even", "full"]

#: GA4 metric name -> our metric, in the order facts are listed.
ANALYTICS_METRICS: dict[str, str] = {
    "screenPageViews": "views",
    "sessions": "sessions",
    "keyEvents": "key_events",
    "eventCount": "events",
    "totalRevenue": "revenue",
}
#: Connectors whose records may be analytics rows (see :func:`is_analytics_row`).
ANALYTICS_CONNECTORS = frozenset({"ga4", "csv"})
#: Metrics credited from won deals (``influenced_revenue`` by the attribution rule).
DEAL_METRICS = ("influenced_deals", "influenced_revenue")
_CENT = Decimal("0.01")


@dataclass(frozen=True, slots=True)
class WonDeal:
    """What a won deal or opportunity contributes: its close date and amount."""

    day: date
    amount: Decimal


@dataclass(frozen=True, slots=True)
class LinkedRecord:
    """A live record linked to an asset, as the computation needs it."""

    asset_id: uuid.UUID
    record_id: uuid.UUID
    connection_id: uuid.UUID
    connector_key: str
    stream: str
    data: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Fact:
    """One computed value (see ``syncbridge.models.MetricFact``)."""

    asset_id: uuid.UUID
    day: date
    metric: str
    connection_id: uuid.UUID
    value: Decimal
    records: int
    attribution: Attribution | None = None


@dataclass(frozen=True, slots=True)
class Source:
    """A record behind an asset's facts of one day and connection."""

    asset_id: uuid.UUID
    day: date
    connection_id: uuid.UUID
    record_id: uuid.UUID


def _number(value: Any) -> Decimal | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        number = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        return None
    return number if number.is_finite() else None


def _day(value: Any) -> date | None:
    """A day from ``YYYY-MM-DD``, GA4's ``YYYYMMDD`` or an ISO date-time (its date)."""
    if not isinstance(value, str):
        return None
    text = value.strip()
    try:
        if len(text) == 8 and text.isdigit():
            return date(int(text[:4]), int(text[4:6]), int(text[6:]))
        if len(text) == 10:
            return date.fromisoformat(text)
        return datetime.fromisoformat(text.replace("Z", "+00:00")).date()
    except ValueError:
        return None


def _truthy(value: Any) -> bool:
    return value is True or (isinstance(value, str) and value.strip().lower() == "true")


def is_analytics_row(connector_key: str, data: Mapping[str, Any]) -> bool:
    """Whether a record is an analytics row: every GA4 row, and the rows of CSV exports
    whose stream's role is ``analytics`` (each carries it as ``_role``)."""
    if connector_key == "csv":
        return data.get("_role") == "analytics"
    return connector_key in ANALYTICS_CONNECTORS


def analytics_values(data: Mapping[str, Any]) -> tuple[date, dict[str, Decimal]] | None:
    """An analytics row's day and metric values (each under GA4's name, or ours); None when
    it names no day."""
    day = _day(data.get("date"))
    if day is None:
        return None
    values = {}
    for field, metric in ANALYTICS_METRICS.items():
        raw = data.get(field)
        number = _number(data.get(metric) if raw is None else raw)
        if number is not None:
            values[metric] = number
    return day, values


def _hubspot_deal(data: Mapping[str, Any]) -> WonDeal | None:
    won = _truthy(data.get("hs_is_closed_won")) or data.get("dealstage") == "closedwon"
    day, amount = _day(data.get("closedate")), _number(data.get("amount"))
    return WonDeal(day, amount) if won and day and amount is not None else None


def _salesforce_opportunity(data: Mapping[str, Any]) -> WonDeal | None:
    day, amount = _day(data.get("CloseDate")), _number(data.get("Amount"))
    return (
        WonDeal(day, amount) if _truthy(data.get("IsWon")) and day and amount is not None else None
    )


#: (connector, stream) of deal records -> how a won one reads.
DEAL_STREAMS = {
    ("hubspot", "deals"): _hubspot_deal,
    ("salesforce", "Opportunity"): _salesforce_opportunity,
}


def won_deal(connector_key: str, stream: str, data: Mapping[str, Any]) -> WonDeal | None:
    """The won deal a record is, if it is one (None: not a deal, not won, or unreadable)."""
    read = DEAL_STREAMS.get((connector_key, stream))
    return None if read is None else read(data)


def split_evenly(amount: Decimal, parts: int) -> list[Decimal]:
    """``amount`` split into ``parts`` shares of whole cents that add up to it exactly (the
    first shares take the leftover cents)."""
    if parts < 1:
        raise ValueError("parts must be at least 1")
    cents = int((amount / _CENT).to_integral_value())
    base, left = divmod(cents, parts)
    return [Decimal(base + (1 if k < left else 0)) * _CENT for k in range(parts)]


def credit(
    amount: Decimal, asset_id: uuid.UUID, sharing: list[uuid.UUID], attribution: Attribution
) -> Decimal:
    """What of a deal's ``amount`` goes to ``asset_id`` among the ``sharing`` assets (sorted
    ids of the live assets linked to the deal in the asset's DAM connection)."""
    if attribution == "full" or len(sharing) <= 1:
        return amount
    return split_evenly(amount, len(sharing))[sharing.index(asset_id)]


@dataclass
class _Cell:
    value: Decimal
    records: int


def compute_facts(
    linked: Iterable[LinkedRecord],
    *,
    asset_connections: Mapping[uuid.UUID, uuid.UUID],
    sharing: Mapping[tuple[uuid.UUID, uuid.UUID], list[uuid.UUID]],
    attribution: Attribution,
) -> tuple[list[Fact], list[Source]]:
    """The facts and sources of the assets in ``asset_connections`` (live asset -> its DAM
    connection) from their distinct ``linked`` records. ``sharing`` gives, per (deal record,
    DAM connection), the sorted ids of the live assets linked to the deal there."""
    cells: dict[tuple[uuid.UUID, date, str, uuid.UUID], _Cell] = {}
    sources: set[Source] = set()

    def add(asset_id: uuid.UUID, day: date, metric: str, conn: uuid.UUID, value: Decimal) -> None:
        cell = cells.setdefault((asset_id, day, metric, conn), _Cell(Decimal(0), 0))
        cell.value += value
        cell.records += 1

    for item in linked:
        dam = asset_connections.get(item.asset_id)
        if dam is None:
            continue
        if is_analytics_row(item.connector_key, item.data):
            row = analytics_values(item.data)
            if row is None:
                continue
            day, values = row
            for metric, value in values.items():
                add(item.asset_id, day, metric, item.connection_id, value)
        else:
            deal = won_deal(item.connector_key, item.stream, item.data)
            if deal is None:
                continue
            day = deal.day
            shared = sharing.get((item.record_id, dam), [item.asset_id])
            add(item.asset_id, day, "influenced_deals", item.connection_id, Decimal(1))
            amount = credit(deal.amount, item.asset_id, shared, attribution)
            add(item.asset_id, day, "influenced_revenue", item.connection_id, amount)
        sources.add(Source(item.asset_id, day, item.connection_id, item.record_id))
    facts = [
        Fact(
            asset_id=a,
            day=d,
            metric=m,
            connection_id=c,
            value=cell.value,
            records=cell.records,
            attribution=attribution if m == "influenced_revenue" else None,
        )
        for (a, d, m, c), cell in cells.items()
    ]
    return facts, sorted(sources, key=_source_order)


def _source_order(source: Source) -> tuple[str, date, str, str]:
    return (str(source.asset_id), source.day, str(source.connection_id), str(source.record_id))


def group_sharing(
    rows: Iterable[tuple[uuid.UUID, uuid.UUID, uuid.UUID]],
) -> dict[tuple[uuid.UUID, uuid.UUID], list[uuid.UUID]]:
    """(deal record, asset, asset's DAM connection) rows -> the sorted assets per (deal,
    DAM connection)."""
    grouped: dict[tuple[uuid.UUID, uuid.UUID], set[uuid.UUID]] = defaultdict(set)
    for record_id, asset_id, dam in rows:
        grouped[(record_id, dam)].add(asset_id)
    return {key: sorted(ids, key=str) for key, ids in grouped.items()}


__all__ = [
    "ANALYTICS_CONNECTORS",
    "DEAL_METRICS",
    "DEAL_STREAMS",
    "Attribution",
    "Fact",
    "LinkedRecord",
    "Source",
    "WonDeal",
    "analytics_values",
    "compute_facts",
    "credit",
    "group_sharing",
    "is_analytics_row",
    "split_evenly",
    "won_deal",
]
