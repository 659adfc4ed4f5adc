"""Property values typed by their declared types, and the modification time of a record.

``PropertyParsers.parse`` reads HubSpot's usual forms (plain digits, ``Z`` instants) without
calling the parser; these tests hold it to exactly what the parsers return, on the usual forms
and on everything else.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from syncbridge_hubspot.properties import (
    PropertyParsers,
    parse_bool,
    parse_date,
    parse_datetime,
    parse_multi,
    parse_number,
)

from .support import client_for, connector_for, make_simulator

PARSERS = PropertyParsers(
    {
        "n": parse_number,
        "d": parse_datetime,
        "day": parse_date,
        "b": parse_bool,
        "m": parse_multi,
    }
)


def same(got: Any, want: Any) -> bool:
    """Equal, of the same type, and (for instants) in the same zone."""
    if type(got) is not type(want) or got != want:
        return False
    return not isinstance(got, datetime) or got.tzinfo is want.tzinfo


@pytest.mark.parametrize(
    ("text", "want"),
    [
        ("30000000001", 30000000001),
        ("0", 0),
        ("007", 7),
        (" 12 ", 12),
        ("-5", -5),
        ("+5", 5),
        ("12.5", 12.5),
        ("1e3", 1000.0),
        ("1_000", "1_000"),
        ("١٢", "١٢"),
        ("²", "²"),
        ("nan", "nan"),
        ("inf", "inf"),
        ("", ""),
        ("twelve", "twelve"),
    ],
)
def test_numbers(text: str, want: Any) -> None:
    assert same(parse_number(text), want)
    assert same(PARSERS.parse({"n": text})["n"], want)


AT = datetime(2024, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "want"),
    [
        ("2024-01-02T03:04:05.678Z", AT),
        ("2024-01-02T03:04:05.678000Z", AT),
        (" 2024-01-02T03:04:05.678Z", AT),
        ("2024-01-02T03:04:05.678Z ", AT),
        ("2024-01-02T05:04:05.678+02:00", AT),
        ("2024-01-02T03:04:05.678", AT),
        ("1704164645678", AT),
        ("2024-01-02T03:04:05.678+00:00Z", "2024-01-02T03:04:05.678+00:00Z"),
        ("2024-13-02T03:04:05Z", "2024-13-02T03:04:05Z"),
        ("soonZ", "soonZ"),
        ("Z", "Z"),
        ("", ""),
    ],
)
def test_datetimes(text: str, want: Any) -> None:
    assert same(parse_datetime(text), want)
    assert same(PARSERS.parse({"d": text})["d"], want)


@given(st.datetimes(timezones=st.just(UTC) | st.none() | st.just(timezone(timedelta(hours=-7)))))
def test_every_iso_instant_reads_as_its_parser_reads_it(at: datetime) -> None:
    for text in (at.isoformat(), at.isoformat() + "Z", at.isoformat().replace("+00:00", "Z")):
        assert same(PARSERS.parse({"d": text})["d"], parse_datetime(text))


@given(st.text(max_size=40), st.integers(min_value=0, max_value=10**20).map(str))
def test_any_text_reads_as_its_parser_reads_it(text: str, digits: str) -> None:
    for value in (text, digits, text + "Z"):
        typed = PARSERS.parse({"n": value, "d": value, "day": value, "b": value, "m": value})
        assert same(typed["n"], parse_number(value))
        assert same(typed["d"], parse_datetime(value))
        assert same(typed["day"], parse_date(value))
        assert same(typed["b"], parse_bool(value))
        assert same(typed["m"], parse_multi(value))


def test_nulls_other_names_and_the_input_stay_as_they_are() -> None:
    given_props = {"n": None, "d": "2024-01-02T03:04:05.678Z", "email": "a@example.com", "x": "7"}
    typed = PARSERS.parse(given_props)
    assert typed == {"n": None, "d": AT, "email": "a@example.com", "x": "7"}
    assert list(typed) == list(given_props)
    assert given_props["d"] == "2024-01-02T03:04:05.678Z"
    assert PARSERS.type_in_place(given_props) is given_props
    assert given_props == typed


# ----- a record's modification time -----------------------------------------------------------


async def test_a_record_changes_at_its_modification_property_else_at_updated_at() -> None:
    sim = make_simulator()
    async with client_for(sim) as client:
        connector = connector_for(sim, client)
        parsers = await connector.crm.parsers("contacts")
        updated = "2024-05-06T07:08:09.010Z"
        objects: list[dict[str, Any]] = [
            {"id": "1", "properties": {"lastmodifieddate": "2024-01-02T03:04:05.678Z"}},
            {"id": "2", "properties": {"lastmodifieddate": " 2024-01-02T05:04:05.678+02:00 "}},
            # Epoch milliseconds type the property, but the modification time is read as an
            # ISO instant only (as the incremental cursor reads it): updatedAt is taken.
            {"id": "3", "properties": {"lastmodifieddate": "1704164645678"}, "updatedAt": updated},
            {"id": "4", "properties": {"lastmodifieddate": None}, "updatedAt": updated},
            {"id": "5", "properties": {"lastmodifieddate": "yesterday"}, "updatedAt": updated},
            {"id": "6", "updatedAt": updated},
            {"id": "7", "properties": {}},
        ]
        records = await connector.crm._records("contacts", objects, parsers, embedded=False)
        later = datetime(2024, 5, 6, 7, 8, 9, 10000, tzinfo=UTC)
        assert [r.updated_at for r in records] == [AT, AT, later, later, later, later, None]
        assert records[2].data["lastmodifieddate"] == AT
        assert records[4].data["lastmodifieddate"] == "yesterday"
        assert all(r.updated_at is None or r.updated_at.tzinfo is UTC for r in records)
