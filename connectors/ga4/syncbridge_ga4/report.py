"""One configured report: the runReport body it sends and the records its answers become.

Every GA4 value arrives as a string; metrics are parsed by the type their header declares
(``TYPE_INTEGER`` -> int, ``TYPE_CURRENCY`` -> Decimal, the other types -> float), ``date``
(``YYYYMMDD``) becomes an ISO date string. One row is one record whose external id is
``<ISO date>:<digest>``, the digest the first 32 hex digits of a SHA-256 of property, stream
and the other dimension values by name (``record_id``): the same row read again (GA4 revises
recent days) gets the same id, two rows of one day differ in some other dimension value and so
in digest, rows of two days differ in the date in front, and that date lets ``fetch`` re-run
just that day. The day is left out of the digest so that the digest of a combination of values
is worked out once a read, not once a day: a combination comes back day after day.
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
from operator import itemgetter
from typing import Any

import msgspec

from syncbridge.connector.errors import PermanentConnectorError
from syncbridge.connector.jsonbody import loads
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
#: Entries a report keeps of each memo (digests, days, parsed metric values) before it starts
#: over: a memo saves work on values that come back, it must not grow with a long read.
MEMO_SIZE = 1 << 16
#: Reports (property, stream, dimensions, metric types) whose memos and compiled page loop
#: the process keeps before it starts over (see ``_shared``).
SHARED_SIZE = 16
_DATE = re.compile(r"[0-9]{8}")
_ID = re.compile(r"([0-9]{4}-[0-9]{2}-[0-9]{2}):([0-9a-f]{32})")


def _float(text: str) -> Number:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError("not finite")
    return value


def _currency(text: str) -> Number:
    value = Decimal(text)
    if not value.is_finite():
        raise ValueError("not finite")
    return value


Parse = Callable[[str], Number]
_PARSE: dict[str, Parse] = {
    "TYPE_INTEGER": int,
    "TYPE_CURRENCY": _currency,
    # FLOAT, STANDARD, durations (SECONDS..HOURS) and distances: plain doubles.
    "TYPE_FLOAT": _float,
}


def metric_parser(metric_type: object) -> Parse:
    """How a metric header's ``type`` (name or enum number) turns one value into a number;
    raises ``ValueError`` for an unknown type."""
    name = METRIC_TYPE_NAMES.get(metric_type) if isinstance(metric_type, int) else metric_type
    if name in _PARSE:
        return _PARSE[name]
    if isinstance(name, str) and name.startswith("TYPE_"):
        return _PARSE["TYPE_FLOAT"]
    raise ValueError(f"unknown metric type {metric_type!r}")


Column = Callable[[list[str]], Sequence[Number]]
#: Rows of a runReport answer -> their records and the ISO day of each.
PageBuilder = Callable[[list[Any]], tuple[list[Record], list[str]]]


def metric_column(metric_type: object) -> Column:
    """``metric_parser`` for a column of values; raises ``ValueError`` for an unknown type."""
    parse = metric_parser(metric_type)

    def column(texts: list[str]) -> Sequence[Number]:
        return list(map(parse, texts))

    return column


def record_id(property_id: str, stream: str, day: str, dimensions: Mapping[str, str]) -> str:
    """``<day>:<digest>``: stable for one property, stream, day and set of dimension values."""
    values = sorted((k, v) for k, v in dimensions.items() if k != "date")
    return day + _digest(property_id, stream, values)


def _digest(property_id: str, stream: str, pairs: list[tuple[str, str]]) -> str:
    """``:<32 hex digits>`` of the other dimensions' ``(name, value)`` pairs, sorted."""
    canonical = json.dumps([property_id, stream, pairs], separators=(",", ":"))
    return ":" + hashlib.sha256(canonical.encode()).hexdigest()[:32]


