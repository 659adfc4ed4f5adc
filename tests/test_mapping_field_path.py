"""Field paths: the small parser and resolution into records."""

from __future__ import annotations

import pytest

from syncbridge.mapping.field_path import (
    MAX_PATH_LENGTH,
    WILDCARD,
    FieldPathError,
    parse_field_path,
)


@pytest.mark.parametrize(
    ("text", "steps"),
    [
        ("properties.utm_source", ("properties", "utm_source")),
        ("tags[*]", ("tags", WILDCARD)),
        ("items[0].name", ("items", 0, "name")),
        ("items[-1]", ("items", -1)),
        ('properties["hs.name"]', ("properties", "hs.name")),
        ("properties['it''s']".replace("''", "\\'"), ("properties", "it's")),
        ('["a b"].c', ("a b", "c")),
        ("a.*.b", ("a", WILDCARD, "b")),
        ("Lead.Custom__c", ("Lead", "Custom__c")),
    ],
)
def test_parses_valid_paths(text: str, steps: tuple[object, ...]) -> None:
    assert parse_field_path(text).steps == steps


@pytest.mark.parametrize(
    "text",
    [
        "",
        ".a",
        "a.",
        "a..b",
        "a[",
        "a[x]",
        "a[1.5]",
        "a b",
        'a["x"',
        'a["x"y]',
        "a*",
        "a]",
        "a[1]b",
    ],
)
def test_rejects_bad_paths(text: str) -> None:
    with pytest.raises(FieldPathError):
        parse_field_path(text)


def test_rejects_overlong_path() -> None:
    with pytest.raises(FieldPathError, match="longer"):
        parse_field_path("a" * (MAX_PATH_LENGTH + 1))


def test_resolves_nested_keys_and_indexes() -> None:
    record = {"items": [{"name": "first"}, {"name": "last"}], "p": {"hs.name": "x"}}
    assert parse_field_path("items[0].name").resolve(record) == ["first"]
    assert parse_field_path("items[-1].name").resolve(record) == ["last"]
    assert parse_field_path('p["hs.name"]').resolve(record) == ["x"]


def test_wildcards_reach_every_item_and_value() -> None:
    record = {"items": [{"name": "a"}, {"name": "b"}, {"other": 1}], "m": {"x": 1, "y": 2}}
    assert parse_field_path("items[*].name").resolve(record) == ["a", "b"]
    assert parse_field_path("m.*").resolve(record) == [1, 2]


@pytest.mark.parametrize(
    "text", ["missing", "a.missing", "a[3]", "a[0].x", "s.x", "s[0]", "m[0]", "n[*]"]
)
def test_missing_or_mistyped_steps_reach_nothing(text: str) -> None:
    record = {"a": [1, 2], "s": "text", "m": {"0": "zero"}, "n": 5}
    assert parse_field_path(text).resolve(record) == []


def test_null_value_is_reached() -> None:
    assert parse_field_path("a").resolve({"a": None}) == [None]
