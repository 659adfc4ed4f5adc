"""Checks on HubSpot answers and the typed pieces taken from them (ids, instants, paging)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from syncbridge.connector.errors import PermanentConnectorError
from syncbridge.connector.jsonbody import loads
from syncbridge.connector.paging import hubspot_next_after

_UNIX_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_MS = timedelta(milliseconds=1)


def json_of(response: httpx.Response, where: str) -> Any:
    """The JSON of an answer; garbage or a truncated body is a permanent error naming ``where``."""
    try:
        return loads(response.content)
    except ValueError as exc:
        raise PermanentConnectorError(
            f"hubspot: {where}: the answer is not JSON (HTTP {response.status_code}, "
            f"{len(response.content)} bytes)"
        ) from exc


def results_of(body: Any, where: str) -> list[dict[str, Any]]:
    """The ``results`` of a HubSpot collection answer, each an object with a string ``id``.

    ``where`` names the stream and page for the error raised on anything else.
    """
    results = body.get("results") if isinstance(body, dict) else None
    if not isinstance(results, list) or not all(map(_is_object, results)):
        raise PermanentConnectorError(f"hubspot: {where}: the answer is not a page of records")
    return results


#: Stands in for a record without ``properties`` (only read, never changed).
_NO_PROPERTIES: dict[str, Any] = {}


def _is_object(value: Any) -> bool:
    return (
        isinstance(value, dict)
        and isinstance(value.get("id"), str)
        and isinstance(value.get("properties", _NO_PROPERTIES), dict)
    )


def next_after(body: Mapping[str, Any]) -> str | None:
    """``paging.next.after`` of an answer (None on the last page)."""
    return hubspot_next_after(body)


def parse_instant(value: Any) -> datetime | None:
    """An ISO 8601 instant (``2024-01-02T03:04:05.678Z``) as aware UTC; None if it is not one."""
    if not isinstance(value, str):
        return None
    try:
        at = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    zone = at.tzinfo
    if zone is UTC:
        return at
    return at.replace(tzinfo=UTC) if zone is None else at.astimezone(UTC)


def epoch_ms(at: datetime) -> int:
    """``at`` in epoch milliseconds (HubSpot's resolution for modification times)."""
    return (at - _UNIX_EPOCH) // _ONE_MS


def modified_ms(obj: Mapping[str, Any], prop: str, where: str) -> int:
    """When ``obj`` was last modified, in epoch milliseconds (the property, else ``updatedAt``)."""
    properties = obj.get("properties")
    raw = properties.get(prop) if isinstance(properties, dict) else None
    at = parse_instant(raw) or parse_instant(obj.get("updatedAt"))
    if at is None:
        raise PermanentConnectorError(f"hubspot: {where}: record {obj.get('id')} has no {prop}")
    return epoch_ms(at)


def numeric_order(ids: list[str]) -> list[str]:
    """Distinct ids in numeric order (HubSpot ids are decimal strings)."""
    return sorted(set(ids), key=lambda i: (len(i), i))


__all__ = [
    "epoch_ms",
    "json_of",
    "modified_ms",
    "next_after",
    "numeric_order",
    "parse_instant",
    "results_of",
]
