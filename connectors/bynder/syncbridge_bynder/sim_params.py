"""What every simulated Bynder route shares: ids, dates, and strict parameter parsing.

Every route names the parameters it implements; any other one is refused with 400 in
Bynder's error shape rather than ignored (a client that misspells a filter must not get a
silent, unfiltered 200).
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Mapping, Sequence
from datetime import UTC, datetime, timedelta

_NS = uuid.UUID("6f1c6f54-2f57-4d0e-9a55-0b7f0b1d2a10")
_TRUE = frozenset({"1", "true"})
_FALSE = frozenset({"0", "false"})


class BadRequest(ValueError):
    """The request is wrong in a way Bynder answers with 400."""


def bynder_id(*parts: object) -> str:
    """A deterministic id in Bynder's ``8-4-4-16`` upper-case style (metaproperties, options)."""
    raw = str(uuid.uuid5(_NS, ":".join(map(str, parts)))).upper()
    return raw[:23] + raw[24:]


def iso(at: datetime) -> str:
    """Bynder's timestamp format: ISO 8601 in UTC to the second with ``Z``."""
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_iso(value: str) -> datetime:
    """A Bynder date parameter (``2024-01-02``, ``...T10:00:00Z``, with offset) as aware UTC."""
    at = datetime.fromisoformat(value.strip().replace(" ", "+"))
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)


def parse_param(value: str, name: str) -> datetime:
    """``parse_iso`` for a named parameter; BadRequest when it is not a date."""
    try:
        return parse_iso(value)
    except ValueError as exc:
        raise BadRequest(f"{name} is not an ISO 8601 date") from exc


def ceil_second(at: datetime) -> datetime:
    """``at`` rounded up to a whole second."""
    whole = at.replace(microsecond=0)
    return whole + timedelta(seconds=1) if at.microsecond else whole


def split(value: str) -> list[str]:
    """A comma-separated parameter as its non-empty, stripped parts."""
    return [part.strip() for part in value.split(",") if part.strip()]


def dedupe(values: Sequence[str]) -> list[str]:
    return list(dict.fromkeys(values))


def flag(params: Mapping[str, str], name: str) -> bool | None:
    """A boolean parameter (``1``/``0``/``true``/``false``), None when absent; else BadRequest."""
    value = params.get(name)
    if value is None:
        return None
    if value.strip().lower() in _TRUE:
        return True
    if value.strip().lower() in _FALSE:
        return False
    raise BadRequest(f"{name} must be 0, 1, true or false")


def parse_order(order_by: str, fields: Collection[str]) -> tuple[str, bool]:
    """``(field, descending)`` of an ``orderBy`` such as ``"name desc"`` over ``fields``;
    BadRequest when the field or direction is not supported."""
    field_name, _, direction = order_by.strip().partition(" ")
    direction = direction.strip().lower()
    if field_name not in fields or direction not in ("asc", "desc"):
        raise BadRequest(f"orderBy {order_by!r} is not supported")
    return field_name, direction == "desc"


def only_known(params: Mapping[str, str], known: Collection[str], what: str) -> None:
    """BadRequest naming the first parameter ``what`` does not implement."""
    for name in params:
        if name not in known:
            raise BadRequest(f"{what}: parameter {name!r} is not supported")


__all__ = [
    "BadRequest",
    "bynder_id",
    "ceil_second",
    "dedupe",
    "flag",
    "iso",
    "only_known",
    "parse_iso",
    "parse_param",
    "split",
]
