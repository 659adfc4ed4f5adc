"""A runReport body, checked field by field the way GA4 checks it, as a ``Query``.

Unknown JSON names answer Google's ``Invalid JSON payload received. Unknown name ...``;
unknown dimensions and metrics ``Field X is not a valid dimension/metric``; everything the
simulator does not implement (several date ranges, cohorts, comparisons, pivots,
expressions, COUNT aggregation, numeric filters on dimensions) is refused with 400
``INVALID_ARGUMENT`` rather than ignored. Enums are accepted as names or numbers (the REST
transport of Google's client libraries sends numbers). The messages follow GA4's where they
are known and are otherwise plain (UNVERIFIED).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from syncbridge_ga4.settings import FIRST_GA4_DATE, MAX_DIMENSIONS, MAX_METRICS, MAX_PAGE_SIZE
from syncbridge_ga4.sim_errors import (
    GoogleError,
    as_bool,
    as_list,
    as_object,
    enum_name,
    invalid,
    known_names,
)
from syncbridge_ga4.sim_filters import (
    DimensionPredicate,
    MetricPredicate,
    compile_dimension_filter,
    compile_metric_filter,
)
from syncbridge_ga4.sim_schema import DIMENSION_NAMES, DIMENSIONS, MetricInfo, metric_info

DEFAULT_LIMIT = 10_000
_RELATIVE = re.compile(r"([0-9]{1,5})daysAgo")
_ISO = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")

REQUEST_FIELDS = frozenset(
    {
        "property",
        "dimensions",
        "metrics",
        "dateRanges",
        "dimensionFilter",
        "metricFilter",
        "offset",
        "limit",
        "metricAggregations",
        "orderBys",
        "currencyCode",
        "cohortSpec",
        "keepEmptyRows",
        "returnPropertyQuota",
        "comparisons",
    }
)
ORDER_TYPES = {
    0: "ALPHANUMERIC",
    1: "ALPHANUMERIC",
    2: "CASE_INSENSITIVE_ALPHANUMERIC",
    3: "NUMERIC",
}
AGGREGATIONS = {1: "TOTAL", 4: "COUNT", 5: "MINIMUM", 6: "MAXIMUM"}


@dataclass(frozen=True)
class OrderKey:
    """One ``orderBys`` entry: a requested dimension (``kind="d"``) or metric (``"m"``)."""

    kind: str
    index: int
    order_type: str
    desc: bool


@dataclass(frozen=True)
class Query:
    """A checked runReport request against one property, dates resolved."""

    start: date
    end: date
    #: Requested dimensions as indexes into ``DIMENSION_NAMES``.
    dimensions: tuple[int, ...]
    metric_names: tuple[str, ...]
    metrics: tuple[MetricInfo, ...]
    dimension_filter: DimensionPredicate | None
    metric_filter: MetricPredicate | None
    orders: tuple[OrderKey, ...]
    offset: int
    limit: int
    keep_empty_rows: bool
    return_quota: bool
    aggregations: tuple[str, ...]
    #: Canonical text of the filters: part of every cache key.
    filter_key: str

    @property
    def dimension_names(self) -> tuple[str, ...]:
        return tuple(DIMENSION_NAMES[i] for i in self.dimensions)

    def by_day(self) -> bool:
        """Whether rows come ordered by date first, so a day is a contiguous segment."""
        if not self.orders or "date" not in self.dimension_names:
            return False
        first = self.orders[0]
        return first.kind == "d" and self.dimension_names[first.index] == "date"


def parse_query(body: Any, *, property_id: str, today: date) -> Query:
    """Check a runReport body; raises ``GoogleError`` (400) for anything GA4 would refuse."""
    if not isinstance(body, dict):
        raise invalid("Invalid JSON payload received. Expected an object.")
    known_names(body, REQUEST_FIELDS, "")
    if "property" in body and body["property"] != f"properties/{property_id}":
        raise invalid("property in the body must match the property in the URL")
    for unsupported in ("cohortSpec", "comparisons"):
        if body.get(unsupported):
            raise invalid(f"{unsupported} is not supported by this simulator")
    if body.get("currencyCode") not in (None, "", "USD"):
        raise invalid("currencyCode: this property reports in USD only (simulator)")
    start, end = _date_range(body.get("dateRanges"), today)
    dims = _dimensions(body.get("dimensions", []))
    metric_names, metrics = _metrics(body.get("metrics", []))
    if not dims and not metrics:
        raise invalid("A report must request at least one dimension or one metric.")
    dim_names = tuple(DIMENSION_NAMES[i] for i in dims)
    dim_filter = body.get("dimensionFilter")
    metric_filter = body.get("metricFilter")
    return Query(
        start=start,
        end=end,
        dimensions=dims,
        metric_names=metric_names,
        metrics=metrics,
        dimension_filter=(
            compile_dimension_filter(dim_filter, "dimensionFilter") if dim_filter else None
        ),
        metric_filter=(
            compile_metric_filter(metric_filter, "metricFilter", metric_names)
            if metric_filter
            else None
        ),
        orders=_orders(body.get("orderBys", []), dim_names, metric_names),
        offset=_int64(body.get("offset", 0), "offset", minimum=0),
        limit=min(MAX_PAGE_SIZE, _int64(body.get("limit", DEFAULT_LIMIT), "limit", minimum=1)),
        keep_empty_rows=as_bool(body.get("keepEmptyRows", False), "keepEmptyRows"),
        return_quota=as_bool(body.get("returnPropertyQuota", False), "returnPropertyQuota"),
        aggregations=_aggregations(body.get("metricAggregations", [])),
        filter_key=json.dumps([dim_filter, metric_filter], sort_keys=True),
    )


def _date_range(value: Any, today: date) -> tuple[date, date]:
    ranges = as_list(value if value is not None else [], "dateRanges")
    if not ranges:
        raise invalid("dateRanges: at least one date range is required.")
    if len(ranges) > 1:
        raise invalid("dateRanges: this simulator serves one date range per request")
    item = as_object(ranges[0], "dateRanges[0]")
    known_names(item, {"startDate", "endDate", "name"}, "dateRanges[0]")
    start = resolve_date(item.get("startDate"), today, "startDate")
    end = resolve_date(item.get("endDate"), today, "endDate")
    if start > end:
        raise invalid(
            f"Invalid date range: startDate {start.isoformat()} is after endDate {end.isoformat()}."
        )
    return start, end


def resolve_date(value: Any, today: date, field: str) -> date:
    """A GA4 date (``YYYY-MM-DD``, ``today``, ``yesterday``, ``NdaysAgo``) as a date."""
    if not isinstance(value, str) or not value:
        raise invalid(f"dateRanges[0].{field} is required.")
    if value == "today":
        return today
    if value == "yesterday":
        return today - timedelta(days=1)
    if match := _RELATIVE.fullmatch(value):
        day = today - timedelta(days=int(match.group(1)))
    elif _ISO.fullmatch(value):
        try:
            day = date.fromisoformat(value)
        except ValueError:
            raise invalid(f"Invalid date: {value}") from None
    else:
        raise invalid(f"Invalid date: {value[:40]}. Use YYYY-MM-DD, NdaysAgo, yesterday, or today.")
    if day < FIRST_GA4_DATE:
        raise invalid(f"Dates before {FIRST_GA4_DATE.isoformat()} are not supported: {value}")
    return day


def _dimensions(value: Any) -> tuple[int, ...]:
    items = as_list(value, "dimensions")
    if len(items) > MAX_DIMENSIONS:
        raise invalid(f"Requests are limited to {MAX_DIMENSIONS} dimensions.")
    out: list[int] = []
    for i, item in enumerate(items):
        item = as_object(item, f"dimensions[{i}]")
        known_names(item, {"name", "dimensionExpression"}, f"dimensions[{i}]")
        if "dimensionExpression" in item:
            raise invalid("dimensionExpression is not supported by this simulator")
        name = item.get("name")
        if not isinstance(name, str) or name not in DIMENSIONS:
            raise invalid(
                f"Field {name} is not a valid dimension. For a list of valid dimensions and "
                "metrics, see https://developers.google.com/analytics/devguides/reporting/"
                "data/v1/api-schema"
            )
        index = DIMENSION_NAMES.index(name)
        if index in out:
            raise invalid(f"Duplicate dimension {name} in the request.")
        out.append(index)
    return tuple(out)


def _metrics(value: Any) -> tuple[tuple[str, ...], tuple[MetricInfo, ...]]:
    items = as_list(value, "metrics")
    if len(items) > MAX_METRICS:
        raise invalid(f"Requests are limited to {MAX_METRICS} metrics.")
    names: list[str] = []
    infos: list[MetricInfo] = []
    for i, item in enumerate(items):
        item = as_object(item, f"metrics[{i}]")
        known_names(item, {"name", "expression", "invisible"}, f"metrics[{i}]")
        if item.get("expression") or item.get("invisible"):
            raise invalid("metric expressions are not supported by this simulator")
        name = item.get("name")
        info = metric_info(name) if isinstance(name, str) else None
        if info is None:
            raise invalid(
                f"Field {name} is not a valid metric. For a list of valid dimensions and "
                "metrics, see https://developers.google.com/analytics/devguides/reporting/"
                "data/v1/api-schema"
            )
        if name in names:
            raise invalid(f"Duplicate metric {name} in the request.")
        names.append(str(name))
        infos.append(info)
    return tuple(names), tuple(infos)


def _orders(value: Any, dims: tuple[str, ...], metrics: tuple[str, ...]) -> tuple[OrderKey, ...]:
    out: list[OrderKey] = []
    for i, item in enumerate(as_list(value, "orderBys")):
        where = f"orderBys[{i}]"
        item = as_object(item, where)
        known_names(item, {"metric", "dimension", "pivot", "desc"}, where)
        desc = as_bool(item.get("desc", False), f"{where}.desc")
        kinds = [k for k in ("metric", "dimension", "pivot") if k in item]
        if len(kinds) != 1:
            raise invalid(f"{where}: set exactly one of metric, dimension, pivot")
        if kinds[0] == "pivot":
            raise invalid("pivot order bys are only valid in pivot reports")
        if kinds[0] == "metric":
            spec = as_object(item["metric"], f"{where}.metric")
            known_names(spec, {"metricName"}, f"{where}.metric")
            name = spec.get("metricName")
            if name not in metrics:
                raise invalid(f"{where}: metric {name} is not in the request's metrics")
            out.append(OrderKey("m", metrics.index(name), "NUMERIC", desc))
            continue
        spec = as_object(item["dimension"], f"{where}.dimension")
        known_names(spec, {"dimensionName", "orderType"}, f"{where}.dimension")
        name = spec.get("dimensionName")
        if name not in dims:
            raise invalid(f"{where}: dimension {name} is not in the request's dimensions")
        order_type = enum_name(
            spec.get("orderType", 0), ORDER_TYPES, f"{where}.dimension.orderType"
        )
        out.append(OrderKey("d", dims.index(name), order_type, desc))
    return tuple(out)


def _aggregations(value: Any) -> tuple[str, ...]:
    out = []
    for i, item in enumerate(as_list(value, "metricAggregations")):
        name = enum_name(item, AGGREGATIONS, f"metricAggregations[{i}]")
        if name == "COUNT":
            raise invalid("metricAggregations: COUNT is not supported by this simulator")
        out.append(name)
    return tuple(out)


def _int64(value: Any, field: str, *, minimum: int) -> int:
    """An int64 field: a JSON number or, as proto3 JSON writes it, a string of digits."""
    if isinstance(value, str) and re.fullmatch(r"-?[0-9]{1,19}", value):
        number = int(value)
    elif isinstance(value, int) and not isinstance(value, bool):
        number = value
    else:
        raise invalid(f"Invalid JSON payload received. Invalid value at '{field}'.")
    if number < minimum:
        what = "positive" if minimum else "non-negative"
        raise invalid(f"{field} must be {what}; got {number}")
    return number


__all__ = ["GoogleError", "OrderKey", "Query", "invalid", "parse_query", "resolve_date"]
