"""What a report reuses from row to row and from connector to connector: the entry predicted
for a row's other values, the zero parsed once, the memos and compiled loop kept by the
process. None of it may change a record."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from syncbridge_ga4.report import Report
from syncbridge_ga4.settings import ReportSettings

from .support import record_id

DIMS = ["date", "pagePath", "sessionSourceMedium"]
METRICS = ["screenPageViews", "totalRevenue", "averageSessionDuration"]
TYPES = ["TYPE_INTEGER", "TYPE_CURRENCY", "TYPE_SECONDS"]

Row = tuple[str, str, str]


def _answer(rows: list[Row], metrics: list[str] | None = None) -> dict[str, Any]:
    """A runReport answer of ``(date, pagePath, sessionSourceMedium)`` rows."""
    values = metrics or ["1", "2.5", "3"]
    return {
        "dimensionHeaders": [{"name": d} for d in DIMS],
        "metricHeaders": [{"name": m, "type": t} for m, t in zip(METRICS, TYPES, strict=True)],
        "rows": [
            {
                "dimensionValues": [{"value": v} for v in row],
                "metricValues": [{"value": v} for v in values],
            }
            for row in rows
        ],
        "rowCount": len(rows),
    }


def _report(property_id: str = "123", dims: list[str] = DIMS) -> Report:
    return Report("perf", property_id, ReportSettings(dimensions=dims, metrics=METRICS))


def _want(property_id: str, rows: list[Row]) -> list[str]:
    """The documented id of each row, worked out independently of the connector."""
    out = []
    for raw, path, source in rows:
        day = f"{raw[:4]}-{raw[4:6]}-{raw[6:]}"
        dims = {"date": day, "pagePath": path, "sessionSourceMedium": source}
        out.append(record_id(property_id, "perf", day, dims))
    return out


# Rows by day, each day in the order GA4 sorts them: combinations come back day after day,
# one drops out, new ones come in, and some differ from another only in their last or first
# value (a prediction equal in all but one value must not be taken).
DAYS: list[list[tuple[str, str]]] = [
    [("/a", "x"), ("/a", "y"), ("/b", "x"), ("/c", "x")],
    [("/a", "x"), ("/a", "y"), ("/b", "x"), ("/c", "x")],
    [("/a", "x"), ("/b", "x"), ("/c", "x")],
    [("/a", "x"), ("/a", "yy"), ("/a", "y"), ("/b", "x"), ("/bb", "x"), ("/c", "x")],
    [("/a", "y"), ("/a", "x"), ("/c", "x"), ("/b", "x")],
    [("/b", "x"), ("/a", "x")],
]
ROWS: list[Row] = [
    (f"202611{10 + n}", path, source) for n, day in enumerate(DAYS) for path, source in day
]


def test_each_row_gets_the_id_of_its_own_values_whatever_was_predicted() -> None:
    want = _want("123", ROWS)
    report = _report()
    for size in (len(ROWS), 5, 3, 1):
        pages = [ROWS[i : i + size] for i in range(0, len(ROWS), size)]
        got = [r.external_id for page in pages for r in report.page(_answer(page), "h").records]
        assert got == want, f"pages of {size}"
    # Read backwards: every prediction made above is now wrong.
    backwards = [r.external_id for r in report.page(_answer(ROWS[::-1]), "h").records]
    assert backwards == want[::-1]


def test_reports_of_another_property_or_dimension_order_keep_their_own_ids() -> None:
    """The process keeps memos by property, stream and dimensions: a connector of another
    property (or the same report configured in another order) never gets these ids."""
    mine = [r.external_id for r in _report("123").page(_answer(ROWS), "h").records]
    theirs = [r.external_id for r in _report("456").page(_answer(ROWS), "h").records]
    assert mine == _want("123", ROWS)
    assert theirs == _want("456", ROWS)
    reordered = ["sessionSourceMedium", "date", "pagePath"]
    answer = _answer([(source, raw, path) for raw, path, source in ROWS])
    answer["dimensionHeaders"] = [{"name": d} for d in reordered]
    again = [r.external_id for r in _report("123", reordered).page(answer, "h").records]
    assert again == mine, "the id does not depend on the order dimensions are configured in"


def test_zero_is_the_number_its_type_parses_it_to() -> None:
    report = _report()
    zero = report.page(_answer(ROWS[:2], ["0", "0", "0"]), "h").records
    for record in zero:
        assert record.data["screenPageViews"] == 0
        revenue, seconds = record.data["totalRevenue"], record.data["averageSessionDuration"]
        assert type(revenue) is Decimal
        assert str(revenue) == "0"
        assert type(seconds) is float
        assert seconds == 0.0
    # Only the text "0" is taken as zero: another spelling keeps its own exponent and sign.
    other = report.page(_answer(ROWS[:1], ["0", "0.00", "-0"]), "h").records[0].data
    assert str(other["totalRevenue"]) == "0.00"
    assert str(other["averageSessionDuration"]) == "-0.0"
