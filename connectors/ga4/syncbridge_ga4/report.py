"""One configured report: the runReport body it sends and the records its answers become.

Every GA4 value arrives as a string; metrics are parsed by the type their header declares
(``TYPE_INTEGER`` -> int, ``TYPE_CURRENCY`` -> Decimal, the other types -> float), ``date``
(``YYYYMMDD``) becomes an ISO date string. One row is one record whose external id is
``<ISO date>:<digest>``, the digest a SHA-256 of property, stream, date and the other
dimension values by name: the same row read again (GA4 revises recent days) gets the same id,
and the date in front lets ``fetch`` re-run just that day.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from functools import cached_property
from json.encoder import encode_basestring_ascii
from typing import Any

from syncbridge.connector.errors import PermanentConnectorError
from syncbridge.connector.types import Record, StreamSpec
from syncbridge_ga4.settings import ReportSettings

Number = int | float | Decimal

#: ``MetricType`` numbers, for answers sent with ``enum-encoding=int``.
METRIC_TYPE_NAMES = {
    0: "METRIC_TYPE_UNSPECIFIED",
    1: "TYPE_INTEGER",
    2: "TYPE_FLOAT",
    4: "TYPE_SECONDS",
    5: "TYPE_MILLISECONDS",
    6: "TYPE_MINUTES",
    7: "TYPE_HOURS",
    8: "TYPE_STANDARD",
    9: "TYPE_CURRENCY",
    10: "TYPE_FEET",
    11: "TYPE_MILES",
    12: "TYPE_METERS",
    13: "TYPE_KILOMETERS",
}
#: A GA4 number is a short decimal string; anything longer is not one (and not parsed).
MAX_NUMBER_CHARS = 64
_DATE = re.compile(r"[0-9]{8}")
_ID = re.compile(r"([0-9]{4}-[0-9]{2}-[0-9]{2}):([0-9a-f]{32})")


def _integer(text: str) -> int:
    return int(text)


def _float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError("not finite")
    return value


def _currency(text: str) -> Decimal:
    value = Decimal(text)
    if not value.is_finite():
        raise ValueError("not finite")
    return value


def metric_parser(metric_type: object) -> Callable[[str], Number]:
    """How a metric header's ``type`` (name or enum number) turns values into numbers."""
    name = METRIC_TYPE_NAMES.get(metric_type) if isinstance(metric_type, int) else metric_type
    if name == "TYPE_INTEGER":
        return _integer
    if name == "TYPE_CURRENCY":
        return _currency
    if isinstance(name, str) and name.startswith("TYPE_"):
        # FLOAT, STANDARD, durations (SECONDS..HOURS) and distances: plain doubles.
        return _float
    raise ValueError(f"unknown metric type {metric_type!r}")


def record_id(property_id: str, stream: str, day: str, dimensions: Mapping[str, str]) -> str:
    """``<day>:<digest>``: stable for one property, stream, day and set of dimension values."""
    values = sorted((k, v) for k, v in dimensions.items() if k != "date")
    canonical = json.dumps([property_id, stream, day, values], separators=(",", ":"))
    return f"{day}:{hashlib.sha256(canonical.encode()).hexdigest()[:32]}"


@dataclass(frozen=True)
class IdRule:
    """``record_id`` for one report, with everything but the row's values worked out once.

    Builds the very text ``record_id`` hashes (``json.dumps`` of the same list) by joining
    quoted values, which is several times cheaper per row.
    """

    prefix: str
    #: (index into the report's dimensions, ``["name",``) by name, ``date`` left out.
    pairs: tuple[tuple[int, str], ...]

    @classmethod
    def of(cls, property_id: str, stream: str, dimensions: Sequence[str]) -> IdRule:
        named = sorted((name, i) for i, name in enumerate(dimensions) if name != "date")
        return cls(
            prefix=f"[{_quote(property_id)},{_quote(stream)},",
            pairs=tuple((i, f"[{_quote(name)},") for name, i in named),
        )

    def __call__(self, day: str, values: Sequence[str]) -> str:
        inner = ",".join([pair + _quote(values[i]) + "]" for i, pair in self.pairs])
        text = f"{self.prefix}{_quote(day)},[{inner}]]"
        return f"{day}:{hashlib.sha256(text.encode()).hexdigest()[:32]}"


#: JSON string quoting exactly as ``json.dumps`` does it (ASCII, the C implementation).
_quote: Callable[[str], str] = encode_basestring_ascii


def id_day(external_id: str) -> date | None:
    """The day an external id belongs to, or None when it is not one of ours."""
    match = _ID.fullmatch(external_id)
    if match is None:
        return None
    try:
        return date.fromisoformat(match.group(1))
    except ValueError:
        return None


