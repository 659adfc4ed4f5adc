"""The GA4 simulator's report engine: world rows aggregated, filtered, ordered and paged.

A report groups the world's ``AnalyticsRow``s of its date range by the requested dimensions
(unrequested ones are summed over), drops all-zero rows unless ``keepEmptyRows``, applies the
metric filter, and orders the rows by ``orderBys`` then by the dimension values (GA4 leaves
ties unordered; the simulator breaks them so paging is stable).

Indexed so a page costs about the page: when rows are ordered by ``date`` first (what a
paging reader asks for), each day is one cached segment and a page is found by bisecting the
segments' cumulative counts, so moving the range start from page to page reuses every day
already computed. Other orders aggregate the whole range once per distinct request and slice
it. Days within the world's late window are keyed by the simulator's revision, so a revision
recomputes just those days.
"""

from __future__ import annotations

import bisect
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from json.encoder import encode_basestring
from typing import Any

from syncbridge.sandbox.world import LATE_DAYS, World
from syncbridge_ga4.sim_query import OrderKey, Query
from syncbridge_ga4.sim_schema import dimension_values, raw_metrics

Number = int | Decimal
RawRow = tuple[tuple[str, ...], tuple[Number, ...]]
AggRow = tuple[tuple[str, ...], tuple[Number, ...]]
#: An aggregated row and its rendered JSON object.
Row = tuple[tuple[str, ...], tuple[Number, ...], str]
#: Rendered rows the segment cache holds before the least recently used segments go: a
#: whole 1,000,000-row report, kept as its rendered JSON objects only (a page needs nothing
#: else; a segment's summary is taken when it is built), so paging through it computes each
#: day once instead of thrashing an LRU smaller than the report.
CACHE_ROWS = 1_200_000
#: Raw (unaggregated) rows kept for other report shapes over the same days.
RAW_CACHE_ROWS = 100_000


@dataclass(frozen=True)
class Summary:
    """What a segment contributes beyond its rows: its size and its metric aggregates."""

    count: int
    totals: tuple[Number, ...]
    minimums: tuple[Number, ...]
    maximums: tuple[Number, ...]


@dataclass(frozen=True)
class Result:
    """One page of a report, and what the response says about the whole result."""

    #: The page's rows, each already rendered as its JSON object.
    rows: list[str]
    row_count: int
    totals: tuple[Number, ...]
    minimums: tuple[Number, ...]
    maximums: tuple[Number, ...]


@dataclass(frozen=True)
class _DayIndex:
    """A shape's days in report order with cumulative row counts: a page by two bisects."""

    #: ``day.toordinal()`` ascending, negated when the report orders by date descending.
    keys: list[int]
    days: list[date]
    #: ``cumulative[i]``: the rows of ``days[:i]``.
    cumulative: list[int]


