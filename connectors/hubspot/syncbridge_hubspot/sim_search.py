"""The CRM search endpoint of the simulator: filters, sorts, free text, paging and its cap.

``POST /crm/v3/objects/{type}/search`` takes ``filterGroups`` (ORed; the filters of a group
ANDed), ``sorts``, ``query``, ``properties``, ``limit`` (<= 200) and ``after`` (an offset).
Paging past ``result_cap`` (10,000) results answers 400, as HubSpot does. Values compare by
the property's type: datetimes as epoch milliseconds (or ISO text), numbers as numbers, text
case-insensitively. A search whose filters and sort are all on the modification time is
answered from the ``(modified, id)`` index with two bisections; anything else scans.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import Any

from syncbridge_hubspot.sim_objects import (
    SEARCHABLE,
    ObjectTable,
    SimObject,
    epoch_ms,
)
from syncbridge_hubspot.sim_properties import MODIFIED, PROPERTY_DEFINITIONS

OPERATORS = frozenset(
    {
        "EQ",
        "NEQ",
        "LT",
        "LTE",
        "GT",
        "GTE",
        "BETWEEN",
        "IN",
        "NOT_IN",
        "HAS_PROPERTY",
        "NOT_HAS_PROPERTY",
        "CONTAINS_TOKEN",
        "NOT_CONTAINS_TOKEN",
    }
)
RANGE_OPERATORS = frozenset({"EQ", "LT", "LTE", "GT", "GTE", "BETWEEN"})


class SearchError(ValueError):
    """A search HubSpot refuses with 400 ``VALIDATION_ERROR``."""


@dataclass(frozen=True)
class SearchLimits:
    """HubSpot's search limits (the 2024-08 changelog; kept configurable as they drift)."""

    max_groups: int = 5
    max_filters_per_group: int = 10
    max_filters: int = 25
    max_limit: int = 200
    default_limit: int = 10
    result_cap: int = 10_000
    max_query_chars: int = 3000


@dataclass(frozen=True)
class Filter:
    prop: str
    op: str
    value: Any = None
    high: Any = None
    values: tuple[Any, ...] = ()


@dataclass(frozen=True)
class SearchRequest:
    groups: tuple[tuple[Filter, ...], ...]
    sorts: tuple[tuple[str, bool], ...]  # (property, descending)
    query: str | None
    properties: list[str] | None
    limit: int
    offset: int


def parse_request(kind: str, body: Any, limits: SearchLimits) -> SearchRequest:
    """Validate a search body; raises ``SearchError`` with HubSpot-like messages."""
    if not isinstance(body, dict):
        raise SearchError("Invalid input JSON: the body must be an object")
    types = _types(kind)
    groups = _groups(body.get("filterGroups", []), types, kind, limits)
    sorts = _sorts(body.get("sorts", []), types)
    query = body.get("query")
    if query is not None and (not isinstance(query, str) or len(query) > limits.max_query_chars):
        raise SearchError(f"query must be a string of at most {limits.max_query_chars} characters")
    properties = body.get("properties")
    if properties is not None and (
        not isinstance(properties, list) or not all(isinstance(p, str) for p in properties)
    ):
        raise SearchError("properties must be a list of property names")
    limit = _int(body.get("limit", limits.default_limit), "limit")
    if not 1 <= limit <= limits.max_limit:
        raise SearchError(f"limit must be between 1 and {limits.max_limit}")
    offset = _int(body.get("after", "0") or "0", "after")
    if offset + limit > limits.result_cap:
        raise SearchError(
            f"The search would page past {limits.result_cap} results: after {offset} + limit "
            f"{limit}; narrow the filters instead"
        )
    return SearchRequest(groups, sorts, query, properties, limit, offset)


def _types(kind: str) -> dict[str, str]:
    return {name: kind_ for name, _, kind_, _ in PROPERTY_DEFINITIONS[kind]}


def _int(value: Any, what: str) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise SearchError(f"{what} must be an integer") from None
    if isinstance(value, bool) or number < 0:
        raise SearchError(f"{what} must be a non-negative integer")
    return number


