"""Reading HubSpot CRM objects (contacts, companies, deals): list, search, batch read.

* Full reads page ``GET /crm/v3/objects/{type}`` with ``after`` (``limit`` <= 100), deals
  with ``associations=contacts`` so their links come in the same call; then, if asked,
  ``archived=true`` for tombstones. Before the first page the newest modification time is
  taken (one search, newest first): the watermark the next incremental read starts from.
* Incremental reads search ``POST /crm/v3/objects/{type}/search`` for records modified after
  the watermark, oldest first (``limit`` <= 200). HubSpot pages at most 10,000 results of one
  search, so before reaching that the window moves on: the next search starts at the last
  modification time seen (``GTE``), skipping the ids already emitted at that instant.
* ``fetch`` batch-reads 100 ids per call; search and batch answers carry no associations,
  so deals get theirs from ``POST /crm/v4/associations/deals/{type}/batch/read``.

Property values are typed by the properties API (``GET /crm/v3/properties/{type}``, read
once per stream and cached).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from datetime import datetime
from operator import itemgetter
from typing import Any
from urllib.parse import quote, urlencode

from syncbridge.connector.errors import PermanentConnectorError
from syncbridge.connector.http import VendorHttp
from syncbridge.connector.types import Page, Record
from syncbridge.logs import get_logger
from syncbridge_hubspot.cursor import FullCursor, IncrementalCursor
from syncbridge_hubspot.properties import PropertyParsers
from syncbridge_hubspot.records import (
    json_of,
    modified_ms,
    next_after,
    numeric_order,
    parse_instant,
    results_of,
)
from syncbridge_hubspot.settings import HubSpotSettings

log = get_logger(__name__)

CRM_STREAMS = ("contacts", "companies", "deals")
#: The property holding a record's last modification time (contacts keep the older name).
MODIFIED_PROPERTY = {
    "contacts": "lastmodifieddate",
    "companies": "hs_lastmodifieddate",
    "deals": "hs_lastmodifieddate",
}
BATCH_READ_MAX = 100
ASSOCIATIONS_BATCH_MAX = 1000


class CrmReader:
    """Reads one HubSpot account's CRM objects into records."""

    def __init__(self, http: VendorHttp, search: VendorHttp, settings: HubSpotSettings) -> None:
        self.http = http
        self.search = search
        self.settings = settings
        self._parsers: dict[str, PropertyParsers] = {}
        self._parsers_lock = asyncio.Lock()

    async def parsers(self, stream: str) -> PropertyParsers:
        """The property parsers of ``stream`` (the properties API, read once)."""
        async with self._parsers_lock:
            cached = self._parsers.get(stream)
            if cached is None:
                where = f"{stream} properties"
                body = json_of(await self.http.request("GET", f"crm/v3/properties/{stream}"), where)
                definitions = body.get("results") if isinstance(body, dict) else None
                if not isinstance(definitions, list):
                    raise PermanentConnectorError(
                        f"hubspot: {stream}: the properties answer has no results"
                    )
                cached = self._parsers[stream] = PropertyParsers.from_definitions(definitions)
            return cached

    # ----- reading ------------------------------------------------------------------------

    async def full(self, stream: str, cursor: FullCursor | None) -> AsyncIterator[Page]:
        """A full read from ``cursor`` (None: the start, taking the watermark first)."""
        total: int | None = None
        if cursor is None:
            watermark, total = await self._watermark(stream)
            cursor = FullCursor(watermark)
        parsers = await self.parsers(stream)
        phase, after = cursor.phase, cursor.after
        list_url = self._list_url(stream, phase)
        while True:
            where = f"{stream} {phase} page after {after or 'start'}"
            url = list_url if after is None else f"{list_url}&after={quote(after, safe='')}"
            body = json_of(await self.http.request("GET", url), where)
            objects = results_of(body, where)
            if phase == "active":
                records = await self._records(stream, objects, parsers, embedded=True)
            else:
                records = [_tombstone(stream, obj) for obj in objects]
            log.info("hubspot.page_read", stream=stream, phase=phase, count=len(records))
            following = next_after(body)
            if following is not None:
                next_cursor = FullCursor(cursor.watermark, phase, following).encode()
                after = following
            elif phase == "active" and self.settings.include_archived:
                next_cursor = FullCursor(cursor.watermark, "archived").encode()
                phase, after = "archived", None
                list_url = self._list_url(stream, phase)
            else:
                yield Page(records, IncrementalCursor(cursor.watermark).encode(), total=total)
                return
            yield Page(records, next_cursor, total=total)
            total = None

    def _list_url(self, stream: str, phase: str) -> str:
        """The list endpoint with the read's fixed parameters, encoded once per read phase.

        Absolute (same origin as the base URL, which ``VendorHttp`` checks): a call with it
        measured about 240 µs of client work, against about 300 µs with a path and a
        parameter mapping, whose long property list httpx re-encodes on every call. Commas
        between property names stay as they are, as HubSpot's examples send them; each page
        adds its ``after``.
        """
        params = {"limit": str(self.settings.page_size)}
        if phase == "archived":
            params["archived"] = "true"
        else:
            params["properties"] = ",".join(self.settings.properties_of(stream))
            if stream == "deals" and self.settings.deal_associations:
                params["associations"] = ",".join(self.settings.deal_associations)
        query = urlencode(params, safe=",", quote_via=quote)
        return f"{self.http.base_url}crm/v3/objects/{stream}?{query}"

    async def _watermark(self, stream: str) -> tuple[int, int | None]:
        """The newest modification time in ``stream`` now (epoch ms; 0 when it is empty), and
        how many live objects the stream holds (the search's ``total``: a full read's
        progress total)."""
        prop = MODIFIED_PROPERTY[stream]
        body = {
            "filterGroups": [],
            "sorts": [{"propertyName": prop, "direction": "DESCENDING"}],
            "properties": [prop],
            "limit": 1,
        }
        answer = await self.search.request("POST", f"crm/v3/objects/{stream}/search", json=body)
        where = f"{stream} watermark search"
        found = json_of(answer, where)
        objects = results_of(found, where)
        newest = modified_ms(objects[0], prop, f"{stream} watermark") if objects else 0
        return newest, search_total(found)

    async def incremental(self, stream: str, cursor: IncrementalCursor) -> AsyncIterator[Page]:
        """What changed after the cursor's watermark, oldest first, in moving windows."""
        parsers = await self.parsers(stream)
        prop, limit = MODIFIED_PROPERTY[stream], self.settings.search_page_size
        first = True
        while True:
            where = f"{stream} search after {cursor.watermark} page {cursor.after or 'start'}"
            answer = await self.search.request(
                "POST", f"crm/v3/objects/{stream}/search", json=self._search_body(stream, cursor)
            )
            body = json_of(answer, where)
            found = results_of(body, where)
            stamps = [modified_ms(obj, prop, where) for obj in found]
            ties = frozenset(cursor.ties) if cursor.op == "GTE" else frozenset()
            fresh = [
                obj
                for obj, at in zip(found, stamps, strict=True)
                if not (at == cursor.watermark and obj["id"] in ties)
            ]
            records = await self._records(stream, fresh, parsers, embedded=False)
            newest = max(stamps, default=0)
            following = next_after(body)
            # The first search's total: what changed since the watermark, the read's total.
            total, first = (search_total(body) if first else None), False
            if following is None:
                done = IncrementalCursor(cursor.watermark, newest=max(cursor.newest, newest))
                yield Page(records, done.finished().encode(), total=total)
                return
            cursor = self._next_window(cursor, found, stamps, following, limit, where)
            yield Page(records, cursor.encode(), total=total)

    def _next_window(
        self,
        cursor: IncrementalCursor,
        found: list[dict[str, Any]],
        stamps: list[int],
        following: str,
        limit: int,
        where: str,
    ) -> IncrementalCursor:
        newest = max(stamps, default=0)
        consumed = cursor.consumed + len(found)
        if consumed + limit <= self.settings.search_result_cap:
            return cursor.next_page(following, len(found), newest)
        # The next page would pass the search cap: start a new search at the last instant
        # seen, skipping the ids this page already gave at that instant.
        last = stamps[-1]
        if cursor.op == "GTE" and last == cursor.watermark:
            raise PermanentConnectorError(
                f"hubspot: {where}: more records share one modification time than a search "
                f"can page through ({self.settings.search_result_cap})"
            )
        ties = tuple(obj["id"] for obj, at in zip(found, stamps, strict=True) if at == last)
        return IncrementalCursor(last, "GTE", newest=max(cursor.newest, newest), ties=ties)

    def _search_body(self, stream: str, cursor: IncrementalCursor) -> dict[str, Any]:
        prop = MODIFIED_PROPERTY[stream]
        since = {"propertyName": prop, "operator": cursor.op, "value": str(cursor.watermark)}
        body: dict[str, Any] = {
            "filterGroups": [{"filters": [since]}],
            "sorts": [{"propertyName": prop, "direction": "ASCENDING"}],
            "properties": self.settings.properties_of(stream),
            "limit": self.settings.search_page_size,
        }
        if cursor.after is not None:
            body["after"] = cursor.after
        return body

    # ----- fetching -----------------------------------------------------------------------

    async def fetch(self, stream: str, ids: Sequence[str]) -> list[Record]:
        """The current records of ``ids`` (unknown and archived ones left out)."""
        parsers = await self.parsers(stream)
        # HubSpot ids are decimal; anything else cannot exist and would be refused.
        wanted = [i for i in dict.fromkeys(ids) if i.isascii() and i.isdigit()]
        out: list[Record] = []
        for start in range(0, len(wanted), BATCH_READ_MAX):
            chunk = wanted[start : start + BATCH_READ_MAX]
            answer = await self.http.request(
                "POST",
                f"crm/v3/objects/{stream}/batch/read",
                json={
                    "inputs": [{"id": i} for i in chunk],
                    "properties": self.settings.properties_of(stream),
                    "propertiesWithHistory": [],
                },
                allow_status=(207,),
            )
            where = f"{stream} batch read of {len(chunk)} from {chunk[0]}"
            found = results_of(json_of(answer, where), where)
            out += await self._records(stream, found, parsers, embedded=False)
        return out

    # ----- records ------------------------------------------------------------------------

    async def _records(
        self,
        stream: str,
        objects: list[dict[str, Any]],
        parsers: PropertyParsers,
        *,
        embedded: bool,
    ) -> list[Record]:
        """Records of decoded ``objects``, which are used up: their properties are typed in
        place and become the records' data."""
        links: dict[str, dict[str, list[str]]] = {}
        if stream == "deals" and self.settings.deal_associations:
            links = await self._deal_links(objects, embedded=embedded)
        prop = MODIFIED_PROPERTY[stream]
        type_in_place, deals = parsers.type_in_place, stream == "deals"
        page: list[dict[str, Any]] = []
        times: list[datetime | None] = []
        for obj in objects:
            # The answer was decoded for this call alone: its properties become the data.
            properties = obj.get("properties") or {}
            modified: Any = properties.get(prop)
            data = type_in_place(properties)
            if deals:
                data["associations"] = self._deal_associations(obj["id"], data, links)
            # The modification time, typed as a datetime by its definition, is the instant
            # ``parse_instant`` would read from the same text, unless the text is epoch
            # milliseconds (which ``parse_instant`` does not take): then read it again.
            updated = data.get(prop)
            if updated.__class__ is not datetime or modified.strip().isdigit():
                updated = parse_instant(modified) or parse_instant(obj.get("updatedAt"))
            page.append(data)
            times.append(updated)
        # ``results_of`` checked every id is a string.
        return Record.many(stream, list(map(_ID, objects)), page, times)

    def _deal_associations(
        self, deal_id: str, data: Mapping[str, Any], links: Mapping[str, Mapping[str, list[str]]]
    ) -> dict[str, list[str]]:
        kinds = self.settings.deal_associations
        out = {kind: links.get(kind, {}).get(deal_id, []) for kind in kinds}
        prop = self.settings.deal_campaign_property
        if prop is not None:
            guid = data.get(prop)
            out["campaigns"] = [guid] if isinstance(guid, str) and guid else []
        return out

    async def _deal_links(
        self, deals: list[dict[str, Any]], *, embedded: bool
    ) -> dict[str, dict[str, list[str]]]:
        """Associated ids by object type, then deal id: embedded in list answers, else v4."""
        out: dict[str, dict[str, list[str]]] = {}
        for kind in self.settings.deal_associations:
            by_deal: dict[str, list[str]] = {}
            missing: list[str] = []
            for deal in deals:
                ids = _embedded(deal, kind) if embedded else None
                if ids is None:
                    missing.append(deal["id"])
                else:
                    by_deal[deal["id"]] = ids
            if missing:
                by_deal.update(await self._associations_v4("deals", kind, missing))
            out[kind] = by_deal
        return out

    async def _associations_v4(
        self, from_type: str, to_type: str, ids: list[str]
    ) -> dict[str, list[str]]:
        """``POST /crm/v4/associations/{from}/{to}/batch/read``: associated ids per record."""
        out: dict[str, list[str]] = {}
        for start in range(0, len(ids), ASSOCIATIONS_BATCH_MAX):
            chunk = ids[start : start + ASSOCIATIONS_BATCH_MAX]
            answer = await self.http.request(
                "POST",
                f"crm/v4/associations/{from_type}/{to_type}/batch/read",
                json={"inputs": [{"id": i} for i in chunk]},
                allow_status=(207,),
            )
            where = f"{from_type} to {to_type} associations from {chunk[0]}"
            for item in _v4_results(json_of(answer, where), where):
                from_id = str(item["from"]["id"])
                targets = [str(t["toObjectId"]) for t in item["to"]]
                following = next_after(item)
                if following is not None:
                    targets += await self._more_associations(from_type, to_type, from_id, following)
                out[from_id] = numeric_order(targets)
        return out

    async def _more_associations(
        self, from_type: str, to_type: str, from_id: str, after: str
    ) -> list[str]:
        """The rest of one record's associations (``GET /crm/v4/objects/.../associations``)."""
        ids: list[str] = []
        cursor: str | None = after
        while cursor is not None:
            where = f"{from_type} {from_id} {to_type} associations after {cursor}"
            path = f"crm/v4/objects/{from_type}/{from_id}/associations/{to_type}"
            answer = await self.http.request("GET", path, params={"after": cursor, "limit": "500"})
            body = json_of(answer, where)
            results = body.get("results") if isinstance(body, dict) else None
            if not isinstance(results, list):
                raise PermanentConnectorError(f"hubspot: {from_type} {from_id}: bad associations")
            ids += [str(r["toObjectId"]) for r in results if isinstance(r, dict)]
            cursor = next_after(body)
        return ids


