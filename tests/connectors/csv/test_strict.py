"""Strict parsing: a bad value, header or row refuses the whole file with its file, line,
column and reason, before any of its records is yielded (QUALITY R18)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.connectors.csv.support import (
    HEADER,
    columns,
    connector,
    records,
    refusal,
    rows,
    stream,
    write,
)

#: Enough good rows for several pages before the bad one.
GOOD = [f"2026-11-01,asset-{i:03d},{i},{i}.25" for i in range(40)]


async def _refused(root: Path, text: str, **stream_overrides: Any) -> tuple[int, str | None, str]:
    """Write ``text`` as the only file and read it: the error's line, column and reason."""
    write(root / "export.csv", text)
    made = connector(root, page_size=5, streams={"exports": stream(**stream_overrides)})
    error, seen = await refusal(made)
    assert seen == [], "a refused file yields nothing, not even its good rows"
    assert error.file == "export.csv"
    assert str(error).startswith(f"export.csv, line {error.line}, ")
    assert error.extra == {
        "file": "export.csv",
        "line": error.line,
        "column": error.column,
        "reason": error.reason,
    }
    return error.line, error.column, error.reason


@pytest.mark.parametrize(
    ("bad_row", "column", "reason"),
    [
        ("2026-02-30,a,1,0", "Date", "day is out of range for month"),
        ("01/11/2026,a,1,0", "Date", "is not a date in the format '%Y-%m-%d'"),
        ("2026-11-01 10:00,a,1,0", "Date", "unconverted data remains"),
        ("2026-11-01,a,1.5,0", "Views", "is not an integer"),
        ("2026-11-01,a,12a,0", "Views", "is not an integer"),
        ("2026-11-01,a, 12,0", "Views", "is not an integer"),
        ("2026-11-01,a,١٢,0", "Views", "is not an integer"),
        ("2026-11-01,a,99999999999999999999,0", "Views", "64-bit"),
        ('2026-11-01,a,1,"1,50"', "Revenue", "is not a decimal number"),
        ("2026-11-01,a,1,NaN", "Revenue", "is not a decimal number"),
        ("2026-11-01,a,,0", "Views", "a value is required"),
        (",a,1,0", "Date", "a value is required"),
        ("2026-11-01,,1,0", "Asset", "a value is required"),
    ],
    ids=[
        "impossible-date",
        "other-date-format",
        "date-with-time",
        "fraction-in-integer",
        "letters-in-integer",
        "space-in-integer",
        "non-ascii-digits",
        "integer-too-large",
        "decimal-comma-undeclared",
        "nan",
        "missing-required",
        "missing-key-date",
        "missing-key-asset",
    ],
)
async def test_a_bad_value_refuses_the_file(
    root: Path, bad_row: str, column: str, reason: str
) -> None:
    line, got_column, got_reason = await _refused(root, rows(*GOOD, bad_row, *GOOD[:1]))
    assert (line, got_column) == (len(GOOD) + 2, column)
    assert reason in got_reason


@pytest.mark.parametrize(
    ("declared", "good", "bad", "reason"),
    [
        (
            {
                "field": "revenue",
                "type": "decimal",
                "decimal_separator": ",",
                "thousands_separator": ".",
            },
            ("1.234,50", "1234.50"),
            "1.23,50",
            "is not a decimal number in the declared format",
        ),
        (
            {"field": "revenue", "type": "float", "thousands_separator": " "},
            ("1 234.5e1", 12345.0),
            "1 2345",
            "is not a number in the declared format",
        ),
        (
            {"field": "revenue", "type": "integer", "thousands_separator": ","},
            ("1,234,567", 1234567),
            "1234,567",
            "is not an integer in the declared format",
        ),
        (
            {
                "field": "revenue",
                "type": "boolean",
                "true_values": ["Ja"],
                "false_values": ["Nein"],
            },
            ("ja", True),
            "yes",
            "is not a boolean (accepted: ja, nein)",
        ),
        (
            {
                "field": "revenue",
                "type": "datetime",
                "format": "%d.%m.%Y %H:%M",
                "timezone": "Europe/Berlin",
            },
            ("01.07.2026 12:30", "2026-07-01T10:30:00+00:00"),
            "29.03.2026 02:30",
            "does not exist in Europe/Berlin",
        ),
        (
            {"field": "revenue", "type": "datetime", "format": "%Y-%m-%dT%H:%M:%S%z"},
            ("2026-07-01T12:30:00Z", "2026-07-01T12:30:00+00:00"),
            "2026-07-01T12:30:00",
            "is not a datetime in the format",
        ),
    ],
    ids=["decimal-grouping", "float-grouping", "integer-grouping", "boolean", "dst-gap", "tz"],
)
async def test_declared_formats_are_read_and_enforced(
    root: Path, declared: dict[str, Any], good: tuple[str, Any], bad: str, reason: str
) -> None:
    made_columns = columns(Revenue=declared)
    write(root / "export.csv", rows(f'2026-11-01,a,1,"{good[0]}"'))
    made = connector(root, streams={"exports": stream(columns=made_columns)})
    (record,) = await records(made)
    assert record.data["revenue"] == good[1]
    line, column, got = await _refused(root, rows(f'2026-11-01,a,1,"{bad}"'), columns=made_columns)
    assert (line, column) == (2, "Revenue")
    assert reason in got


