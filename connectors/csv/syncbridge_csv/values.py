"""Typed cell values: one converter per declared column, strict about its format.

A converter takes the cell text and returns the record value, or raises ``ValueError`` whose
message is the reason shown to people. Values are JSON-ready: integers and floats as
numbers, decimals as their exact canonical text (``"1234.50"``: a float would round), dates
as ``YYYY-MM-DD``, datetimes as ISO 8601 in UTC, booleans as ``true``/``false``.
Empty cells are handled by the caller (None, or refused when the column is required).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from syncbridge_csv.settings import ColumnSettings

Converter = Callable[[str], Any]
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
#: Distinct date texts remembered per column: exports repeat the same days on every row.
DATE_CACHE_SIZE = 4096


def converter_for(column: ColumnSettings) -> Converter:
    """The converter of ``column``'s declared type and format."""
    match column.type:
        case "string":
            return _string
        case "integer":
            return _integer(_number_pattern(column, fraction=False), column.thousands_separator)
        case "decimal":
            return _decimal(_number_pattern(column, fraction=True), column)
        case "float":
            return _float(_number_pattern(column, fraction=True, exponent=True), column)
        case "date":
            assert column.format is not None
            return _date(column.format)
        case "datetime":
            assert column.format is not None
            return _datetime(column.format, ZoneInfo(column.timezone))
        case "boolean":
            return _boolean(column)


def key_text(value: Any) -> str:
    """The text a typed value contributes to an external id."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return value if isinstance(value, str) else repr(value)


def _string(text: str) -> str:
    if "\x00" in text:
        raise ValueError("contains a NUL character (a UTF-16 file read as 8-bit text?)")
    return text


def _number_pattern(
    column: ColumnSettings, *, fraction: bool, exponent: bool = False
) -> re.Pattern[str]:
    """Digits (ASCII only), optionally grouped by threes, then the declared decimal mark."""
    digits = r"[0-9]+"
    if column.thousands_separator is not None:
        sep = re.escape(column.thousands_separator)
        digits = rf"(?:[0-9]{{1,3}}(?:{sep}[0-9]{{3}})+|[0-9]+)"
    body = rf"[+-]?{digits}"
    if fraction:
        body += rf"(?:{re.escape(column.decimal_separator)}[0-9]+)?"
    if exponent:
        body += r"(?:[eE][+-]?[0-9]+)?"
    return re.compile(body)


def _plain(text: str, thousands: str | None, decimal_mark: str) -> str:
    if thousands is not None:
        text = text.replace(thousands, "")
    return text.replace(decimal_mark, ".") if decimal_mark != "." else text


def _integer(pattern: re.Pattern[str], thousands: str | None) -> Converter:
    def convert(text: str) -> int:
        if not pattern.fullmatch(text):
            raise ValueError(f"{text!r} is not an integer in the declared format")
        number = int(text.replace(thousands, "") if thousands else text)
        if not INT64_MIN <= number <= INT64_MAX:
            raise ValueError(f"{text!r} is outside the 64-bit integer range")
        return number

    return convert


def _decimal(pattern: re.Pattern[str], column: ColumnSettings) -> Converter:
    thousands, mark = column.thousands_separator, column.decimal_separator

    def convert(text: str) -> str:
        if not pattern.fullmatch(text):
            raise ValueError(f"{text!r} is not a decimal number in the declared format")
        try:
            return str(Decimal(_plain(text, thousands, mark)))
        except InvalidOperation as exc:  # pragma: no cover - the pattern admits only numbers
            raise ValueError(f"{text!r} is not a decimal number") from exc

    return convert


def _float(pattern: re.Pattern[str], column: ColumnSettings) -> Converter:
    thousands, mark = column.thousands_separator, column.decimal_separator

    def convert(text: str) -> float:
        if not pattern.fullmatch(text):
            raise ValueError(f"{text!r} is not a number in the declared format")
        number = float(_plain(text, thousands, mark))
        if number in (float("inf"), float("-inf")):
            raise ValueError(f"{text!r} is too large for a float")
        return number

    return convert


def _date(fmt: str) -> Converter:
    @lru_cache(maxsize=DATE_CACHE_SIZE)
    def convert(text: str) -> str:
        try:
            return datetime.strptime(text, fmt).date().isoformat()
        except ValueError as exc:
            raise ValueError(_format_reason("date", text, fmt, exc)) from None

    return convert


def _datetime(fmt: str, zone: ZoneInfo) -> Converter:
    def convert(text: str) -> str:
        try:
            parsed = datetime.strptime(text, fmt)
        except ValueError as exc:
            raise ValueError(_format_reason("datetime", text, fmt, exc)) from None
        if parsed.tzinfo is None:
            local = parsed.replace(tzinfo=zone)
            # A wall time skipped by a daylight-saving jump does not exist: refuse it rather
            # than let zoneinfo shift it by an hour.
            if local.astimezone(UTC).astimezone(zone).replace(tzinfo=None) != parsed:
                raise ValueError(f"{text!r} does not exist in {zone.key} (a daylight-saving gap)")
            parsed = local
        return parsed.astimezone(UTC).isoformat()

    return convert


def _format_reason(kind: str, text: str, fmt: str, exc: ValueError) -> str:
    reason = f"{text!r} is not a {kind} in the format {fmt!r}"
    detail = str(exc)
    # strptime's own message repeats the value and format unless it says something more
    # (left-over text, a day out of range for its month).
    return reason if detail.startswith("time data") else f"{reason}: {detail}"


def _boolean(column: ColumnSettings) -> Converter:
    truths = {value.strip().lower() for value in column.true_values}
    falsehoods = {value.strip().lower() for value in column.false_values}
    accepted = ", ".join(sorted(truths | falsehoods))

    def convert(text: str) -> bool:
        folded = text.strip().lower()
        if folded in truths:
            return True
        if folded in falsehoods:
            return False
        raise ValueError(f"{text!r} is not a boolean (accepted: {accepted})")

    return convert
