"""Salesforce records as plain data, typed by the object's describe.

``GET /services/data/vXX.X/sobjects/{object}/describe`` names each field's type; a
:class:`RecordShape` is built once per stream from it and turns the JSON records of an answer
into ``Record.data``, a page at a time and column by column (no per-record models):

* ``date`` -> ``datetime.date``; ``datetime`` -> aware ``datetime.datetime``;
* ``currency``, ``double``, ``percent`` -> ``float``: Salesforce sends them as JSON numbers
  (at most 18 digits, currency to its scale), and the mapping core compares ints and floats,
  to which a ``Decimal`` would be opaque; ``int``/``long`` -> ``int``;
* ``boolean`` -> ``bool``; text-like types (string, picklist, id, reference, email...) stay
  ``str``; other types (address, location, time...) pass through as JSON.

``attributes`` is dropped; every configured field is present (``None`` when empty). A value
of the wrong JSON type raises ``ValueError``; the reader names the stream and page.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import date, datetime
from operator import attrgetter, itemgetter
from typing import Any

from syncbridge.connector.errors import PermanentConnectorError
from syncbridge_salesforce.cursor import parse_stamp

#: Always read, whatever the settings say: the key, the cursor field and the tombstone flag.
REQUIRED_FIELDS = ("Id", "SystemModstamp", "IsDeleted")
#: Their types in every describe (the reader relies on them).
REQUIRED_TYPES = {"Id": "id", "SystemModstamp": "datetime", "IsDeleted": "boolean"}
TEXT_TYPES = frozenset(
    {
        "id", "reference", "string", "picklist", "multipicklist", "combobox", "textarea",
        "email", "phone", "url", "encryptedstring",
    }
)  # fmt: skip

Converter = Callable[[Any], Any]


def _date(value: Any) -> date:
    if not isinstance(value, str):
        raise ValueError(f"not a date: {value!r}"[:120])
    return date.fromisoformat(value)


def _datetime(value: Any) -> datetime:
    return parse_stamp(value)


def _float(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"not a number: {value!r}"[:120])
    number = float(value)
    if not math.isfinite(number):
        raise ValueError("not a finite number")
    return number


def _int(value: Any) -> int:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"not an integer: {value!r}"[:120])
    return int(value)


def _bool(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"not a boolean: {value!r}"[:120])
    return value


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(f"not text: {value!r}"[:120])
    return value


CONVERTERS: Mapping[str, Converter] = {
    "date": _date,
    "datetime": _datetime,
    "currency": _float,
    "double": _float,
    "percent": _float,
    "int": _int,
    "long": _int,
    "boolean": _bool,
    **dict.fromkeys(TEXT_TYPES, _text),
}


_NONE = type(None)
_DICT: frozenset[type] = frozenset({dict})
_TEXT: frozenset[type] = frozenset({str, _NONE})
_BOOLEAN: frozenset[type] = frozenset({bool, _NONE})
#: Types whose JSON values are kept once their type is checked: the value types allowed.
_CHECKED: Mapping[str, frozenset[type]] = {"boolean": _BOOLEAN, **dict.fromkeys(TEXT_TYPES, _TEXT)}
_NOUNS = {_BOOLEAN: "a boolean", _TEXT: "text"}
#: Types parsed from JSON strings (a datetime must also carry its offset).
_PARSERS: Mapping[str, Callable[[str], date]] = {
    "date": date.fromisoformat,
    "datetime": datetime.fromisoformat,
}
_TZINFO = attrgetter("tzinfo")


class RecordShape:
    """The fields a stream reads, in their describe spelling, with their converters.

    Records are typed a page at a time, column by column, so that the per-value work runs in
    C where it can: a text or boolean column is checked in one pass over its value types, a
    date or datetime column is parsed by ``fromisoformat`` mapped over its values (a column
    equal to one parsed before on the page, as ``LastModifiedDate`` often is to
    ``SystemModstamp``, takes its values), and numbers are converted value by value.
    """

    def __init__(self, sobject: str, describe: Any, wanted: Iterable[str]) -> None:
        types = field_types(sobject, describe)
        by_lower = {name.lower(): name for name in types}
        names: list[str] = []
        unknown: list[str] = []
        for name in (*REQUIRED_FIELDS, *wanted):
            canonical = by_lower.get(name.lower())
            if canonical is None:
                unknown.append(name)
            elif canonical not in names:
                names.append(canonical)
        if unknown:
            raise PermanentConnectorError(
                f"salesforce: {sobject} has no field {', '.join(unknown)} (per its describe)"
            )
        for name, kind in REQUIRED_TYPES.items():
            if types[name] != kind:
                raise PermanentConnectorError(
                    f"salesforce: the {sobject} describe gives {name} the type "
                    f"{types[name][:40]!r}, not {kind!r}"
                )
        self.sobject = sobject
        self.fields: tuple[str, ...] = tuple(names)
        self.types: Mapping[str, str] = {name: types[name] for name in names}
        kinds = self.types.items()
        #: Columns kept as they are once their value types are checked.
        self._checked = tuple((n, _CHECKED[k]) for n, k in kinds if k in _CHECKED)
        #: Columns parsed from strings.
        self._parsed = tuple((n, k) for n, k in kinds if k in _PARSERS)
        #: Columns converted value by value (numbers).
        self._converted = tuple(
            (n, CONVERTERS[k])
            for n, k in kinds
            if k in CONVERTERS and k not in _CHECKED and k not in _PARSERS
        )

    def select(self) -> str:
        """The SOQL select list."""
        return ", ".join(self.fields)

    def data(self, raw: Mapping[str, Any]) -> dict[str, Any]:
        """``Record.data`` of one JSON record; raises ValueError naming a bad field."""
        return self.page([dict(raw)])[0]

    def page(self, rows: Sequence[Any]) -> list[dict[str, Any]]:
        """``Record.data`` of each JSON record of an answer, in order; raises ValueError naming
        a bad field. The records are typed in place (they are the caller's freshly parsed
        answer): ``attributes`` is dropped and values are converted."""
        out = list(rows)
        if not _DICT.issuperset(map(type, out)):
            raise ValueError("a record is not an object")
        for raw in out:
            raw.pop("attributes", None)
        name = ""
        try:
            if not {len(self.fields)}.issuperset(map(len, out)):
                # Fields nobody asked for (or some missing): keep the selected ones only.
                out = [{name: raw[name] for name in self.fields} for raw in out]
            for name, allowed in self._checked:
                if not allowed.issuperset(map(type, map(itemgetter(name), out))):
                    value = next(r[name] for r in out if type(r[name]) not in allowed)
                    raise ValueError(f"not {_NOUNS[allowed]}: {value!r}"[:120])
            parsed: list[tuple[str, list[Any], list[Any]]] = []
            for name, kind in self._parsed:
                strings = list(map(itemgetter(name), out))
                values = next((v for k, s, v in parsed if k == kind and s == strings), None)
                if values is None:
                    values = _parse(kind, strings)
                    parsed.append((kind, strings, values))
                for raw, value in zip(out, values, strict=True):
                    raw[name] = value
            for name, convert in self._converted:
                for raw in out:
                    value = raw[name]
                    if value is not None:
                        raw[name] = convert(value)
        except KeyError as exc:
            raise ValueError(f"{exc.args[0]} is missing") from None
        except ValueError as exc:
            raise ValueError(f"{name}: {exc}") from None
        return out


def _parse(kind: str, strings: list[Any]) -> list[Any]:
    """The values of a ``date`` or ``datetime`` column (None stays None); raises ValueError."""
    parse = _PARSERS[kind]
    try:
        if not _TEXT.issuperset(map(type, strings)):
            raise ValueError
        if None in strings:
            values: list[Any] = [None if s is None else parse(s) for s in strings]
        else:
            values = list(map(parse, strings))
        if kind == "datetime" and None in map(_TZINFO, filter(None, values)):
            raise ValueError
    except ValueError:
        bad = next(s for s in strings if s is not None and not _parses(kind, s))
        raise ValueError(f"not a {kind}: {bad!r}"[:120]) from None
    return values


def _parses(kind: str, value: Any) -> bool:
    try:
        return CONVERTERS[kind](value) is not None
    except ValueError:
        return False


def field_types(sobject: str, describe: Any) -> dict[str, str]:
    """``{field name: type}`` from a describe answer; raises PermanentConnectorError."""
    fields = describe.get("fields") if isinstance(describe, dict) else None
    if not isinstance(fields, list):
        raise PermanentConnectorError(f"salesforce: the {sobject} describe has no fields")
    out: dict[str, str] = {}
    for item in fields:
        name = item.get("name") if isinstance(item, dict) else None
        kind = item.get("type") if isinstance(item, dict) else None
        if not isinstance(name, str) or not isinstance(kind, str):
            raise PermanentConnectorError(f"salesforce: the {sobject} describe is malformed")
        out[name] = kind
    return out


def record_list(body: Any) -> Sequence[Any]:
    """The ``records`` array of a query answer; raises ValueError when it is not one."""
    records = body.get("records") if isinstance(body, dict) else None
    if not isinstance(records, list):
        raise ValueError("the answer has no records array")
    return records


__all__ = [
    "CONVERTERS",
    "REQUIRED_FIELDS",
    "REQUIRED_TYPES",
    "RecordShape",
    "field_types",
    "record_list",
]
