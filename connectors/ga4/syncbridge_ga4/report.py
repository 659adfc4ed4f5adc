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
from itertools import chain
from json.encoder import encode_basestring_ascii
from operator import itemgetter, methodcaller
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


def _integers(texts: list[str]) -> Sequence[Number]:
    return list(map(int, texts))


def _floats(texts: list[str]) -> Sequence[Number]:
    values = list(map(float, texts))
    if not all(map(math.isfinite, values)):
        raise ValueError("not finite")
    return values


def _currencies(texts: list[str]) -> Sequence[Number]:
    values = list(map(Decimal, texts))
    if not all(map(Decimal.is_finite, values)):
        raise ValueError("not finite")
    return values


Column = Callable[[list[str]], Sequence[Number]]
_PARSERS: dict[str, Column] = {
    "TYPE_INTEGER": _integers,
    "TYPE_CURRENCY": _currencies,
    # FLOAT, STANDARD, durations (SECONDS..HOURS) and distances: plain doubles.
    "TYPE_FLOAT": _floats,
}


def metric_column(metric_type: object) -> Column:
    """How a metric header's ``type`` (name or enum number) turns a column of values into
    numbers (one C-level pass); raises ``ValueError`` for an unknown type."""
    name = METRIC_TYPE_NAMES.get(metric_type) if isinstance(metric_type, int) else metric_type
    if name in _PARSERS:
        return _PARSERS[name]
    if isinstance(name, str) and name.startswith("TYPE_"):
        return _PARSERS["TYPE_FLOAT"]
    raise ValueError(f"unknown metric type {metric_type!r}")


def record_id(property_id: str, stream: str, day: str, dimensions: Mapping[str, str]) -> str:
    """``<day>:<digest>``: stable for one property, stream, day and set of dimension values."""
    values = sorted((k, v) for k, v in dimensions.items() if k != "date")
    canonical = json.dumps([property_id, stream, day, values], separators=(",", ":"))
    return f"{day}:{hashlib.sha256(canonical.encode()).hexdigest()[:32]}"


@dataclass(frozen=True)
class IdRule:
    """``record_id`` for one report, with everything but the row's values worked out once.

    Builds the very text ``record_id`` hashes (``json.dumps`` of the same list) by putting
    the values into a template, a page at a time, which is several times cheaper per row.
    """

    #: The hashed text with a ``%s`` for the quoted day, then one per other dimension.
    template: str
    #: The same with the quotes around each ``%s``: for values JSON writes as they are.
    plain_template: str
    #: Where the other dimensions' values are, in the order of the template (by name).
    indexes: tuple[int, ...]

    @classmethod
    def of(cls, property_id: str, stream: str, dimensions: Sequence[str]) -> IdRule:
        named = sorted((name, i) for i, name in enumerate(dimensions) if name != "date")
        head = f"[{_quote(property_id)},{_quote(stream)},"
        pairs = ",".join(f"[{_quote(name)},\0]" for name, _ in named)
        # ``%`` in a name is literal; ``\0`` (quoted as ``\u0000``, never raw) marks a value.
        template = f"{head}\0,[{pairs}]]".replace("%", "%%")
        return cls(
            template=template.replace("\0", "%s"),
            plain_template=template.replace("\0", '"%s"'),
            indexes=tuple(i for _, i in named),
        )

    def __call__(self, day: str, values: Sequence[str]) -> str:
        """The id of one row: ``values`` by dimension, as configured."""
        return self.ids([day], [[value] for value in values])[0]

    def ids(self, days: list[str], columns: Sequence[list[str]]) -> list[str]:
        """The ids of a page of rows: their ISO days, and their values column by column."""
        values = [days, *(columns[i] for i in self.indexes)]
        if all(map(_plain, values)):
            # Nothing to escape (the usual page): JSON writes each value as it is.
            texts = map(self.plain_template.__mod__, zip(*values, strict=True))
        else:
            quoted = [list(map(_quote, column)) for column in values]
            texts = map(self.template.__mod__, zip(*quoted, strict=True))
        digests = map(_HEX, map(hashlib.sha256, map(str.encode, texts)))
        return list(map("%s:%.32s".__mod__, zip(days, digests, strict=True)))


_HEX = methodcaller("hexdigest")
#: JSON string quoting exactly as ``json.dumps`` does it (ASCII, the C implementation).
_quote: Callable[[str], str] = encode_basestring_ascii
#: The characters ``_quote`` leaves as they are: printable ASCII but ``"`` and ``\``.
_PLAIN = bytes(c for c in range(0x20, 0x7F) if c not in b'"\\')


