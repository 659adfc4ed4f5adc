"""Literal expectations for the comparison helpers the property tests' oracle is built from."""

from __future__ import annotations

import math
from typing import Any

import pytest

from syncbridge.mapping.comparison import (
    candidates,
    is_present,
    normalise,
    number_form,
    text_form,
)


@pytest.mark.parametrize(
    ("text", "case_sensitive", "expected"),
    [
        ("Straße", False, "strasse"),
        ("STRASSE", False, "strasse"),
        ("Straße", True, "Straße"),
        ("LinkedIn", False, "linkedin"),
        ("LinkedIn", True, "LinkedIn"),
        ("\u03a3\u0391\u03a3", False, "\u03c3\u03b1\u03c3"),  # Greek capitals fold
        ("  Paid \t\n Social  ", False, "paid social"),
        ("  Paid \t\n Social  ", True, "Paid Social"),
        ("e\u00a0\u2003mail", False, "e mail"),  # no-break and em spaces are whitespace too
        ("a  b   c", True, "a b c"),
        ("   ", False, ""),
        ("", True, ""),
    ],
)
def test_normalise(text: str, case_sensitive: bool, expected: str) -> None:
    assert normalise(text, case_sensitive) == expected


def test_casefolded_forms_of_one_word_are_equal() -> None:
    assert normalise("Straße", False) == normalise("STRASSE", False) == normalise("strasse", False)
    assert normalise("Straße", True) != normalise("STRASSE", True)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("LinkedIn", "LinkedIn"),
        ("  x ", "  x "),  # text forms are raw; only normalise trims
        ("", ""),
        (True, "true"),
        (False, "false"),
        (42, "42"),
        (-7, "-7"),
        (0, "0"),
        (3.0, "3"),
        (-0.0, "0"),
        (2.5, "2.5"),
        (0.1, "0.1"),
        (1e3, "1000"),
        (1e20, "100000000000000000000"),
        (None, None),
        ({"a": 1}, None),
        (["a"], None),
    ],
)
def test_text_form(value: Any, expected: str | None) -> None:
    assert text_form(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("1e3", 1000.0),
        ("  42 ", 42.0),
        ("-1.5", -1.5),
        ("+7", 7.0),
        (".5", 0.5),
        (10, 10),
        (2.5, 2.5),
        ("abc", None),
        ("ten", None),
        ("4 2", None),
        ("0x10", None),
        ("1_000", None),
        ("\uff14\uff12", None),  # fullwidth "42"
        ("", None),
        ("   ", None),
        ("inf", None),
        ("-inf", None),
        ("nan", None),
        ("1e999", None),
        (math.inf, None),
        (math.nan, None),
        (True, None),
        (False, None),
        (None, None),
        ([1], None),
    ],
)
def test_number_form(value: Any, expected: float | None) -> None:
    number = number_form(value)
    assert number == expected
    assert type(number) is type(expected)


def test_candidates_flatten_one_level_of_lists_in_order() -> None:
    mapping = {"x": 1}
    assert candidates([1, [2, 3], (4,), mapping, None, []]) == [1, 2, 3, 4, mapping, None]
    assert candidates([[[1], 2]]) == [[1], 2]
    assert candidates([]) == []


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("x", True),
        (" x ", True),
        (0, True),
        (False, True),
        (0.0, True),
        ({}, True),
        ("", False),
        ("  \t", False),
        (None, False),
    ],
)
def test_is_present(value: Any, expected: bool) -> None:
    assert is_present(value) is expected
