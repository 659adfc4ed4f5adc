"""Salesforce records as plain data, typed by the object's describe.

``GET /services/data/vXX.X/sobjects/{object}/describe`` names each field's type; a
:class:`RecordShape` is built once per stream from it and turns a JSON record into
``Record.data`` by precomputed converters (no per-record models):

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
from typing import Any

from syncbridge.connector.errors import PermanentConnectorError
from syncbridge_salesforce.cursor import parse_stamp

#: Always read, whatever the settings say: the key, the cursor field and the tombstone flag.
REQUIRED_FIELDS = ("Id", "SystemModstamp", "IsDeleted")
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


def _pass(value: Any) -> Any:
    return value


class RecordShape:
    """The fields a stream reads, in their describe spelling, with their converters."""

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
        self.sobject = sobject
        self.fields: tuple[str, ...] = tuple(names)
        self.types: Mapping[str, str] = {name: types[name] for name in names}
        self._converters: tuple[tuple[str, Converter], ...] = tuple(
            (name, CONVERTERS.get(types[name], _pass)) for name in names
        )

    def select(self) -> str:
        """The SOQL select list."""
        return ", ".join(self.fields)

    def data(self, raw: Mapping[str, Any]) -> dict[str, Any]:
        """``Record.data`` of one JSON record; raises ValueError naming a bad field."""
        out: dict[str, Any] = {}
        name = ""
        try:
            for name, convert in self._converters:
                value = raw[name]
                out[name] = None if value is None else convert(value)
        except KeyError:
            raise ValueError(f"{name} is missing") from None
        except ValueError as exc:
            raise ValueError(f"{name}: {exc}") from None
        return out


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


__all__ = ["CONVERTERS", "REQUIRED_FIELDS", "RecordShape", "field_types", "record_list"]
