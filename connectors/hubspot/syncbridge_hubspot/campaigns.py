"""Reading HubSpot marketing campaigns (Campaigns API v3) with their assets and UTM values.

* ``GET /marketing/v3/campaigns`` pages with ``after`` (``limit`` <= 100). Full reads sort by
  ``createdAt`` (stable while people rename campaigns); incremental reads sort newest
  ``updatedAt`` first and stop at the watermark. The API lists no archived campaigns, so
  campaigns give no tombstones.
* Each campaign's assets come from ``GET /marketing/v3/campaigns/{guid}/assets/{type}`` for the
  configured asset types: ``{"type", "id", "name", "utm"}``, ``utm`` holding the ``utm_*``
  parameters of an asset whose name is a tracked URL (``EXTERNAL_WEB_URL``).
* ``utm`` of the campaign: ``utm_campaign`` from its ``hs_utm`` property, and ``utm_source`` /
  ``utm_medium`` from its assets' tracked URLs where they carry them.

Campaign properties are not CRM properties (no properties API): dates and amounts are typed
from the documented property names below.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from syncbridge.connector.errors import PermanentConnectorError
from syncbridge.connector.http import VendorHttp
from syncbridge.connector.types import Page, Record
from syncbridge.logs import get_logger
from syncbridge_hubspot.cursor import FullCursor, IncrementalCursor
from syncbridge_hubspot.properties import PropertyParsers, parse_date, parse_number
from syncbridge_hubspot.records import epoch_ms, json_of, next_after, parse_instant, results_of
from syncbridge_hubspot.settings import HubSpotSettings

log = get_logger(__name__)

CAMPAIGNS = "campaigns"
CAMPAIGN_PARSERS = PropertyParsers(
    {
        "hs_start_date": parse_date,
        "hs_end_date": parse_date,
        "hs_budget_items_sum_amount": parse_number,
        "hs_spend_items_sum_amount": parse_number,
    }
)
UTM_KEYS = ("utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content")
ASSETS_PAGE = 100
_GUID = re.compile(r"[0-9A-Za-z-]{1,64}")


class CampaignReader:
    """Reads one HubSpot account's marketing campaigns into records."""

    def __init__(self, http: VendorHttp, settings: HubSpotSettings) -> None:
        self.http = http
        self.settings = settings

    async def full(self, cursor: FullCursor | None) -> AsyncIterator[Page]:
        """All campaigns by creation; the last page carries the watermark cursor."""
        if cursor is None:
            cursor = FullCursor(await self.newest_update())
        after = cursor.after
        while True:
            body = await self._list(after, sort="createdAt")
            campaigns = results_of(body, f"campaigns page after {after or 'start'}")
            records = [await self._record(c) for c in campaigns]
            log.info("hubspot.page_read", stream=CAMPAIGNS, count=len(records))
            after = next_after(body)
            if after is None:
                yield Page(records, IncrementalCursor(cursor.watermark).encode())
                return
            yield Page(records, FullCursor(cursor.watermark, "active", after).encode())

    async def incremental(self, cursor: IncrementalCursor) -> AsyncIterator[Page]:
        """Campaigns updated after the watermark, newest first."""
        after = cursor.after
        while True:
            where = f"campaigns updated after {cursor.watermark} page {after or 'start'}"
            body = await self._list(after, sort="-updatedAt")
            campaigns = results_of(body, where)
            stamps = [_updated_ms(c, where) for c in campaigns]
            newer = [c for c, at in zip(campaigns, stamps, strict=True) if at > cursor.watermark]
            records = [await self._record(c) for c in newer]
            newest = max(cursor.newest, max(stamps, default=0))
            after = next_after(body)
            if after is None or len(newer) < len(campaigns):
                done = IncrementalCursor(cursor.watermark, newest=newest)
                yield Page(records, done.finished().encode())
                return
            cursor = IncrementalCursor(cursor.watermark, after=after, newest=newest)
            yield Page(records, cursor.encode())

    async def newest_update(self) -> int:
        """The newest campaign ``updatedAt`` now (epoch ms; 0 with no campaigns)."""
        params = {"limit": "1", "sort": "-updatedAt"}
        answer = await self.http.request("GET", "marketing/v3/campaigns", params=params)
        body = json_of(answer, "campaigns watermark")
        campaigns = results_of(body, "campaigns watermark")
        return _updated_ms(campaigns[0], "campaigns watermark") if campaigns else 0

    async def fetch(self, guids: Sequence[str]) -> list[Record]:
        """The current campaigns of ``guids`` (unknown ones left out)."""
        out = []
        for guid in dict.fromkeys(guids):
            if not _GUID.fullmatch(guid):
                continue
            answer = await self.http.request(
                "GET",
                f"marketing/v3/campaigns/{guid}",
                params={"properties": ",".join(self.settings.campaign_properties)},
                allow_status=(404,),
            )
            if answer.status_code == 404:
                continue
            body = json_of(answer, f"campaign {guid}")
            (campaign,) = results_of({"results": [body]}, f"campaign {guid}")
            out.append(await self._record(campaign))
        return out

    async def _list(self, after: str | None, *, sort: str) -> Any:
        where = f"campaigns by {sort} page after {after or 'start'}"
        params = {
            "limit": str(self.settings.page_size),
            "sort": sort,
            "properties": ",".join(self.settings.campaign_properties),
        }
        if after is not None:
            params["after"] = after
        return json_of(
            await self.http.request("GET", "marketing/v3/campaigns", params=params), where
        )

    async def _record(self, campaign: Mapping[str, Any]) -> Record:
        raw = campaign.get("properties") or {}
        data = CAMPAIGN_PARSERS.parse(raw)
        assets = []
        for kind in self.settings.campaign_asset_types:
            assets += await self._assets(campaign["id"], kind)
        data["assets"] = assets
        data["utm"] = campaign_utm(raw.get("hs_utm"), assets)
        updated = parse_instant(campaign.get("updatedAt"))
        return Record(CAMPAIGNS, campaign["id"], data, updated_at=updated)

    async def _assets(self, guid: str, kind: str) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        after: str | None = None
        while True:
            params = {"limit": str(ASSETS_PAGE)}
            if after is not None:
                params["after"] = after
            path = f"marketing/v3/campaigns/{guid}/assets/{kind}"
            where = f"campaign {guid} {kind} assets after {after or 'start'}"
            body = json_of(await self.http.request("GET", path, params=params), where)
            for item in results_of(body, f"campaign {guid} {kind} assets"):
                name = item.get("name")
                out.append(
                    {
                        "type": kind,
                        "id": item["id"],
                        "name": name,
                        "utm": url_utm(name) if isinstance(name, str) else {},
                    }
                )
            after = next_after(body)
            if after is None:
                return out


def url_utm(url: str) -> dict[str, str]:
    """The ``utm_*`` query parameters of a tracked URL (empty for anything else)."""
    try:
        query = urlsplit(url).query
    except ValueError:
        return {}
    return {k: v for k, v in parse_qsl(query) if k in UTM_KEYS and v}


def campaign_utm(hs_utm: object, assets: list[dict[str, Any]]) -> dict[str, str]:
    """A campaign's UTM values: ``hs_utm`` as ``utm_campaign``, source and medium from assets."""
    utm: dict[str, str] = {}
    if isinstance(hs_utm, str) and hs_utm:
        utm["utm_campaign"] = hs_utm
    for asset in assets:
        for key in ("utm_source", "utm_medium", "utm_campaign"):
            value = asset["utm"].get(key)
            if value:
                utm.setdefault(key, value)
    return utm


def _updated_ms(campaign: Mapping[str, Any], where: str) -> int:
    at = parse_instant(campaign.get("updatedAt"))
    if at is None:
        raise PermanentConnectorError(f"hubspot: {where}: campaign without updatedAt")
    return epoch_ms(at)


__all__ = ["CAMPAIGNS", "CAMPAIGN_PARSERS", "CampaignReader", "campaign_utm", "url_utm"]