@dataclass(frozen=True)
class ReportPage:
    """One runReport answer as records, with what paging and quota handling need."""

    records: list[Record]
    #: The ISO date of each record, in order (rows are ordered by date first).
    days: list[str]
    row_count: int
    property_quota: Mapping[str, Any]


@dataclass(frozen=True)
class Report:
    """A configured report of one property: request bodies out, records in."""

    stream: str
    property_id: str
    settings: ReportSettings

    @cached_property
    def _id_rule(self) -> IdRule:
        return IdRule.of(self.property_id, self.stream, self.settings.dimensions)

    @property
    def spec(self) -> StreamSpec:
        return StreamSpec(
            self.stream, primary_key=",".join(self.settings.dimensions), cursor_field="date"
        )

    def body(self, start: str, end: str, *, offset: int, limit: int) -> dict[str, Any]:
        """The runReport body for rows ``offset..offset+limit`` of ``start..end``.

        Rows are ordered by ``date`` and then every other dimension, so the order is total
        (a row is one combination of dimension values) and offsets are stable from page
        to page; the date coming first lets a read resume at a day (see ``cursor``).
        """
        others = [d for d in self.settings.dimensions if d != "date"]
        body: dict[str, Any] = {
            "dateRanges": [{"startDate": start, "endDate": end}],
            "dimensions": [{"name": d} for d in self.settings.dimensions],
            "metrics": [{"name": m} for m in self.settings.metrics],
            "orderBys": [
                {"dimension": {"dimensionName": d, "orderType": "ALPHANUMERIC"}}
                for d in ["date", *others]
            ],
            "offset": str(offset),
            "limit": str(limit),
            "keepEmptyRows": self.settings.keep_empty_rows,
            "returnPropertyQuota": True,
        }
        if self.settings.dimension_filter is not None:
            body["dimensionFilter"] = self.settings.dimension_filter
        return body

    def page(self, answer: Any, where: str) -> ReportPage:
        """The records of one answer; a malformed answer raises PermanentConnectorError."""
        try:
            return self._page(answer)
        except (KeyError, TypeError, ValueError, InvalidOperation, IndexError) as exc:
            raise PermanentConnectorError(
                f"ga4: {where}: the answer is not a runReport response ({_reason(exc)})"
            ) from None

    def _page(self, answer: Any) -> ReportPage:
        if not isinstance(answer, dict):
            raise TypeError("not a JSON object")
        dims = self.settings.dimensions
        names = [h["name"] for h in answer.get("dimensionHeaders", [])]
        if names != dims:
            raise ValueError(f"dimension headers {names} are not {dims}")
        headers = answer.get("metricHeaders", [])
        if [h["name"] for h in headers] != self.settings.metrics:
            raise ValueError("metric headers do not match the metrics asked for")
        metrics = [(h["name"], metric_parser(h.get("type"))) for h in headers]
        date_at = dims.index("date")
        make_id = self._id_rule
        iso_days: dict[str, str] = {}
        records: list[Record] = []
        days: list[str] = []
        for row in _rows(answer):
            dim_values = [v["value"] for v in row["dimensionValues"]]
            metric_values = [v["value"] for v in row["metricValues"]]
            if len(dim_values) != len(dims) or len(metric_values) != len(metrics):
                raise ValueError("a row does not have one value per header")
            if not all(isinstance(v, str) for v in dim_values):
                raise ValueError("a dimension value is not a string")
            raw_day = dim_values[date_at]
            day = iso_days.get(raw_day) or iso_days.setdefault(raw_day, _iso_day(raw_day))
            data: dict[str, Any] = dict(zip(dims, dim_values, strict=True))
            data["date"] = day
            for (name, parse), text in zip(metrics, metric_values, strict=True):
                if not isinstance(text, str) or len(text) > MAX_NUMBER_CHARS:
                    raise ValueError(f"{name} is not a short number string")
                data[name] = parse(text)
            records.append(Record(self.stream, make_id(day, dim_values), data))
            days.append(day)
        row_count = int(answer.get("rowCount", 0))
        quota = answer.get("propertyQuota", {})
        return ReportPage(records, days, row_count, quota if isinstance(quota, dict) else {})


def _rows(answer: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    rows = answer.get("rows", [])
    if not isinstance(rows, list):
        raise TypeError("rows is not a list")
    return rows


def _iso_day(value: object) -> str:
    if not isinstance(value, str) or not _DATE.fullmatch(value):
        raise ValueError("a date value is not YYYYMMDD")
    return date(int(value[:4]), int(value[4:6]), int(value[6:])).isoformat()


def _reason(exc: Exception) -> str:
    if isinstance(exc, KeyError):
        return f"missing {exc.args[0]!r}"
    return str(exc)[:200] or type(exc).__name__


__all__ = [
    "METRIC_TYPE_NAMES",
    "IdRule",
    "Report",
    "ReportPage",
    "id_day",
    "metric_parser",
    "record_id",
]