class _RowCache:
    """An LRU of row lists, bounded by the rows it holds."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._items: OrderedDict[Any, list[Any]] = OrderedDict()
        self._rows = 0

    def get(self, key: Any, make: Callable[[], list[Any]]) -> list[Any]:
        found = self._items.get(key)
        if found is not None:
            self._items.move_to_end(key)
            return found
        made = make()
        self._items[key] = made
        self._rows += len(made)
        while self._rows > self.limit and len(self._items) > 1:
            self._rows -= len(self._items.popitem(last=False)[1])
        return made


class ReportEngine:
    """Answers checked queries over a world, at a revision and with a "today"."""

    def __init__(self, world: World, *, today: date | None = None) -> None:
        self.world = world
        self.today = today or world.analytics_end
        self.revision = 0
        self._raw = _RowCache(RAW_CACHE_ROWS)
        self._segments = _RowCache(CACHE_ROWS)
        self._summaries: dict[Any, Summary] = {}
        self._shapes: dict[tuple[Any, ...], int] = {}
        self._indexes: dict[tuple[int, int, date, bool], _DayIndex] = {}

    def days(self, start: date, end: date) -> list[date]:
        """The days of ``start..end`` that can hold rows (in the window, not after today)."""
        first = max(start, self.world.analytics_days[0])
        last = min(end, self.today, self.world.analytics_end)
        return [first + timedelta(days=k) for k in range((last - first).days + 1)]

    def effective_revision(self, day: date) -> int:
        """The revision ``day``'s rows are drawn at (settled days ignore revisions)."""
        return self.revision if 0 <= (self.world.analytics_end - day).days < LATE_DAYS else 0

    def run(self, query: Query) -> Result:
        """The page ``offset..offset+limit`` of ``query``'s rows, with count and aggregates."""
        shape = self._shape_id(query)
        if query.by_day():
            return self._run_by_day(shape, query)
        days = self.days(query.start, query.end)
        if not days:
            return Result([], 0, **_combined([], len(query.metrics)))
        revisions = tuple(self.effective_revision(d) for d in days)
        key = (shape, "range", days[0], len(days), revisions)
        rows = self._segment(key, days, query)
        summary = self._summary(key, days, query)
        page = rows[query.offset : query.offset + query.limit]
        return Result(page, len(rows), **_combined([summary], len(query.metrics)))

    def _run_by_day(self, shape: int, query: Query) -> Result:
        desc = query.orders[0].desc
        index = self._index(shape, query, desc)
        sign = -1 if desc else 1
        bounds = sorted((sign * query.start.toordinal(), sign * query.end.toordinal()))
        lo = bisect.bisect_left(index.keys, bounds[0])
        hi = bisect.bisect_right(index.keys, bounds[1])
        base, row_count = index.cumulative[lo], index.cumulative[hi] - index.cumulative[lo]
        first = base + query.offset
        stop = base + min(query.offset + query.limit, row_count)
        page: list[str] = []
        i = bisect.bisect_right(index.cumulative, first) - 1
        while first < stop and i < len(index.days):
            day = index.days[i]
            rows = self._segment((shape, day, self.effective_revision(day)), [day], query)
            start = first - index.cumulative[i]
            end = min(len(rows), stop - index.cumulative[i])
            page.extend(rows[start:end])
            first = index.cumulative[i] + end
            i += 1
        summaries = []
        if query.aggregations:
            summaries = [
                self._summary((shape, d, self.effective_revision(d)), [d], query)
                for d in index.days[lo:hi]
            ]
        return Result(page, row_count, **_combined(summaries, len(query.metrics)))

    def _index(self, shape: int, query: Query, desc: bool) -> _DayIndex:
        key = (shape, self.revision, self.today, desc)
        found = self._indexes.get(key)
        if found is None:
            days = self.days(self.world.analytics_days[0], self.today)
            if desc:
                days.reverse()
            cumulative = [0]
            for day in days:
                summary = self._summary((shape, day, self.effective_revision(day)), [day], query)
                cumulative.append(cumulative[-1] + summary.count)
            sign = -1 if desc else 1
            found = _DayIndex([sign * d.toordinal() for d in days], days, cumulative)
            if len(self._indexes) > 1000:
                self._indexes.clear()
            self._indexes[key] = found
        return found

    def _shape_id(self, query: Query) -> int:
        # Everything that decides a segment's rows besides its days, numbered once.
        orders = query.orders[1:] if query.by_day() else query.orders
        shape = (
            query.dimensions,
            query.metric_names,
            query.filter_key,
            query.keep_empty_rows,
            orders,
        )
        found = self._shapes.get(shape)
        if found is None:
            found = self._shapes[shape] = len(self._shapes)
        return found

    def _summary(self, key: Any, days: list[date], query: Query) -> Summary:
        found = self._summaries.get(key)
        if found is None:
            self._segment(key, days, query)  # building a segment notes its summary
            found = self._summaries.get(key)
            if found is None:  # the segment was cached, its summary since forgotten
                found = self._note(key, self._aggregate(days, query), query)
        return found

    def _note(self, key: Any, rows: list[Row], query: Query) -> Summary:
        summary = _summarise(rows, len(query.metrics))
        if len(self._summaries) > 200_000:
            self._summaries.clear()
        self._summaries[key] = summary
        return summary

    def _segment(self, key: Any, days: list[date], query: Query) -> list[str]:
        """The segment's rows as rendered JSON objects, in report order."""

        def build() -> list[str]:
            rows = self._aggregate(days, query)
            self._note(key, rows, query)
            return [r[2] for r in rows]

        return self._segments.get(key, build)

    def _rows_of(self, day: date) -> list[RawRow]:
        revision = self.effective_revision(day)

        def render() -> list[RawRow]:
            text = day.strftime("%Y%m%d")
            return [
                (dimension_values(row, text), raw_metrics(row))
                for row in self.world.analytics_rows(day, revision)
            ]

        return self._raw.get((day, revision), render)

    def _aggregate(self, days: list[date], query: Query) -> list[Row]:
        pick = _picker(query.dimensions)
        columns = [m.column for m in query.metrics]
        keep = query.dimension_filter
        groups: dict[tuple[str, ...], list[Number]] = {}
        for day in days:
            for dims, raw in self._rows_of(day):
                if keep is not None and not keep(dims):
                    continue
                group = pick(dims)
                acc = groups.get(group)
                if acc is None:
                    groups[group] = [raw[c] for c in columns]
                else:
                    for j, c in enumerate(columns):
                        acc[j] += raw[c]
        rows: list[AggRow] = [(k, tuple(v)) for k, v in groups.items()]
        if columns and not query.keep_empty_rows:
            rows = [r for r in rows if any(r[1])]
        if query.metric_filter is not None:
            test = query.metric_filter
            rows = [r for r in rows if test(r[1])]
        orders = query.orders[1:] if query.by_day() else query.orders
        return [(d, m, _render(d, m)) for d, m in _ordered(rows, orders, bool(columns))]