class _Digests(dict[tuple[str, ...], str]):
    """``_digest`` by the other dimensions' values (in configured order), each worked out
    once, as it is first asked for; only strings are taken (``_quote`` refuses the rest).

    The hashed text is the one ``_digest`` hashes, put together from parts quoted once
    (``json.dumps`` quotes strings with ``_quote``): several times cheaper a new value.
    """

    def __init__(self, property_id: str, stream: str, names: Sequence[str]) -> None:
        super().__init__()
        self.head = f"[{_quote(property_id)},{_quote(stream)},["
        #: The values' positions in name order, and ``["<name>",`` for each in that order.
        self.order = tuple(sorted(range(len(names)), key=names.__getitem__))
        self.pairs = tuple(f"[{_quote(names[i])}," for i in self.order)

    def __missing__(self, values: tuple[str, ...]) -> str:
        quoted = map(_quote, map(values.__getitem__, self.order))
        pairs = ",".join(f"{p}{q}]" for p, q in zip(self.pairs, quoted, strict=True))
        text = f"{self.head}{pairs}]]"
        digest = ":" + hashlib.sha256(text.encode()).hexdigest()[:32]
        if len(self) >= MEMO_SIZE:
            self.clear()
        self[values] = digest
        return digest


class _Chain(dict[tuple[str, ...], list[Any]]):
    """Entries ``[*values, digest, next]`` by the other dimensions' values (configured order),
    each made once, as it is first asked for; ``next`` is the entry of the row that followed
    one of this entry's rows when that row's entry had to be looked up (see ``page_builder``).

    A link is only ever set to an entry just looked up, so it points into the memo as it is
    then: once the memo starts over, nothing in it leads to the entries it dropped.
    """

    def __init__(self, digests: Mapping[tuple[str, ...], str]) -> None:
        super().__init__()
        self.digests = digests

    def __missing__(self, values: tuple[str, ...]) -> list[Any]:
        entry = [*values, self.digests[values], None]
        if len(self) >= MEMO_SIZE:
            self.clear()
        self[values] = entry
        return entry


class _Days(dict[str, str]):
    """ISO days by GA4 date value (``YYYYMMDD``), each checked and converted once."""

    def __missing__(self, value: str) -> str:
        day = _iso_day(value)
        if len(self) >= MEMO_SIZE:
            self.clear()
        self[value] = day
        return day


class _Numbers(dict[str, Number]):
    """One metric's values by their text, each checked and parsed once."""

    def __init__(self, metric: str, parse: Parse) -> None:
        super().__init__()
        self.metric, self.parse = metric, parse

    def __missing__(self, text: str) -> Number:
        if text.__class__ is not str or len(text) > MAX_NUMBER_CHARS:
            raise ValueError(f"{self.metric} is not a short number string")
        number = self.parse(text)
        if len(self) >= MEMO_SIZE:
            self.clear()
        self[text] = number
        return number


#: JSON string quoting exactly as ``json.dumps`` does it (ASCII, the C implementation).
_quote: Callable[[str], str] = encode_basestring_ascii

#: Memos and compiled page loops by what they depend on, kept by the process rather than by
#: one connector: every sync run builds a new connector, and the next run of a report meets
#: the same days, combinations of dimension values and metric values again (it re-reads
#: its look-back days; a combination comes back day after day), so the run starts with its
#: memos full and its loop compiled instead of paying for both again. Bounded: the whole
#: cache starts over past ``SHARED_SIZE`` reports, as each memo does past ``MEMO_SIZE``.
_SHARED: dict[tuple[object, ...], Any] = {}


def _shared(key: tuple[object, ...], make: Callable[[], Any]) -> Any:
    """The process's object for ``key``, made by ``make`` the first time it is asked for.

    Two threads asking at once may both make one (each works; the last one stays).
    """
    found = _SHARED.get(key)
    if found is None:
        if len(_SHARED) >= SHARED_SIZE:
            _SHARED.clear()
        found = _SHARED[key] = make()
    return found


def id_day(external_id: str) -> date | None:
    """The day an external id belongs to, or None when it is not one of ours."""
    match = _ID.fullmatch(external_id)
    if match is None:
        return None
    try:
        return date.fromisoformat(match.group(1))
    except ValueError:
        return None