def _plain(values: list[str]) -> bool:
    """Whether ``_quote`` would only put quotes around each of ``values``."""
    text = "".join(values)
    return text.isascii() and not text.encode().translate(None, _PLAIN)


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

    @cached_property
    def _row_data(self) -> Callable[..., dict[str, Any]]:
        return row_builder([*self.settings.dimensions, *self.settings.metrics])

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
        # A page at a time, column by column: each step is one C-level pass (map, slice,
        # set, dict) instead of a Python loop doing the same checks value by value.
        if not isinstance(answer, dict):
            raise TypeError("not a JSON object")
        dims, metrics = self.settings.dimensions, self.settings.metrics
        names = [h["name"] for h in answer.get("dimensionHeaders", [])]
        if names != dims:
            raise ValueError(f"dimension headers {names} are not {dims}")
        headers = answer.get("metricHeaders", [])
        if [h["name"] for h in headers] != metrics:
            raise ValueError("metric headers do not match the metrics asked for")
        parsers = [metric_column(h.get("type")) for h in headers]
        rows = _rows(answer)
        dim_columns = _dimension_columns(rows, dims)
        days = dim_columns[dims.index("date")]
        metric_columns = _metric_columns(rows, metrics, parsers)
        ids = self._id_rule.ids(days, dim_columns)
        # The columns are of one length: ``_values`` checked every row's width.
        data = list(map(self._row_data, *dim_columns, *metric_columns))
        records = Record.many(self.stream, ids, data)
        row_count = int(answer.get("rowCount", 0))
        quota = answer.get("propertyQuota", {})
        return ReportPage(records, days, row_count, quota if isinstance(quota, dict) else {})


_DIMENSION_VALUES = itemgetter("dimensionValues")
_METRIC_VALUES = itemgetter("metricValues")
_VALUE = itemgetter("value")


def _dimension_columns(rows: list[Any], dims: list[str]) -> list[list[str]]:
    """Each dimension's values, the ``date`` column as ISO days."""
    values = _values(list(map(_DIMENSION_VALUES, rows)), len(dims))
    if not _strings(values):
        raise ValueError("a dimension value is not a string")
    columns = [values[i :: len(dims)] for i in range(len(dims))]
    at = dims.index("date")
    iso_days = {raw: _iso_day(raw) for raw in set(columns[at])}
    columns[at] = list(map(iso_days.__getitem__, columns[at]))
    return columns


def _metric_columns(
    rows: list[Any], metrics: list[str], parsers: list[Column]
) -> list[Sequence[Number]]:
    """Each metric's values, parsed by its header's type; only short strings are parsed."""
    values = _values(list(map(_METRIC_VALUES, rows)), len(metrics))
    if not _strings(values) or max(map(len, values), default=0) > MAX_NUMBER_CHARS:
        at = next(
            i for i, v in enumerate(values) if not isinstance(v, str) or len(v) > MAX_NUMBER_CHARS
        )
        raise ValueError(f"{metrics[at % len(metrics)]} is not a short number string")
    return [parse(values[i :: len(metrics)]) for i, parse in enumerate(parsers)]


def _values(rows: list[Any], width: int) -> list[Any]:
    """The ``value`` of every item of every row, row after row (rows of ``width`` items)."""
    if rows and set(map(len, rows)) != {width}:
        raise ValueError("a row does not have one value per header")
    return list(map(_VALUE, chain.from_iterable(rows)))


def _strings(values: list[Any]) -> bool:
    """Whether every one of ``values`` is a string (``join`` checks that in one C pass)."""
    try:
        "".join(values)
    except TypeError:
        return False
    return True


def row_builder(names: Sequence[str]) -> Callable[..., dict[str, Any]]:
    """``f(v0, v1, ...) -> {names[0]: v0, names[1]: v1, ...}``, later names winning.

    A dict display in a compiled function builds a row's dict at half the cost of
    ``dict(zip(names, values))``. Only generated identifiers enter the compiled text; the
    names are bound as values, so no configured name can change the code.
    """
    params = ", ".join(f"v{i}" for i in range(len(names)))
    items = ", ".join(f"k{i}: v{i}" for i in range(len(names)))
    scope: dict[str, Any] = {f"k{i}": name for i, name in enumerate(names)}
    exec(f"def build({params}):\n    return {{{items}}}", scope)
    build: Callable[..., dict[str, Any]] = scope["build"]
    return build


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
    "metric_column",
    "record_id",
]