def _groups(
    raw: Any, types: Mapping[str, str], kind: str, limits: SearchLimits
) -> tuple[tuple[Filter, ...], ...]:
    if not isinstance(raw, list) or len(raw) > limits.max_groups:
        raise SearchError(f"filterGroups must be a list of at most {limits.max_groups} groups")
    groups, total = [], 0
    for group in raw:
        filters = group.get("filters") if isinstance(group, dict) else None
        if not isinstance(filters, list) or len(filters) > limits.max_filters_per_group:
            raise SearchError(
                f"each filter group holds a list of at most {limits.max_filters_per_group} filters"
            )
        total += len(filters)
        groups.append(tuple(_filter(f, types, kind) for f in filters))
    if total > limits.max_filters:
        raise SearchError(f"at most {limits.max_filters} filters in total")
    return tuple(groups)


def _filter(raw: Any, types: Mapping[str, str], kind: str) -> Filter:
    if not isinstance(raw, dict):
        raise SearchError("each filter must be an object")
    prop, op = raw.get("propertyName"), raw.get("operator")
    if not isinstance(prop, str) or prop not in types:
        raise SearchError(
            f"There was a problem with the request: {prop!r} is not a {kind} property"
        )
    if op not in OPERATORS:
        raise SearchError(f"operator must be one of {sorted(OPERATORS)}")
    coerce = _coercer(types[prop])
    if op in ("HAS_PROPERTY", "NOT_HAS_PROPERTY"):
        return Filter(prop, op)
    if op in ("IN", "NOT_IN"):
        values = raw.get("values")
        if not isinstance(values, list) or not values:
            raise SearchError(f"{op} needs a non-empty values list")
        return Filter(prop, op, values=tuple(coerce(v) for v in values))
    if "value" not in raw:
        raise SearchError(f"{op} needs a value")
    high = coerce(raw["highValue"]) if op == "BETWEEN" and "highValue" in raw else None
    if op == "BETWEEN" and high is None:
        raise SearchError("BETWEEN needs a highValue")
    return Filter(prop, op, coerce(raw["value"]), high)


def _coercer(prop_type: str) -> Callable[[Any], Any]:
    if prop_type in ("datetime", "date"):
        return _to_ms
    if prop_type == "number":
        return _to_number
    return lambda v: str(v).lower()


def _to_ms(value: Any) -> int:
    text = str(value).strip()
    if text.lstrip("-").isdigit():
        return int(text)
    try:
        at = datetime.fromisoformat(text)
    except ValueError:
        raise SearchError(f"{value!r} is not a date (epoch milliseconds or ISO 8601)") from None
    return epoch_ms(at if at.tzinfo else at.replace(tzinfo=UTC))