class _Value(msgspec.Struct, gc=False):
    """A ``DimensionValue`` or ``MetricValue``: every value arrives as a string."""

    value: str


class _Row(msgspec.Struct, gc=False):
    dimensionValues: list[_Value]
    metricValues: list[_Value]


class _Header(msgspec.Struct):
    name: str


class _MetricHeader(msgspec.Struct):
    name: str
    #: ``MetricType`` by name, or by number with ``enum-encoding=int`` (any JSON value is
    #: taken here; ``metric_parser`` refuses what is not a type).
    type: Any = None


class RunReportAnswer(msgspec.Struct):
    """The parts of a ``RunReportResponse`` a read uses (the others are skipped unread).

    Decoding into these types checks every value's type as it goes, and makes attribute
    objects instead of a dict per value: about twice as fast as ``json.loads`` on a page.
    """

    # msgspec copies a default list for each answer.
    dimensionHeaders: list[_Header] = []
    metricHeaders: list[_MetricHeader] = []
    rows: list[_Row] = []
    #: An ``int32``: a number, which proto3's JSON mapping also accepts as a string (any
    #: JSON value is taken here; ``int()`` refuses what is not a count).
    rowCount: Any = 0
    #: Taken when it is an object, else ignored (it only paces the reads).
    propertyQuota: Any = None


_decode_answer = msgspec.json.Decoder(RunReportAnswer).decode


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
    def _digests(self) -> _Digests:
        others = tuple(d for d in self.settings.dimensions if d != "date")
        key = ("digests", self.property_id, self.stream, others)
        digests: _Digests = _shared(key, lambda: _Digests(self.property_id, self.stream, others))
        return digests

    @cached_property
    def _days(self) -> _Days:
        days: _Days = _shared(("days",), _Days)
        return days

    @cached_property
    def _builders(self) -> dict[tuple[object, ...], PageBuilder]:
        """The row builder for each combination of metric header types met (one, usually),
        shared by the reports of this property and stream with these dimensions and metrics."""
        dimensions, metrics = tuple(self.settings.dimensions), tuple(self.settings.metrics)
        key = ("builders", self.property_id, self.stream, dimensions, metrics)
        builders: dict[tuple[object, ...], PageBuilder] = _shared(key, dict)
        return builders

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

    def page_of(self, content: bytes, where: str) -> ReportPage:
        """The records of one answer's body: decoded straight into ``RunReportAnswer``. A
        body that is not JSON, or not a runReport response, raises PermanentConnectorError
        (naming what is wrong: such a body is decoded again, slowly, to find it)."""
        try:
            return self._page(_decode_answer(content))
        except (msgspec.DecodeError, *_MALFORMED):
            # Not JSON msgspec takes (garbage, or JSON only the standard decoder takes: a
            # byte order mark, UTF-16, NaN, a lone surrogate), or not a runReport response.
            pass
        try:
            answer = loads(content)
        except ValueError:
            raise PermanentConnectorError(f"ga4: {where}: the answer is not JSON") from None
        return self.page(answer, where)

    def page(self, answer: Any, where: str) -> ReportPage:
        """The records of one decoded answer; a malformed one raises PermanentConnectorError."""
        try:
            try:
                typed = msgspec.convert(answer, RunReportAnswer)
                return self._page(typed)
            except (msgspec.ValidationError, *_MALFORMED) as exc:
                # Something is wrong: the checks, part by part, name it (else ``exc`` does).
                self._check(answer)
                raise ValueError(str(exc)) from None
        except _MALFORMED as exc:
            raise PermanentConnectorError(
                f"ga4: {where}: the answer is not a runReport response ({_reason(exc)})"
            ) from None

    def _page(self, answer: RunReportAnswer) -> ReportPage:
        dims, metrics = self.settings.dimensions, self.settings.metrics
        names = [h.name for h in answer.dimensionHeaders]
        if names != dims:
            raise ValueError(f"dimension headers {names} are not {dims}")
        headers = answer.metricHeaders
        if [h.name for h in headers] != metrics:
            raise ValueError("metric headers do not match the metrics asked for")
        types = tuple(h.type for h in headers)
        build = self._builders.get(types)
        if build is None:
            build = self._builder(types)
        records, days = build(answer.rows)
        quota = answer.propertyQuota
        return ReportPage(
            records, days, int(answer.rowCount), quota if isinstance(quota, dict) else {}
        )

    def _check(self, answer: Any) -> None:
        """Raise the error that names what is wrong with a decoded answer, if anything: its
        shape, its headers, then its rows value by value."""
        if not isinstance(answer, dict):
            raise TypeError("not a JSON object")
        dims, metrics = self.settings.dimensions, self.settings.metrics
        names = [h["name"] for h in answer.get("dimensionHeaders", [])]
        if names != dims:
            raise ValueError(f"dimension headers {names} are not {dims}")
        headers = answer.get("metricHeaders", [])
        if [h["name"] for h in headers] != metrics:
            raise ValueError("metric headers do not match the metrics asked for")
        parsers = [metric_parser(h.get("type")) for h in headers]
        _check_rows(_rows(answer), dims, metrics, parsers)
        int(answer.get("rowCount", 0))

    def _builder(self, types: tuple[object, ...]) -> PageBuilder:
        if len(self._builders) >= 8:
            self._builders.clear()
        build = self._builders[types] = page_builder(
            self.stream,
            self.settings.dimensions,
            list(zip(self.settings.metrics, types, strict=True)),
            self._days,
            self._digests,
        )
        return build