def format_value(value: Number) -> str:
    """A metric value as GA4 writes it: integers plainly, money without trailing zeros."""
    if isinstance(value, int):
        return str(value)
    if value == value.to_integral_value():
        return str(int(value))
    return format(value, "f").rstrip("0")


def _render(dims: tuple[str, ...], metrics: tuple[Number, ...]) -> str:
    """A row's JSON object, rendered once when its segment is built."""
    dims_json = ",".join(['{"value":' + _quote(v) + "}" for v in dims])
    metric_values = ",".join(['{"value":"' + format_value(v) + '"}' for v in metrics])
    return f'{{"dimensionValues":[{dims_json}],"metricValues":[{metric_values}]}}'


#: JSON string quoting (the C implementation json.dumps uses).
_quote: Callable[[str], str] = encode_basestring


def _picker(indexes: Sequence[int]) -> Callable[[tuple[str, ...]], tuple[str, ...]]:
    chosen = tuple(indexes)
    return lambda dims: tuple(dims[i] for i in chosen)


def _ordered(rows: list[AggRow], orders: Sequence[OrderKey], has_metrics: bool) -> list[AggRow]:
    rows.sort(key=lambda r: r[0])  # the tie-break: dimension values ascending
    if not orders and has_metrics:
        # GA4's own default order is undocumented; the simulator uses the first metric, desc.
        rows.sort(key=lambda r: r[1][0], reverse=True)
    for order in reversed(orders):
        rows.sort(key=_sort_key(order), reverse=order.desc)
    return rows


def _sort_key(order: OrderKey) -> Callable[[AggRow], Any]:
    i = order.index
    if order.kind == "m":
        return lambda r: r[1][i]
    if order.order_type == "CASE_INSENSITIVE_ALPHANUMERIC":
        return lambda r: r[0][i].lower()
    if order.order_type == "NUMERIC":
        return lambda r: _numeric(r[0][i])
    return lambda r: r[0][i]


def _numeric(value: str) -> tuple[int, float, str]:
    try:
        return (0, float(value), "")
    except ValueError:
        return (1, 0.0, value)


def _summarise(rows: Sequence[Row], width: int) -> Summary:
    if not rows:
        zeros: tuple[Number, ...] = (0,) * width
        return Summary(0, zeros, zeros, zeros)
    columns = list(zip(*(r[1] for r in rows), strict=True)) if width else []
    return Summary(
        len(rows),
        tuple(sum(c) for c in columns),
        tuple(min(c) for c in columns),
        tuple(max(c) for c in columns),
    )


def _combined(summaries: list[Summary], width: int) -> dict[str, tuple[Number, ...]]:
    present = [s for s in summaries if s.count]
    if not present:
        zeros: tuple[Number, ...] = (0,) * width
        return {"totals": zeros, "minimums": zeros, "maximums": zeros}
    return {
        "totals": tuple(sum(s.totals[j] for s in present) for j in range(width)),
        "minimums": tuple(min(s.minimums[j] for s in present) for j in range(width)),
        "maximums": tuple(max(s.maximums[j] for s in present) for j in range(width)),
    }


__all__ = ["ReportEngine", "Result"]