async def test_a_missing_column_refuses_the_file_at_the_header(root: Path) -> None:
    text = "Date,Asset,Views\r\n2026-11-01,a,1\r\n"
    line, column, reason = await _refused(root, text)
    assert (line, column) == (1, "Revenue")
    assert reason.startswith("missing from the header (it has 'Date', 'Asset', 'Views')")


async def test_an_undeclared_column_refuses_the_file_unless_ignored(root: Path) -> None:
    text = "Date,Asset,Views,Revenue,Owner\r\n2026-11-01,a,1,0,Kim\r\n"
    line, column, reason = await _refused(root, text)
    assert (line, column) == (1, "Owner")
    assert "not a declared column" in reason
    made = connector(root, streams={"exports": stream(extra_columns="ignore")})
    (record,) = await records(made)
    assert "Owner" not in record.data
    assert "Kim" not in record.data.values()


async def test_a_column_named_twice_refuses_the_file(root: Path) -> None:
    line, column, reason = await _refused(root, "Date,Asset,Views,Revenue,Views\r\n")
    assert (line, column, reason) == (1, "Views", "the header names this column twice")


async def test_header_names_are_compared_without_surrounding_spaces(root: Path) -> None:
    write(root / "export.csv", " Date , Asset,Views ,Revenue\r\n2026-11-01,a,1,0\r\n")
    (record,) = await records(connector(root))
    assert record.data["date"] == "2026-11-01"


@pytest.mark.parametrize(
    ("bad_row", "reason"),
    [("2026-11-01,a,1", "the row has 3 cells"), ("2026-11-01,a,1,0,extra", "the row has 5 cells")],
)
async def test_a_row_of_the_wrong_length_refuses_the_file(
    root: Path, bad_row: str, reason: str
) -> None:
    line, column, got = await _refused(root, rows(*GOOD[:3], bad_row))
    assert (line, column, got) == (5, None, reason)


async def test_a_duplicate_key_refuses_the_file_naming_both_lines(root: Path) -> None:
    line, column, reason = await _refused(root, rows(*GOOD, "2026-11-01,asset-007,1,0"))
    assert (line, column) == (len(GOOD) + 2, "Date, Asset")
    assert reason == "duplicate key '2026-11-01|asset-007': the same as line 9"


async def test_an_unclosed_quote_refuses_the_file(root: Path) -> None:
    line, column, reason = await _refused(root, rows(*GOOD[:2], '2026-11-01,"open,1,0'))
    assert (line, column) == (4, None)
    assert reason.startswith("malformed CSV")


async def test_an_empty_file_is_refused(root: Path) -> None:
    assert await _refused(root, "") == (1, None, "the file is empty: no header row")


async def test_a_row_longer_than_the_bound_is_refused(root: Path) -> None:
    write(root / "export.csv", rows(*GOOD[:2], f"2026-11-01,{'x' * 3000},1,0"))
    made = connector(root, max_row_chars=2048)
    error, seen = await refusal(made)
    assert seen == []
    assert (error.line, error.reason) == (4, "the row is longer than 2048 characters")


async def test_lines_count_physical_lines_and_skip_blank_ones(root: Path) -> None:
    text = HEADER + '2026-11-01,"a\r\nb",1,0\r\n\r\n2026-11-02,c,1,0\r\n2026-11-03,d,x,0\r\n'
    line, column, _reason = await _refused(root, text)
    assert (line, column) == (6, "Views")


async def test_rows_keep_their_start_line_and_typed_values(root: Path) -> None:
    write(root / "export.csv", HEADER + '2026-11-01,"a\r\nb",1,0.10\r\n\r\n2026-11-02,c,2,\r\n')
    got = await records(connector(root))
    assert [(r.external_id, r.data["_source"]["line"]) for r in got] == [
        ("2026-11-01|a\r\nb", 2),
        ("2026-11-02|c", 5),
    ]
    assert got[0].data["revenue"] == "0.10"
    assert got[1].data["revenue"] is None
    assert got[1].data["views"] == 2


async def test_ids_of_composite_keys_cannot_collide(root: Path) -> None:
    many = columns(Date={"field": "date"})
    write(root / "export.csv", rows("a|b,c,1,0", "a,b|c,2,0"))
    got = await records(connector(root, streams={"exports": stream(columns=many)}))
    assert [r.external_id for r in got] == ["a\\|b|c", "a|b\\|c"]


async def test_a_bad_file_stops_the_read_after_the_good_files_before_it(root: Path) -> None:
    write(root / "a.csv", rows(*GOOD[:7]))
    write(root / "b.csv", rows(*GOOD[:3], "2026-11-01,z,bad,0"))
    write(root / "c.csv", rows("2026-11-05,c,1,0"))
    made = connector(root, page_size=5)
    error, seen = await refusal(made)
    assert (error.file, error.line, error.column) == ("b.csv", 5, "Views")
    assert {r.data["_source"]["file"] for r in seen} == {"a.csv"}
    assert len(seen) == 7


async def test_a_wall_time_passed_twice_is_read_as_its_first_occurrence(root: Path) -> None:
    berlin = {
        "field": "revenue",
        "type": "datetime",
        "format": "%d.%m.%Y %H:%M",
        "timezone": "Europe/Berlin",
    }
    write(root / "export.csv", rows('2026-11-01,a,1,"25.10.2026 02:30"'))
    made = connector(root, streams={"exports": stream(columns=columns(Revenue=berlin))})
    (record,) = await records(made)
    assert record.data["revenue"] == "2026-10-25T00:30:00+00:00"  # still summer time (+02:00)