#: What a malformed answer raises on its way through ``_page`` (and ``msgspec.convert``).
_MALFORMED = (KeyError, TypeError, ValueError, InvalidOperation, IndexError)


def page_builder(
    stream: str,
    dimensions: Sequence[str],
    metrics: Sequence[tuple[str, object]],
    days: Mapping[str, str],
    digests: Mapping[tuple[str, ...], str],
) -> PageBuilder:
    """``f(rows) -> (records, days)``: the rows of a ``RunReportAnswer`` (``dimensionValues``
    by ``dimensions``, ``metricValues`` by ``metrics``, pairs of name and header type) as
    records of ``stream``, and the ISO day of each, in one loop compiled for this report.

    The day comes from ``days``, the id's digest from ``digests`` (by the other dimensions'
    values, in configured order), integers from a memo of each metric's values: each by a
    lookup that checks and converts only values not seen before (integer metrics repeat a
    lot). Rows come ordered by date, so a row's date text is compared with the row before's
    first and looked up only when it differs (a string comparison costs a fraction of a
    lookup: the text is new each row, its hash not yet worked out). Other numbers (mostly
    distinct) are checked and parsed where they are: a short string, a finite number; but
    ``"0"``, the usual revenue of a row, is compared for and taken as a zero parsed once
    (numbers are immutable: the records share it).
    Unpacking checks each row's width; any other malformed value raises some ``KeyError``,
    ``TypeError``, ``ValueError`` or ``InvalidOperation``. Each row's ``data`` is a dict
    display with the names as constant keys (a later name wins, as in any dict display);
    ``Record.many`` makes the records. Names enter the compiled text only as ``repr``
    literals (which evaluate to the very string, whatever it holds); every other identifier
    is generated.
    """
    at = dimensions.index("date")
    env: dict[str, Any] = {
        "many": Record.many,
        "stream": stream,
        "days": days,
        "digests": digests,
        "isfinite": math.isfinite,
        "Decimal": Decimal,
        "float": float,
        "str": str,
    }
    lines, items, others = [], [], []
    for i, name in enumerate(dimensions):
        if i == at:
            items.append(f"{name!r}: day")
        else:
            lines.append(f"v{i} = d{i}.value")
            items.append(f"{name!r}: v{i}")
            others.append(f"v{i}")
    lines += [
        f"text = d{at}.value",
        "if text != last:",
        "    day = days[text]",
        "    last = text",
    ]
    for j, (name, metric_type) in enumerate(metrics):
        parse = metric_parser(metric_type)
        if parse is int:
            env[f"p{j}"] = _Numbers(name, parse)
            items.append(f"{name!r}: p{j}[m{j}.value]")
            continue
        number, finite = (
            ("Decimal", f"x{j}.is_finite()") if parse is _currency else ("float", f"isfinite(x{j})")
        )
        env[f"z{j}"] = parse("0")
        lines += [
            f"t{j} = m{j}.value",
            f"if t{j} == '0':",
            f"    x{j} = z{j}",
            f"elif t{j}.__class__ is not str or len(t{j}) > {MAX_NUMBER_CHARS}:",
            "    raise ValueError",
            "else:",
            f"    x{j} = {number}(t{j})",
            f"    if not {finite}:",
            "        raise ValueError",
        ]
        items.append(f"{name!r}: x{j}")
    d = "".join(f"d{i}, " for i in range(len(dimensions)))
    m = "".join(f"m{j}, " for j in range(len(metrics)))
    key = "".join(f"{v}, " for v in others)
    if others:
        # The entry predicted (``ahead``: the one that came after the row before's entry)
        # is taken when its values equal the row's; else the row's entry is looked up and
        # becomes the prediction after the row before's.
        env["chain"] = _Chain(digests)
        n = len(others)
        differs = " or ".join(f"{v} != e[{k}]" for k, v in enumerate(others))
        lines += [
            "e = ahead",
            f"if e is None or {differs}:",
            f"    e = chain[({key})]",
            "    if behind is not None:",
            f"        behind[{n + 1}] = e",
            "behind = e",
            f"ahead = e[{n + 1}]",
        ]
        digest = f"e[{n}]"
    else:
        digest = "digests[()]"
    source = "\n".join(
        [
            "def build(rows):",
            f"    ({', '.join(env)},) = env",
            "    ids, data, read = [], [], []",
            # The date text of the row before (none yet: the first row's is looked up), the
            # entry of its other values and the entry predicted for this row.
            "    last = behind = ahead = None",
            "    add_id, add_data, add_day = ids.append, data.append, read.append",
            "    for row in rows:",
            f"        ({d}) = row.dimensionValues",
            f"        ({m}) = row.metricValues",
            *(f"        {line}" for line in lines),
            "        add_day(day)",
            f"        add_id(day + {digest})",
            f"        add_data({{{', '.join(items)}}})",
            "    return many(stream, ids, data), read",
        ]
    )
    scope: dict[str, Any] = {"env": tuple(env.values())}
    exec(source, scope)
    build: PageBuilder = scope["build"]
    return build


