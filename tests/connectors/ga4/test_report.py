"""The pieces a GA4 read is made of: external ids, metric parsing, the read cursor."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from syncbridge_ga4.read_cursor import ReadCursor
from syncbridge_ga4.report import IdRule, id_day, metric_parser
from syncbridge_ga4.report import record_id as connector_record_id

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
def test_the_fast_id_rule_is_the_documented_one(values: list[str]) -> None:
    dims = dict(zip(DIMS, values, strict=True))
    want = record_id("123", "perf", "2026-11-30", dims)
    assert connector_record_id("123", "perf", "2026-11-30", dims) == want
    assert IdRule.of("123", "perf", DIMS)("2026-11-30", values) == want
    assert id_day(want) == date(2026, 11, 30)


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
    parsed = metric_parser(metric_type)(text)
    assert parsed == value
    assert type(parsed) is type(value)


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
        metric_parser(metric_type)(text)


@pytest.mark.parametrize("metric_type", ["INTEGER", 3, None, "METRIC_TYPE_UNSPECIFIED_X"])
def test_unknown_metric_types_are_refused(metric_type: object) -> None:
    with pytest.raises(ValueError, match="unknown metric type"):
        metric_parser(metric_type)


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