def _to_number(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        raise SearchError(f"{value!r} is not a number") from None


def _sorts(raw: Any, types: Mapping[str, str]) -> tuple[tuple[str, bool], ...]:
    if not isinstance(raw, list):
        raise SearchError("sorts must be a list")
    out = []
    for item in raw:
        prop: Any
        if isinstance(item, str):  # "createdate" or "-createdate" (the SDK types sorts as str)
            prop, descending = item.removeprefix("-"), item.startswith("-")
        elif isinstance(item, dict):
            prop, direction = item.get("propertyName"), item.get("direction", "ASCENDING")
            if direction not in ("ASCENDING", "DESCENDING"):
                raise SearchError("direction must be ASCENDING or DESCENDING")
            descending = direction == "DESCENDING"
        else:
            raise SearchError("each sort is a property name or {propertyName, direction}")
        if not isinstance(prop, str) or prop not in types:
            raise SearchError(f"cannot sort by {prop!r}")
        out.append((prop, descending))
    return tuple(out)


def run(table: ObjectTable, request: SearchRequest) -> tuple[list[SimObject], int]:
    """The page of matching records and the total number of matches."""
    indexed = _indexed(table, request)
    if indexed is not None:
        ids, total = indexed
        return [table.records[i] for i in ids], total
    types = _types(table.kind)
    active = (table.records[i] for i in table.active)
    matches = [r for r in active if _matches(r, request, types, table.kind)]
    for prop, descending in reversed(request.sorts):
        matches.sort(
            key=partial(_sort_key, prop=prop, coerce=_coercer(types[prop])), reverse=descending
        )
    end = request.offset + request.limit
    return matches[request.offset : end], len(matches)


def _sort_key(record: SimObject, prop: str, coerce: Callable[[Any], Any]) -> tuple[int, Any]:
    value = record.properties.get(prop)
    return (1, 0) if value is None else (0, coerce(value))


def _indexed(table: ObjectTable, request: SearchRequest) -> tuple[list[str], int] | None:
    """Answer from the modification-time index when only that property is involved."""
    modified = MODIFIED[table.kind]
    if request.query or len(request.groups) > 1 or len(request.sorts) != 1:
        return None
    (sort_prop, descending) = request.sorts[0]
    filters = request.groups[0] if request.groups else ()
    if sort_prop != modified or any(
        f.prop != modified or f.op not in RANGE_OPERATORS for f in filters
    ):
        return None
    low, high = 0, len(table.by_modified)
    for f in filters:
        lo_key, hi_key = _bounds(f)
        if lo_key is not None:
            low = max(low, bisect.bisect_left(table.by_modified, lo_key))
        if hi_key is not None:
            high = min(high, bisect.bisect_left(table.by_modified, hi_key))
    total = max(0, high - low)
    if descending:
        start = high - request.offset
        chunk = table.by_modified[max(low, start - request.limit) : max(low, start)][::-1]
    else:
        start = low + request.offset
        chunk = table.by_modified[start : min(high, start + request.limit)]
    return [record_id for _, record_id in chunk], total


def _bounds(f: Filter) -> tuple[tuple[int, str] | None, tuple[int, str] | None]:
    """Index keys bounding a range filter: ``[low, high)`` over ``(ms, id)`` pairs."""
    below, above = (int(f.value), ""), (int(f.value) + 1, "")
    if f.op == "GT":
        return above, None
    if f.op == "GTE":
        return below, None
    if f.op == "LT":
        return None, below
    if f.op == "LTE":
        return None, above
    if f.op == "EQ":
        return below, above
    return below, (int(f.high) + 1, "")  # BETWEEN is inclusive at both ends


def _matches(
    record: SimObject, request: SearchRequest, types: Mapping[str, str], kind: str
) -> bool:
    if request.query:
        needle = request.query.lower()
        fields = SEARCHABLE[kind]
        if not any(needle in (record.properties.get(p) or "").lower() for p in fields):
            return False
    if not request.groups:
        return True
    return any(all(_holds(record, f, types) for f in group) for group in request.groups)


def _holds(record: SimObject, f: Filter, types: Mapping[str, str]) -> bool:
    raw = record.properties.get(f.prop)
    if f.op == "HAS_PROPERTY":
        return raw is not None and raw != ""
    if f.op == "NOT_HAS_PROPERTY":
        return raw is None or raw == ""
    if raw is None:
        return f.op in ("NEQ", "NOT_IN", "NOT_CONTAINS_TOKEN")
    value = _coercer(types[f.prop])(raw)
    if f.op in ("CONTAINS_TOKEN", "NOT_CONTAINS_TOKEN"):
        token = str(f.value).strip("*")
        found = token in str(value).lower().replace(";", " ").split() or (
            str(f.value).endswith("*") and str(value).lower().startswith(token)
        )
        return found if f.op == "CONTAINS_TOKEN" else not found
    checks: dict[str, Callable[[], bool]] = {
        "EQ": lambda: value == f.value,
        "NEQ": lambda: value != f.value,
        "LT": lambda: value < f.value,
        "LTE": lambda: value <= f.value,
        "GT": lambda: value > f.value,
        "GTE": lambda: value >= f.value,
        "BETWEEN": lambda: f.value <= value <= f.high,
        "IN": lambda: value in f.values,
        "NOT_IN": lambda: value not in f.values,
    }
    return checks[f.op]()


__all__ = ["OPERATORS", "SearchError", "SearchLimits", "SearchRequest", "parse_request", "run"]