_DIMENSION_VALUES = itemgetter("dimensionValues")
_METRIC_VALUES = itemgetter("metricValues")
_VALUE = itemgetter("value")


def _check_rows(rows: list[Any], dims: list[str], metrics: list[str], parsers: list[Parse]) -> None:
    """Raise the error that names what is wrong with ``rows``, if anything, column by column:
    the dimensions (widths, strings, days), then the metrics (widths, short strings, numbers)."""
    dimension_values = _values(list(map(_DIMENSION_VALUES, rows)), len(dims))
    if not all(isinstance(v, str) for v in dimension_values):
        raise ValueError("a dimension value is not a string")
    for raw in dimension_values[dims.index("date") :: len(dims)]:
        _iso_day(raw)
    metric_values = _values(list(map(_METRIC_VALUES, rows)), len(metrics))
    for at, value in enumerate(metric_values):
        if not isinstance(value, str) or len(value) > MAX_NUMBER_CHARS:
            raise ValueError(f"{metrics[at % len(metrics)]} is not a short number string")
    for at, value in enumerate(metric_values):
        parsers[at % len(metrics)](value)


def _values(rows: list[Any], width: int) -> list[Any]:
    """The ``value`` of every item of every row, row after row (rows of ``width`` items)."""
    if rows and set(map(len, rows)) != {width}:
        raise ValueError("a row does not have one value per header")
    return list(map(_VALUE, chain.from_iterable(rows)))


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
    "Report",
    "ReportPage",
    "id_day",
    "metric_column",
    "metric_parser",
    "page_builder",
    "record_id",
]
