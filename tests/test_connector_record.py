"""Record: a value with the fields, keywords and dataclass behaviour it always had."""

from __future__ import annotations

import copy
import dataclasses
import pickle
from datetime import UTC, datetime

import pytest

from syncbridge.connector.types import Record

AT = datetime(2026, 11, 30, 12, tzinfo=UTC)


def test_fields_by_position_or_keyword_with_their_defaults() -> None:
    by_position = Record("media", "m1", {"name": "a"}, AT, True)
    by_keyword = Record(
        stream="media", external_id="m1", data={"name": "a"}, updated_at=AT, deleted=True
    )
    assert by_position == by_keyword
    assert (by_position.stream, by_position.external_id, by_position.data) == (
        "media",
        "m1",
        {"name": "a"},
    )
    assert (by_position.updated_at, by_position.deleted) == (AT, True)
    plain = Record("media", "m1", {})
    assert (plain.updated_at, plain.deleted) == (None, False)


def test_a_record_cannot_be_changed() -> None:
    record = Record("media", "m1", {})
    with pytest.raises(AttributeError):
        record.external_id = "m2"  # type: ignore[misc]
    with pytest.raises(AttributeError):
        record.extra = 1  # type: ignore[attr-defined]


def test_equal_by_value_and_only_to_records() -> None:
    one, same, other = Record("s", "1", {"a": 1}), Record("s", "1", {"a": 1}), Record("s", "2", {})
    assert one == same
    assert one != other
    assert not one != same
    as_tuple = ("s", "1", {"a": 1}, None, False)
    assert one != as_tuple
    assert as_tuple != one
    assert not one == as_tuple
    assert hash(Record("s", "1", None)) == hash(Record("s", "1", None))  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        _ = one < other


def test_the_dataclass_functions_and_copies_work() -> None:
    record = Record("s", "1", {"a": 1}, AT)
    assert dataclasses.is_dataclass(record)
    assert [f.name for f in dataclasses.fields(record)] == [
        "stream",
        "external_id",
        "data",
        "updated_at",
        "deleted",
    ]
    assert dataclasses.replace(record, deleted=True) == Record("s", "1", {"a": 1}, AT, True)
    assert dataclasses.asdict(record)["data"] == {"a": 1}
    assert copy.copy(record) == record
    assert copy.deepcopy(record) == record
    assert pickle.loads(pickle.dumps(record)) == record
    assert repr(record) == (
        f"Record(stream='s', external_id='1', data={{'a': 1}}, updated_at={AT!r}, deleted=False)"
    )


def test_many_builds_the_same_records_as_one_by_one() -> None:
    ids, data, times, deleted = ["1", "2"], [{"a": 1}, {"b": 2}], [AT, None], [False, True]
    assert Record.many("s", ids, data) == [Record("s", "1", {"a": 1}), Record("s", "2", {"b": 2})]
    assert Record.many("s", ids, data, times, deleted) == [
        Record("s", "1", {"a": 1}, AT, False),
        Record("s", "2", {"b": 2}, None, True),
    ]
    assert Record.many("s", [], []) == []


@pytest.mark.parametrize(
    "args",
    [
        (["1", "2"], [{}]),
        (["1"], [{}], []),
        (["1"], [{}], None, [True, False]),
    ],
)
def test_many_refuses_sequences_of_other_lengths(args: tuple[object, ...]) -> None:
    with pytest.raises(ValueError, match="one data, time and deleted flag an id"):
        Record.many("s", *args)  # type: ignore[arg-type]
