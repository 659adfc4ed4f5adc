"""Typing Salesforce records by their describe: every declared type, a page at a time."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import pytest
from syncbridge_salesforce.records import RecordShape

from syncbridge.connector.errors import PermanentConnectorError

TYPES = {
    "Id": "id",
    "SystemModstamp": "datetime",
    "IsDeleted": "boolean",
    "Name": "string",
    "Email": "email",
    "AccountId": "reference",
    "Stage": "picklist",
    "CloseDate": "date",
    "CreatedDate": "datetime",
    "LastModifiedDate": "datetime",
    "Amount": "currency",
    "Probability": "percent",
    "Score": "double",
    "Employees": "int",
    "Views": "long",
    "Active": "boolean",
    "MailingAddress": "address",
}
WANTED = [name for name in TYPES if name not in ("Id", "SystemModstamp", "IsDeleted")]


def describe(types: dict[str, str] = TYPES) -> dict[str, Any]:
    return {"name": "Opportunity", "fields": [{"name": n, "type": t} for n, t in types.items()]}


def row(n: int = 1, **values: Any) -> dict[str, Any]:
    """One record as the REST API answers it (a fresh object, as a parsed answer is)."""
    stamp = f"2026-01-0{n}T09:00:00.000+0000"
    base: dict[str, Any] = {
        "attributes": {"type": "Opportunity", "url": f"/services/data/v62.0/sobjects/x/{n}"},
        "Id": f"006Hs0000000{n:03d}IAA",
        "SystemModstamp": stamp,
        "IsDeleted": False,
        "Name": f"Deal {n}",
        "Email": None,
        "AccountId": "001Hs00000000PvIAI",
        "Stage": "Prospecting",
        "CloseDate": "2026-03-31",
        "CreatedDate": "2025-12-31T23:30:00.000-0100",
        "LastModifiedDate": stamp,
        "Amount": 1200,
        "Probability": 10.5,
        "Score": None,
        "Employees": 12.0,
        "Views": 3,
        "Active": True,
        "MailingAddress": {"city": "Lyon", "country": "FR"},
    }
    return {**base, **values}


SHAPE = RecordShape("Opportunity", describe(), WANTED)


def test_every_declared_type_becomes_its_python_value() -> None:
    [data] = SHAPE.page([row()])
    assert "attributes" not in data
    assert list(data) == list(TYPES)
    assert data["SystemModstamp"] == datetime(2026, 1, 1, 9, tzinfo=UTC)
    assert data["CreatedDate"] == datetime(2026, 1, 1, 0, 30, tzinfo=UTC)
    assert data["CreatedDate"].utcoffset() == timedelta(hours=-1)
    assert data["CloseDate"] == date(2026, 3, 31)
    assert type(data["CloseDate"]) is date
    assert data["Amount"] == 1200.0
    assert type(data["Amount"]) is float
    assert type(data["Probability"]) is float
    assert data["Employees"] == 12
    assert type(data["Employees"]) is int
    assert data["Views"] == 3
    assert data["Active"] is True
    assert data["IsDeleted"] is False
    assert data["Email"] is None
    assert data["Score"] is None
    assert data["MailingAddress"] == {"city": "Lyon", "country": "FR"}


def test_each_row_of_a_page_keeps_its_own_values() -> None:
    # LastModifiedDate equals SystemModstamp on every row of the first page, on all but one
    # row of the second: the values must follow each row's strings either way.
    same = [row(n) for n in (1, 2, 3)]
    assert [d["LastModifiedDate"].day for d in SHAPE.page(same)] == [1, 2, 3]
    differ = [row(1), row(2, LastModifiedDate="2026-01-05T09:00:00.000+0000"), row(3)]
    typed = SHAPE.page(differ)
    assert [d["LastModifiedDate"].day for d in typed] == [1, 5, 3]
    assert [d["SystemModstamp"].day for d in typed] == [1, 2, 3]
    assert [d["Name"] for d in typed] == ["Deal 1", "Deal 2", "Deal 3"]


def test_nulls_in_a_date_column_stay_null() -> None:
    typed = SHAPE.page([row(1, CloseDate=None), row(2), row(3, CreatedDate=None)])
    assert [d["CloseDate"] for d in typed] == [None, date(2026, 3, 31), date(2026, 3, 31)]
    assert typed[2]["CreatedDate"] is None
    assert typed[0]["CreatedDate"] == datetime(2026, 1, 1, 0, 30, tzinfo=UTC)


def test_fields_not_selected_are_left_out() -> None:
    [data] = SHAPE.page([row(Extra__c="x", Other="y")])
    assert list(data) == list(TYPES)


def test_one_record_is_typed_without_touching_the_callers_mapping() -> None:
    raw = row()
    data = SHAPE.data(raw)
    assert data["Amount"] == 1200.0
    assert raw["SystemModstamp"] == "2026-01-01T09:00:00.000+0000"
    assert "attributes" in raw


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("Name", 42, "Name: not text: 42"),
        ("Id", ["006"], "Id: not text"),
        ("AccountId", {"Id": "001"}, "AccountId: not text"),
        ("Active", "true", "Active: not a boolean: 'true'"),
        ("IsDeleted", 0, "IsDeleted: not a boolean: 0"),
        ("CloseDate", "2026-02-30", "CloseDate: not a date: '2026-02-30'"),
        ("CloseDate", 20260331, "CloseDate: not a date: 20260331"),
        ("SystemModstamp", "2026-01-01T09:00:00", "SystemModstamp: not a datetime"),
        ("CreatedDate", "yesterday", "CreatedDate: not a datetime: 'yesterday'"),
        ("LastModifiedDate", True, "LastModifiedDate: not a datetime: True"),
        ("Amount", "1200", "Amount: not a number: '1200'"),
        ("Amount", True, "Amount: not a number: True"),
        ("Score", float("nan"), "Score: not a finite number"),
        ("Employees", 1.5, "Employees: not an integer: 1.5"),
        ("Views", False, "Views: not an integer: False"),
    ],
)
def test_a_value_of_the_wrong_type_is_refused_naming_its_field(
    field: str, value: Any, message: str
) -> None:
    page = [row(1), row(2, **{field: value}), row(3)]
    with pytest.raises(ValueError, match=r"^" + message.replace("[", r"\[")):
        SHAPE.page(page)


def test_a_long_bad_value_is_quoted_short() -> None:
    with pytest.raises(ValueError, match=r"^Name: not text") as caught:
        SHAPE.page([row(Name=["x" * 10_000])])
    assert len(str(caught.value)) <= 140


def test_a_missing_field_or_a_row_that_is_no_object_is_refused() -> None:
    incomplete = row(2)
    del incomplete["Stage"]
    with pytest.raises(ValueError, match=r"^Stage is missing"):
        SHAPE.page([row(1), incomplete])
    renamed = row(2)
    renamed["Stag"] = renamed.pop("Stage")
    with pytest.raises(ValueError, match=r"^Stage is missing"):
        SHAPE.page([row(1), renamed])
    with pytest.raises(ValueError, match="not an object"):
        SHAPE.page([row(1), ["006Hs0000000002IAA"]])


def test_the_json_number_nan_is_no_currency() -> None:
    # Python's JSON parser reads NaN and Infinity; Salesforce never sends them.
    [parsed] = json.loads('[{"Amount": NaN}]')
    with pytest.raises(ValueError, match=r"^Amount: not a finite number"):
        SHAPE.page([row(Amount=parsed["Amount"])])


def test_the_describe_must_give_the_reader_its_key_types() -> None:
    with pytest.raises(PermanentConnectorError, match="SystemModstamp the type 'date'"):
        RecordShape("Opportunity", describe({**TYPES, "SystemModstamp": "date"}), WANTED)
    with pytest.raises(PermanentConnectorError, match="has no field Nope__c"):
        RecordShape("Opportunity", describe(), ["Nope__c"])


def test_select_names_the_describe_spelling_once() -> None:
    shape = RecordShape("Opportunity", describe(), ["name", "Name", "AMOUNT"])
    assert shape.select() == "Id, SystemModstamp, IsDeleted, Name, Amount"
    assert shape.fields == ("Id", "SystemModstamp", "IsDeleted", "Name", "Amount")


def test_an_offset_other_than_utc_is_kept() -> None:
    [data] = SHAPE.page([row(SystemModstamp="2026-01-01T10:00:00.000+0100")])
    assert data["SystemModstamp"] == datetime(2026, 1, 1, 9, tzinfo=UTC)
    assert data["SystemModstamp"].tzinfo == timezone(timedelta(hours=1))
