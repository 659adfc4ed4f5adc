"""The pieces a GA4 read is made of: external ids, metric parsing, the read cursor."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from datetime import date
from decimal import Decimal
from typing import Any

import pytest
import syncbridge_ga4.report as report_module
from syncbridge_ga4.read_cursor import ReadCursor
from syncbridge_ga4.report import Report, id_day, metric_column
from syncbridge_ga4.report import record_id as connector_record_id
from syncbridge_ga4.settings import ReportSettings

from syncbridge.connector.errors import PermanentConnectorError

from .support import record_id

DIMS = ["pagePath", "date", "customEvent:asset_id", "sessionSourceMedium"]


@pytest.mark.parametrize(
    "values",
    [
        ["/lp/a.jpg", "20261130", "id-1", "google / cpc"],
        ['/lp/"quoted"\\path', "20261130", "ünïcödé ✓", "\x00\t\n"],
        ["", "20261130", "", "(not set)"],
    ],
)
def test_page_ids_are_the_documented_ones(values: list[str]) -> None:
    dims = dict(zip(DIMS, values, strict=True))
    want = record_id("123", "perf", "2026-11-30", dims)
    assert connector_record_id("123", "perf", "2026-11-30", dims) == want
    page = _report().page(_answer([(values, ["1", "2", "3"])]), "here")
    assert [r.external_id for r in page.records] == [want]
    assert id_day(want) == date(2026, 11, 30)


def test_a_percent_sign_in_the_stream_or_property_is_literal() -> None:
    values = ["/p%s", "20261130", "%d", "b"]
    want = record_id("1%s", "s%%", "2026-11-30", dict(zip(DIMS, values, strict=True)))
    report = Report("s%%", "1%s", ReportSettings(dimensions=DIMS, metrics=PAGE_METRICS))
    page = report.page(_answer([(values, ["1", "2", "3"])]), "here")
    assert page.records[0].external_id == want


def test_ids_are_stable_and_one_a_day_and_combination_of_values() -> None:
    """The same row gets the same id read after read (another connector, memos full or
    not); two rows differ in id when they differ in the day or in any other value."""
    rows = [
        (["/a", "20261129", "x", "y"], ["1", "2", "3"]),
        (["/a", "20261130", "x", "y"], ["1", "2", "3"]),
        (["/a", "20261130", "x", "z"], ["1", "2", "3"]),
        (["/a", "20261130", "y", "x"], ["1", "2", "3"]),
        (["/b", "20261130", "x", "y"], ["1", "2", "3"]),
        # Values that run together the same way when joined: still distinct.
        (["/a", "20261130", "x,", "y"], ["1", "2", "3"]),
        (["/a", "20261130", "x", ",y"], ["1", "2", "3"]),
    ]
    first = [r.external_id for r in _report().page(_answer(rows), "here").records]
    assert len(set(first)) == len(rows)
    report = _report()
    for _ in range(2):
        again = [r.external_id for r in report.page(_answer(rows[::-1]), "here").records]
        assert again == first[::-1]
    assert first[0][11:] == first[1][11:], "the digest leaves the day out: the day is in front"
    assert [i[:11] for i in first[:2]] == ["2026-11-29:", "2026-11-30:"]


def test_memos_start_over_when_full(monkeypatch: pytest.MonkeyPatch) -> None:
    rows = [([f"/p{n}", f"202611{10 + n}", "x", "y"], [str(n), f"{n}.5", str(n)]) for n in range(9)]
    want = _report().page(_answer(rows), "here").records
    monkeypatch.setattr(report_module, "MEMO_SIZE", 2)
    report = _report()
    for _ in range(2):
        assert report.page(_answer(rows), "here").records == want


def test_ids_ignore_the_order_dimensions_are_configured_in() -> None:
    values = dict(zip(DIMS, ["/p", "20261130", "a", "b"], strict=True))
    reordered = dict(reversed(values.items()))
    assert record_id("1", "s", "2026-11-30", values) == record_id("1", "s", "2026-11-30", reordered)
    assert record_id("1", "s", "2026-11-30", values) != record_id("2", "s", "2026-11-30", values)
    assert record_id("1", "s", "2026-11-30", values) != record_id("1", "t", "2026-11-30", values)


@pytest.mark.parametrize(
    "external_id", ["x", "2026-11-30", "2026-13-01:" + "a" * 32, "2026-11-30:ABC"]
)
def test_foreign_ids_have_no_day(external_id: str) -> None:
    assert id_day(external_id) is None


@pytest.mark.parametrize(
    ("metric_type", "text", "value"),
    [
        ("TYPE_INTEGER", "1520", 1520),
        (1, "7", 7),
        ("TYPE_CURRENCY", "12.30", Decimal("12.30")),
        (9, "0", Decimal(0)),
        ("TYPE_FLOAT", "0.25", 0.25),
        ("TYPE_SECONDS", "61.5", 61.5),
        ("TYPE_MILLISECONDS", "5", 5.0),
        ("TYPE_STANDARD", "3", 3.0),
        (13, "1.5", 1.5),
    ],
)
def test_values_are_parsed_by_their_headers_type(
    metric_type: object, text: str, value: object
) -> None:
    column = metric_column(metric_type)([text, text])
    assert list(column) == [value, value]
    assert all(type(v) is type(value) for v in column)


@pytest.mark.parametrize(
    ("metric_type", "text"),
    [
        ("TYPE_INTEGER", "1.5"),
        ("TYPE_FLOAT", "nan"),
        ("TYPE_CURRENCY", "Infinity"),
        ("TYPE_FLOAT", "x"),
    ],
)
def test_unparseable_or_non_finite_values_are_refused(metric_type: str, text: str) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - the report turns any of them into one error
        metric_column(metric_type)(["1", text])


@pytest.mark.parametrize("metric_type", ["INTEGER", 3, None, "METRIC_TYPE_UNSPECIFIED_X"])
def test_unknown_metric_types_are_refused(metric_type: object) -> None:
    with pytest.raises(ValueError, match="unknown metric type"):
        metric_column(metric_type)


def test_a_cursor_counts_the_rows_of_its_day_across_pages() -> None:
    start = ReadCursor.decode(None, first="90daysAgo", lookback_days=3, floor=None)
    assert start == ReadCursor("90daysAgo")
    first = start.after_page(["2026-11-01", "2026-11-01", "2026-11-02"])
    assert first.encode() == "at:2026-11-02:1"
    second = first.after_page(["2026-11-02", "2026-11-02"])
    assert second.encode() == "at:2026-11-02:3"
    third = second.after_page(["2026-11-02", "2026-11-03", "2026-11-03"])
    assert third.encode() == "at:2026-11-03:2"
    assert third.after_page([]) == third
    assert third.watermark() == "after:2026-11-03"
    assert ReadCursor.decode(third.encode(), first="x", lookback_days=3, floor=None) == third


def test_a_watermark_restarts_the_look_back_before_it() -> None:
    cursor = ReadCursor.decode("after:2026-11-30", first="x", lookback_days=3, floor=None)
    assert (cursor.start, cursor.skip, cursor.since) == ("2026-11-27", 0, date(2026, 11, 30))
    assert cursor.watermark() == "after:2026-11-30", "nothing newer read: the watermark stays"
    floored = ReadCursor.decode(
        "after:2026-11-30", first="x", lookback_days=10, floor=date(2026, 11, 25)
    )
    assert floored.start == "2026-11-25"
    moved = cursor.after_page(["2026-11-29"])
    assert moved.encode() == "at:2026-11-29:1:2026-11-30"
    assert moved.watermark() == "after:2026-11-30"
    assert ReadCursor("90daysAgo").watermark() is None


@pytest.mark.parametrize("cursor", ["", "at:2026-11-30", "after:yesterday", "at:2026-02-30:1", "7"])
def test_foreign_cursors_are_refused(cursor: str) -> None:
    with pytest.raises(PermanentConnectorError, match="not a read cursor"):
        ReadCursor.decode(cursor, first="x", lookback_days=3, floor=None)


PAGE_METRICS = ["screenPageViews", "totalRevenue", "averageSessionDuration"]
PAGE_TYPES = ["TYPE_INTEGER", "TYPE_CURRENCY", "TYPE_SECONDS"]


def _report() -> Report:
    settings = ReportSettings(dimensions=DIMS, metrics=PAGE_METRICS)
    return Report("perf", "123", settings)


def _answer(rows: list[tuple[list[str], list[str]]]) -> dict[str, Any]:
    """A runReport answer of ``rows`` (dimension values by ``DIMS``, metric values)."""
    return {
        "dimensionHeaders": [{"name": d} for d in DIMS],
        "metricHeaders": [
            {"name": m, "type": t} for m, t in zip(PAGE_METRICS, PAGE_TYPES, strict=True)
        ],
        "rows": [
            {
                "dimensionValues": [{"value": v} for v in dims],
                "metricValues": [{"value": v} for v in metrics],
            }
            for dims, metrics in rows
        ],
        "rowCount": len(rows),
    }


PLAIN_ROWS = [
    (["/lp/a.jpg", "20261129", "id-1", "google / cpc"], ["10", "1.50", "61.5"]),
    (["/lp/b.jpg", "20261130", "id-2", "(not set)"], ["0", "0", "0"]),
]


@pytest.mark.parametrize(
    "rows",
    [
        PLAIN_ROWS,
        # One value JSON escapes: the whole page takes the quoting path.
        [*PLAIN_ROWS, (['/lp/"c".jpg', "20261130", "id-3", "x"], ["1", "2", "3"])],
        [*PLAIN_ROWS, (["/lp/d.jpg", "20261130", "ünï ✓", "x"], ["1", "2", "3"])],
        [*PLAIN_ROWS, (["/lp/d.jpg", "20261130", "x", "del\x7f"], ["1", "2", "3"])],
        [*PLAIN_ROWS, (["/lp/e.jpg", "20261130", "back\\slash", "x"], ["1", "2", "3"])],
        [*PLAIN_ROWS, (["/lp/f.jpg", "20261130", "tab\t", "\x00"], ["1", "2", "3"])],
    ],
)
def test_a_page_becomes_records_by_name_with_the_documented_ids(
    rows: list[tuple[list[str], list[str]]],
) -> None:
    page = _report().page(_answer(rows), "here")
    assert page.row_count == len(rows)
    for record, (dims, metrics) in zip(page.records, rows, strict=True):
        day = f"{dims[1][:4]}-{dims[1][4:6]}-{dims[1][6:]}"
        values = {**dict(zip(DIMS, dims, strict=True)), "date": day}
        assert record.stream == "perf"
        assert record.external_id == record_id("123", "perf", day, values)
        assert record.data == {
            **values,
            "screenPageViews": int(metrics[0]),
            "totalRevenue": Decimal(metrics[1]),
            "averageSessionDuration": float(metrics[2]),
        }
        assert type(record.data["screenPageViews"]) is int
        assert type(record.data["totalRevenue"]) is Decimal
        assert type(record.data["averageSessionDuration"]) is float
    assert page.days == [r.data["date"] for r in page.records]


def _set(row: int, kind: str, at: int, value: object) -> Callable[[dict[str, Any]], None]:
    def change(answer: dict[str, Any]) -> None:
        answer["rows"][row][kind][at]["value"] = value

    return change


def _drop(row: int, kind: str) -> Callable[[dict[str, Any]], None]:
    def change(answer: dict[str, Any]) -> None:
        answer["rows"][row][kind].pop()

    return change


def _shift(answer: dict[str, Any]) -> None:
    """One row a value short, the next one too long: as many values as headers in all."""
    answer["rows"][1]["dimensionValues"].append(answer["rows"][0]["dimensionValues"].pop())


def _set_type(at: int, metric_type: object) -> Callable[[dict[str, Any]], None]:
    def change(answer: dict[str, Any]) -> None:
        answer["metricHeaders"][at]["type"] = metric_type

    return change


def _replace(key: str, value: object) -> Callable[[dict[str, Any]], None]:
    def change(answer: dict[str, Any]) -> None:
        answer[key] = value

    return change


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (_set(0, "dimensionValues", 0, 7), "a dimension value is not a string"),
        (_set(1, "dimensionValues", 1, "2026-11-30"), "a date value is not YYYYMMDD"),
        (_set(1, "dimensionValues", 1, "20261131"), "day is out of range"),
        (_set(1, "metricValues", 0, 7), "screenPageViews is not a short number string"),
        (_set(1, "metricValues", 0, 7.5), "screenPageViews is not a short number string"),
        (_set(0, "metricValues", 1, "1" * 65), "totalRevenue is not a short number string"),
        (_set(1, "metricValues", 0, "1.5"), "invalid literal for int"),
        (_set(0, "metricValues", 1, "Infinity"), "not finite"),
        (_set(0, "metricValues", 2, "nan"), "not finite"),
        (_set(0, "metricValues", 1, "12 USD"), "ConversionSyntax"),
        (_drop(1, "metricValues"), "one value per header"),
        (_drop(0, "dimensionValues"), "one value per header"),
        (_shift, "one value per header"),
        (_replace("rows", {"0": {}}), "rows is not a list"),
        (
            _replace(
                "rows", [{"dimensionValues": _answer(PLAIN_ROWS)["rows"][0]["dimensionValues"]}]
            ),
            "missing 'metricValues'",
        ),
        (_replace("rows", ["row"]), "string indices must be integers"),
        (_replace("metricHeaders", [{"name": "screenPageViews"}]), "metric headers do not match"),
        (_set_type(2, "CURRENCY"), "unknown metric type 'CURRENCY'"),
        (_set_type(2, 3), "unknown metric type 3"),
    ],
)
def test_a_malformed_page_is_refused_naming_what_is_wrong(
    change: Callable[[dict[str, Any]], None], reason: str
) -> None:
    """Whether the answer comes decoded (``page``) or as the body the vendor sent
    (``page_of``, which decodes it straight into typed rows and, when that fails, again to
    find what is wrong)."""
    answer = copy.deepcopy(_answer(PLAIN_ROWS))
    _report().page(answer, "here")
    _report().page_of(json.dumps(answer).encode(), "here")
    change(answer)
    with pytest.raises(PermanentConnectorError, match="not a runReport response") as caught:
        _report().page(answer, "here")
    assert reason in str(caught.value)
    with pytest.raises(PermanentConnectorError, match="not a runReport response") as caught:
        _report().page_of(json.dumps(answer).encode(), "here")
    assert reason in str(caught.value)


@pytest.mark.parametrize("body", [b"", b"{", b"<html>502</html>", b'{"rows": [1,'])
def test_a_body_that_is_not_json_is_refused_as_such(body: bytes) -> None:
    with pytest.raises(PermanentConnectorError, match="here: the answer is not JSON"):
        _report().page_of(body, "here")


def test_a_body_gives_the_records_its_decoded_answer_gives() -> None:
    answer = _answer(PLAIN_ROWS)
    answer["rowCount"] = "12"  # an int32 may come as a string (proto3 JSON)
    answer["propertyQuota"] = {"tokensPerHour": {"consumed": 1, "remaining": 39999}}
    answer["kind"] = "analyticsData#runReport"  # fields a read does not use are skipped
    decoded, body = (
        _report().page(answer, "here"),
        _report().page_of(json.dumps(answer).encode(), "here"),
    )
    assert body == decoded
    assert body.row_count == 12
    assert body.property_quota == answer["propertyQuota"]


def test_a_report_by_date_alone_has_one_record_a_day() -> None:
    settings = ReportSettings(dimensions=["date"], metrics=["averageSessionDuration"])
    answer = {
        "dimensionHeaders": [{"name": "date"}],
        "metricHeaders": [{"name": "averageSessionDuration", "type": "TYPE_SECONDS"}],
        "rows": [
            {"dimensionValues": [{"value": day}], "metricValues": [{"value": "1.5"}]}
            for day in ("20261129", "20261130")
        ],
    }
    page = Report("daily", "123", settings).page(answer, "here")
    assert [r.external_id for r in page.records] == [
        record_id("123", "daily", day, {"date": day}) for day in ("2026-11-29", "2026-11-30")
    ]
    assert [dict(r.data) for r in page.records] == [
        {"date": "2026-11-29", "averageSessionDuration": 1.5},
        {"date": "2026-11-30", "averageSessionDuration": 1.5},
    ]
    assert page.days == ["2026-11-29", "2026-11-30"]


def test_each_row_gets_its_own_day_whatever_the_row_before() -> None:
    """Rows usually come a day at a time; a page whose dates repeat, change and come back
    still gives each record the day of its own row (and its id that day's)."""
    dates = ["20261129", "20261129", "20261130", "20261129", "20261201", "20261201"]
    rows = [([f"/p{n}", raw, "x", "y"], ["1", "2", "3"]) for n, raw in enumerate(dates)]
    page = _report().page(_answer(rows), "here")
    days = [f"{raw[:4]}-{raw[4:6]}-{raw[6:]}" for raw in dates]
    assert page.days == days
    assert [r.data["date"] for r in page.records] == days
    assert [r.external_id[:10] for r in page.records] == days


def test_a_property_quota_that_is_not_an_object_is_ignored() -> None:
    """It only paces the reads: a wrong one costs the pacing, not the page."""
    answer = _answer(PLAIN_ROWS)
    answer["propertyQuota"] = ["tokensPerHour"]
    want = _report().page(_answer(PLAIN_ROWS), "here").records
    for page in (
        _report().page(answer, "here"),
        _report().page_of(json.dumps(answer).encode(), "here"),
    ):
        assert page.records == want
        assert page.property_quota == {}


@pytest.mark.parametrize(
    "encode",
    [
        lambda text: b"\xef\xbb\xbf" + text.encode(),  # a byte order mark
        lambda text: text.encode("utf-16"),
        lambda text: text.replace('"/p/"', '"/p/\\ud83d"').encode(),  # a lone surrogate
        lambda text: text.replace('"QUOTA"', "NaN").encode(),
    ],
)
def test_a_body_only_the_standard_decoder_takes_still_gives_its_records(
    encode: Callable[[str], bytes],
) -> None:
    """JSON msgspec refuses but ``json.loads`` takes (as the connector read it before)."""
    answer = _answer([(["/p/", "20261130", "x", "y"], ["1", "2.5", "3"])])
    answer["propertyQuota"] = {"tokensPerHour": "QUOTA"}
    body = encode(json.dumps(answer))
    want = _report().page(json.loads(body), "here")
    assert _report().page_of(body, "here") == want
    assert len(want.records) == 1


def test_counts_and_types_are_taken_as_the_dict_path_took_them() -> None:
    """``rowCount`` as any number ``int()`` takes; a header ``type`` as any JSON value."""
    answer = _answer(PLAIN_ROWS)
    answer["rowCount"] = 12.0
    answer["metricHeaders"][0]["type"] = 1  # TYPE_INTEGER by number
    for page in (
        _report().page(answer, "here"),
        _report().page_of(json.dumps(answer).encode(), "here"),
    ):
        assert page.row_count == 12
        assert page.records == _report().page(_answer(PLAIN_ROWS), "here").records
