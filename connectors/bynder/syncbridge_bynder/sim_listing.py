"""``GET /api/v4/media/`` of the simulated portal: parameters parsed strictly, pages from indexes.

Implemented, as Bynder's API reference documents them:

* ``orderBy``: ``dateCreated|dateModified|datePublished|name asc|desc`` (default
  ``dateCreated desc``), ties broken by id.
* ``dateModified``/``dateCreated`` (modified or created after; whether a medium at exactly
  that second is kept is the portal's ``inclusive_date_filters`` switch, as Bynder does not
  document it), ``dateModifiedTo``/``dateCreatedTo`` (at or before), ``dateModifiedOn``/
  ``dateCreatedOn`` (that UTC day).
* ``type`` and ``orientation`` (comma lists, any of), ``tags`` and ``propertyOptionId`` (all
  of), ``property_<Name>`` (an option name, or option ids, of that metaproperty; all of),
  ``isPublic``/``archive``/``limited`` (1: only media marked so; 0: no filter), ``brandId``,
  ``collectionId``, ``id``, ``ids``, ``keyword`` (name, description, tags, extension and the
  names of the medium's collections).
* ``count=1`` (``{"count": {"total", "type"}, "media"}``), ``total=1``
  (``{"total": {"count"}, "media"}``), ``includeMediaItems``, ``includeVersionNumber``.

Refused with 400: ``subBrandId``, ``categoryId`` (the portal has no sub-brands or
categories), ``cursor`` (the solr-cursor account feature is off), and any parameter Bynder
does not document.

A page without filters is a slice of a sorted index (bisected by a ``dateModified`` or
``dateCreated`` range on the same field); a filtered page walks that index and stops once the
page is full; ``id``/``ids``/``collectionId`` sort their few candidates. Only ``count=1`` and
``total=1`` look at every match, as they must.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import islice
from typing import TYPE_CHECKING, Any

from syncbridge_bynder.sim_params import (
    BadRequest,
    ceil_second,
    flag,
    iso,
    parse_order,
    parse_param,
    split,
)

if TYPE_CHECKING:
    from syncbridge_bynder.sim_state import BynderPortal

Media = dict[str, Any]
Check = Callable[[Media], bool]

MEDIA_TYPES = frozenset({"image", "document", "audio", "video", "3d"})
ORIENTATIONS = frozenset({"square", "portrait", "landscape"})
ORDER_KEYS: dict[str, Callable[[Mapping[str, Any]], Any]] = {
    "dateModified": lambda m: m["dateModified"],
    "dateCreated": lambda m: m["dateCreated"],
    "datePublished": lambda m: m["datePublished"],
    "name": lambda m: m["name"].casefold(),
}
_NOT_SIMULATED = {
    "subBrandId": "the portal has no sub-brands",
    "categoryId": "the portal has no categories",
    "cursor": "cursor paging (the solr-cursor account feature) is not enabled",
}
_PARAMS = frozenset(
    {
        "page",
        "limit",
        "orderBy",
        "count",
        "total",
        "includeMediaItems",
        "includeVersionNumber",
        "dateModified",
        "dateModifiedTo",
        "dateModifiedOn",
        "dateCreated",
        "dateCreatedTo",
        "dateCreatedOn",
        "type",
        "orientation",
        "tags",
        "propertyOptionId",
        "isPublic",
        "archive",
        "limited",
        "brandId",
        "collectionId",
        "id",
        "ids",
        "keyword",
    }
)
#: Sorts after any id: ``(stamp, _LAST)`` is past every entry of that stamp in an index.
_LAST = "\U0010ffff"


@dataclass(frozen=True)
class Bound:
    """One end of a date range over same-format ISO strings (they sort like the instants)."""

    value: str
    strict: bool


@dataclass
class DateRange:
    """The ``dateModified*`` or ``dateCreated*`` filters, as lower and upper bounds."""

    field_name: str
    low: list[Bound] = field(default_factory=list)
    high: list[Bound] = field(default_factory=list)

    def admits(self, media: Mapping[str, Any]) -> bool:
        stamp = media[self.field_name]
        return all(stamp > b.value if b.strict else stamp >= b.value for b in self.low) and all(
            stamp < b.value if b.strict else stamp <= b.value for b in self.high
        )

    def span(self, index: list[tuple[Any, str]]) -> tuple[int, int]:
        """The positions ``[lo, hi)`` of ``index`` (sorted by this field) inside the range."""
        lo, hi = 0, len(index)
        for b in self.low:
            at = (
                bisect.bisect_right(index, (b.value, _LAST))
                if b.strict
                else bisect.bisect_left(index, (b.value, ""))
            )
            lo = max(lo, at)
        for b in self.high:
            at = (
                bisect.bisect_left(index, (b.value, ""))
                if b.strict
                else bisect.bisect_right(index, (b.value, _LAST))
            )
            hi = min(hi, at)
        return lo, max(lo, hi)


@dataclass
class MediaQuery:
    """A parsed media listing request."""

    order_field: str = "dateCreated"
    descending: bool = True
    #: Ids from ``id``, ``ids`` and ``collectionId`` (intersected); None: every medium.
    candidates: set[str] | None = None
    ranges: list[DateRange] = field(default_factory=list)
    checks: list[Check] = field(default_factory=list)
    count: bool = False
    total: bool = False
    include_items: bool = False
    include_version: bool = False

    def admits(self, media: Media) -> bool:
        """Whether ``media`` matches every filter (the reference the indexed pages follow)."""
        return (
            (self.candidates is None or media["id"] in self.candidates)
            and all(r.admits(media) for r in self.ranges)
            and all(check(media) for check in self.checks)
        )

    def narrow(self, ids: set[str]) -> None:
        self.candidates = ids if self.candidates is None else self.candidates & ids


def parse_query(params: Mapping[str, str], portal: BynderPortal) -> MediaQuery:
    """The listing request ``params`` asks for; raises BadRequest."""
    for name in params:
        if name in _NOT_SIMULATED:
            raise BadRequest(f"{name} is not supported: {_NOT_SIMULATED[name]}")
        if name not in _PARAMS and not name.startswith("property_"):
            raise BadRequest(f"media: parameter {name!r} is not supported")
    query = MediaQuery()
    query.order_field, query.descending = parse_order(
        params.get("orderBy", "dateCreated desc"), ORDER_KEYS
    )
    query.count = bool(flag(params, "count"))
    query.total = bool(flag(params, "total"))
    query.include_items = bool(flag(params, "includeMediaItems"))
    query.include_version = bool(flag(params, "includeVersionNumber"))
    for field_name in ("dateModified", "dateCreated"):
        date_range = _date_range(params, field_name, portal.inclusive_date_filters)
        if date_range.low or date_range.high:
            query.ranges.append(date_range)
    _any_of(params, query, "type", MEDIA_TYPES)
    _any_of(params, query, "orientation", ORIENTATIONS)
    _options(params, query, portal)
    for name in ("isPublic", "archive", "limited"):
        if flag(params, name):
            query.checks.append(_marked(name))
    if tags := params.get("tags"):
        needed = set(split(tags))
        query.checks.append(lambda m: needed.issubset(m["tags"]))
    if brand := params.get("brandId"):
        query.checks.append(lambda m: m["brandId"] == brand)
    if keyword := params.get("keyword", "").strip().casefold():
        named = portal.collections.members_named(keyword)
        query.checks.append(lambda m: keyword in _haystack(m) or m["id"] in named)
    if "id" in params:
        query.narrow({params["id"]})
    if "ids" in params:
        query.narrow(set(split(params["ids"])))
    if "collectionId" in params:
        found = portal.collections.by_id.get(params["collectionId"])
        query.narrow(set(found.media) if found else set())
    return query


def _date_range(params: Mapping[str, str], field_name: str, inclusive: bool) -> DateRange:
    date_range = DateRange(field_name)
    if since := params.get(field_name):
        at = parse_param(since, field_name)
        # "After" at second resolution: at or after the next whole second, or strictly after
        # the second ``at`` falls in.
        bound = Bound(iso(ceil_second(at)), False) if inclusive else Bound(iso(at), True)
        date_range.low.append(bound)
    if until := params.get(f"{field_name}To"):
        date_range.high.append(Bound(iso(parse_param(until, f"{field_name}To")), False))
    if on := params.get(f"{field_name}On"):
        day = parse_param(on, f"{field_name}On").astimezone(UTC).date()
        start = datetime(day.year, day.month, day.day, tzinfo=UTC)
        date_range.low.append(Bound(iso(start), False))
        date_range.high.append(Bound(iso(start + timedelta(days=1)), True))
    return date_range


def _any_of(
    params: Mapping[str, str], query: MediaQuery, name: str, allowed: frozenset[str]
) -> None:
    if (value := params.get(name)) is None:
        return
    wanted = set(split(value))
    if not wanted or not wanted <= allowed:
        raise BadRequest(f"{name} must be a comma list of {', '.join(sorted(allowed))}")
    query.checks.append(lambda m: m[name] in wanted)


def _options(params: Mapping[str, str], query: MediaQuery, portal: BynderPortal) -> None:
    needed: set[str] = set(split(params.get("propertyOptionId", "")))
    for name, value in params.items():
        if not name.startswith("property_"):
            continue
        mp = portal.metaproperty_named(name.removeprefix("property_"))
        if mp is None:
            raise BadRequest(f"{name}: there is no metaproperty {name[9:]!r}")
        by_id = {o["id"]: o["id"] for o in mp["options"]}
        by_name = {o["name"]: o["id"] for o in mp["options"]}
        for part in split(value):
            # An option of another metaproperty, or none at all, matches no medium.
            needed.add(by_id.get(part) or by_name.get(part) or f"no option {part!r}")
    if needed:
        query.checks.append(lambda m: needed.issubset(m["propertyOptions"]))


def _marked(name: str) -> Check:
    return lambda m: bool(m[name] == 1)


def _haystack(media: Mapping[str, Any]) -> str:
    parts = [media["name"], media.get("description", ""), *media["tags"], *media["extension"]]
    return " ".join(parts).casefold()


# -- answering ---------------------------------------------------------------------------


def full_listing(portal: BynderPortal, query: MediaQuery) -> list[Media]:
    """Every match, in order: the plain definition every indexed page must agree with."""
    pool = (
        portal.media.values()
        if query.candidates is None
        else [portal.media[i] for i in query.candidates if i in portal.media]
    )
    key = ORDER_KEYS[query.order_field]
    found = [m for m in pool if query.admits(m)]
    return sorted(found, key=lambda m: (key(m), m["id"]), reverse=query.descending)


def listing_page(
    portal: BynderPortal, query: MediaQuery, page: int, limit: int
) -> tuple[list[Media], int | None, list[Media] | None]:
    """One page, the number of matches when known cheaply (or counted), and every match
    when ``count``/``total`` ask for them."""
    offset = (page - 1) * limit
    if query.count or query.total:
        matched = full_listing(portal, query)
        return matched[offset : offset + limit], len(matched), matched
    if query.candidates is not None:
        matched = full_listing(portal, query)
        return matched[offset : offset + limit], len(matched), None
    index = portal.index(query.order_field)
    lo, hi = 0, len(index)
    checks = list(query.checks)
    for date_range in query.ranges:
        if date_range.field_name == query.order_field:
            lo, hi = date_range.span(index)
        else:
            checks.append(date_range.admits)
    if not checks:
        return _slice(portal, index, lo, hi, query.descending, offset, limit), hi - lo, None
    walk = range(hi - 1, lo - 1, -1) if query.descending else range(lo, hi)
    matches = _matching(portal, index, walk, checks)
    return list(islice(matches, offset, offset + limit)), _cheap_total(portal, query), None


def _cheap_total(portal: BynderPortal, query: MediaQuery) -> int | None:
    """The number of matches when one date range on another field than the order is the
    only filter (its own index counts it); None otherwise."""
    if query.checks or len(query.ranges) != 1:
        return None
    (date_range,) = query.ranges
    lo, hi = date_range.span(portal.index(date_range.field_name))
    return hi - lo


def _slice(
    portal: BynderPortal,
    index: list[tuple[Any, str]],
    lo: int,
    hi: int,
    descending: bool,
    offset: int,
    limit: int,
) -> list[Media]:
    if descending:
        end = hi - offset
        ids = [i for _k, i in reversed(index[max(lo, end - limit) : max(lo, end)])]
    else:
        start = lo + offset
        ids = [i for _k, i in index[start : min(hi, start + limit)]]
    return [portal.media[i] for i in ids]


def _matching(
    portal: BynderPortal, index: list[tuple[Any, str]], walk: range, checks: list[Check]
) -> Iterator[Media]:
    for position in walk:
        media = portal.media[index[position][1]]
        if all(check(media) for check in checks):
            yield media


__all__ = [
    "MEDIA_TYPES",
    "ORDER_KEYS",
    "ORIENTATIONS",
    "MediaQuery",
    "full_listing",
    "listing_page",
    "parse_query",
]