_ID = itemgetter("id")


def search_total(body: Any) -> int | None:
    """A search answer's ``total`` (how many objects match), if it carries one."""
    total = body.get("total") if isinstance(body, Mapping) else None
    return total if isinstance(total, int) and not isinstance(total, bool) else None


def _embedded(obj: Mapping[str, Any], kind: str) -> list[str] | None:
    """Associated ids embedded in a list answer (None: incomplete, read them apart)."""
    associations = obj.get("associations")
    if not isinstance(associations, dict) or kind not in associations:
        # HubSpot leaves out the types a record has no associations of.
        return []
    block = associations[kind]
    results = block.get("results") if isinstance(block, dict) else None
    if not isinstance(results, list) or next_after(block) is not None:
        return None
    return numeric_order([str(r["id"]) for r in results if isinstance(r, dict) and "id" in r])


def _v4_results(body: Any, where: str) -> Iterable[dict[str, Any]]:
    results = body.get("results") if isinstance(body, dict) else None
    if not isinstance(results, list):
        raise PermanentConnectorError(f"hubspot: {where}: the answer has no results")
    for item in results:
        ok = (
            isinstance(item, dict)
            and isinstance(item.get("from"), dict)
            and "id" in item["from"]
            and isinstance(item.get("to"), list)
            and all(isinstance(t, dict) and "toObjectId" in t for t in item["to"])
        )
        if not ok:
            raise PermanentConnectorError(f"hubspot: {where}: malformed association result")
        yield item


def _tombstone(stream: str, obj: Mapping[str, Any]) -> Record:
    archived_at = obj.get("archivedAt")
    return Record(
        stream,
        str(obj["id"]),
        {"archived": True, "archivedAt": archived_at},
        updated_at=parse_instant(archived_at) or parse_instant(obj.get("updatedAt")),
        deleted=True,
    )


__all__ = ["CRM_STREAMS", "MODIFIED_PROPERTY", "CrmReader"]
