"""HubSpot property values arrive as strings: parse them by the property's declared type.

The types come from the properties API (``GET /crm/v3/properties/{objectType}``): ``number``,
``datetime``, ``date``, ``bool``, ``enumeration`` (``fieldType: checkbox`` holds several
values joined by ``;``) and text types. A parser is chosen once per property, so a page
costs one call per typed value (text values are left as they are). A value that does not
parse as its type is kept as the string HubSpot sent: the record still arrives, as the
vendor holds it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime
from typing import Any

#: Turns one non-null property string into its typed value.
Parser = Callable[[str], Any]

_from_iso = datetime.fromisoformat


def parse_number(value: str) -> int | float | str:
    """``"1200"`` -> 1200, ``"1200.5"`` -> 1200.5; anything else stays a string."""
    if value.isdigit() and value.isascii():
        # The common case (ids, counts): plain ASCII digits.
        return int(value)
    text = value.strip()
    # int() and float() also read "1_000" and non-ASCII digits, which HubSpot never means.
    if not text.isascii() or "_" in text:
        return value
    try:
        return int(text)
    except ValueError:
        pass
    try:
        number = float(text)
    except ValueError:
        return value
    # NaN and infinities are not numbers a mapping can compare.
    return number if number == number and abs(number) != float("inf") else value


def parse_datetime(value: str) -> datetime | str:
    """An ISO 8601 instant (``2024-01-02T03:04:05.678Z``) or epoch milliseconds, as aware UTC."""
    text = value.strip()
    if text.isdigit():
        try:
            return datetime.fromtimestamp(int(text) / 1000, tz=UTC)
        except (OverflowError, OSError, ValueError):
            return value
    try:
        at = datetime.fromisoformat(text)
    except ValueError:
        return value
    zone = at.tzinfo
    if zone is UTC:
        # HubSpot's own form (``...Z``): already aware UTC.
        return at
    return at.replace(tzinfo=UTC) if zone is None else at.astimezone(UTC)


def parse_date(value: str) -> date | str:
    """``2024-01-02`` (or an instant on that day, or epoch milliseconds) as a date."""
    text = value.strip()
    try:
        return date.fromisoformat(text[:10])
    except ValueError:
        pass
    at = parse_datetime(text)
    return at.date() if isinstance(at, datetime) else value


def parse_bool(value: str) -> bool | str:
    """``"true"``/``"false"`` (any case) as a bool."""
    lowered = value.strip().lower()
    if lowered == "true":
        return True
    if lowered == "false":
        return False
    return value


def parse_multi(value: str) -> list[str]:
    """A multi-select value (``"a;b"``) as its options; an empty string is no option."""
    return [part for part in value.split(";") if part]


def parser_for(prop_type: str, field_type: str = "") -> Parser | None:
    """The parser of a property type (None: keep the string)."""
    if prop_type == "number":
        return parse_number
    if prop_type == "datetime":
        return parse_datetime
    if prop_type == "date":
        return parse_date
    if prop_type == "bool":
        return parse_bool
    if prop_type == "enumeration" and field_type == "checkbox":
        return parse_multi
    return None


class PropertyParsers:
    """The parsers of one object type's properties, from its property definitions."""

    def __init__(self, parsers: Mapping[str, Parser]) -> None:
        self._parsers = dict(parsers)
        #: The names that have a parser: a record's other values are left as they are. A
        #: ``set``, not a ``frozenset``: ``keys() & set`` walks the smaller side, while with a
        #: frozenset it walks every typed name (hundreds in a real account) for each record.
        self._typed = set(self._parsers)

    @classmethod
    def from_definitions(cls, definitions: object) -> PropertyParsers:
        """From the ``results`` of the properties API; malformed entries are skipped."""
        parsers: dict[str, Parser] = {}
        if isinstance(definitions, list):
            for item in definitions:
                if not isinstance(item, dict):
                    continue
                name, kind = item.get("name"), item.get("type")
                if isinstance(name, str) and isinstance(kind, str):
                    field_type = item.get("fieldType")
                    parser = parser_for(kind, field_type if isinstance(field_type, str) else "")
                    if parser is not None:
                        parsers[name] = parser
        return cls(parsers)

    def parse(self, properties: Mapping[str, Any]) -> dict[str, Any]:
        """Typed values of ``properties``, in a new dict; null stays None, unknown names stay
        strings."""
        return self.type_in_place(dict(properties))

    def type_in_place(self, values: dict[str, Any]) -> dict[str, Any]:
        """Type the values of ``values`` where they are and return it: for a dict the caller
        owns, such as the ``properties`` of a decoded answer, which is then not copied.

        Only the typed names (both in the record and in the parsers, a set intersection in C)
        are visited: text properties, most of a record, cost nothing per value. HubSpot's
        usual forms, plain digits for a number and a ``Z`` instant for a datetime, are read
        without calling their parser, to the same value it returns (anything else, or a
        failure, goes through the parser).
        """
        parsers = self._parsers
        for name in values.keys() & self._typed:
            value = values[name]
            if not isinstance(value, str):
                continue
            parser = parsers[name]
            if parser is parse_number and value.isdigit() and value.isascii():
                values[name] = int(value)
            elif parser is parse_datetime and value.endswith("Z"):
                try:
                    # Aware UTC already; leading blanks fail here and are read by the parser.
                    values[name] = _from_iso(value)
                except ValueError:
                    values[name] = parser(value)
            else:
                values[name] = parser(value)
        return values


__all__ = [
    "Parser",
    "PropertyParsers",
    "parse_bool",
    "parse_date",
    "parse_datetime",
    "parse_multi",
    "parse_number",
    "parser_for",
]
