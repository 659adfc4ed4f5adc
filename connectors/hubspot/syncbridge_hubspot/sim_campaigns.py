"""The simulated HubSpot marketing campaigns (Campaigns API v3), from the sandbox ``World``.

Each world campaign is a HubSpot campaign whose guid is the world campaign's id. Its assets
are the world's campaign assets, listed as ``EXTERNAL_WEB_URL`` assets: a DAM asset reaches
people as a tracked link to the landing page that shows it, and external web URLs are one of
the three asset types the Campaigns API has read from the start (changelog "New Campaign API
Updates", 2025-07-09). The asset id is the DAM asset's id and its name the tracked URL
(``utm_source``, ``utm_medium``, ``utm_campaign`` and ``utm_content`` = the asset id). Other
documented asset types are accepted and list nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from syncbridge.sandbox.world import Campaign, World
from syncbridge_hubspot.sim_objects import hubspot_time, number_text, tracked_url

#: Asset types of the Campaigns API (changelog 2025-07-09 and the asset endpoints' docs).
ASSET_TYPES = frozenset(
    {
        "AD_CAMPAIGN",
        "BLOG_POST",
        "CALL",
        "CASE_STUDY",
        "CTA",
        "EMAIL",
        "EXTERNAL_WEB_URL",
        "FEEDBACK_SURVEY",
        "FORM",
        "KNOWLEDGE_ARTICLE",
        "LANDING_PAGE",
        "MARKETING_EVENT",
        "MEETING_EVENT",
        "OBJECT_LIST",
        "PLAYBOOK",
        "PODCAST_EPISODE",
        "SALES_DOCUMENT",
        "SEQUENCE",
        "SITE_PAGE",
        "SOCIAL_BROADCAST",
        "WORKFLOW",
    }
)
SORTS = ("hs_name", "createdAt", "updatedAt")


def campaign_status(campaign: Campaign, now: datetime) -> str:
    """``hs_campaign_status`` of a world campaign at the sandbox's present."""
    if campaign.start > now:
        return "planned"
    return "completed" if campaign.end < now else "active"


@dataclass
class SimCampaign:
    id: str
    properties: dict[str, str]
    created_at: datetime
    updated_at: datetime
    #: The world campaign's key (its assets are read from the world when first asked for).
    key: str = ""

    def public(self, names: list[str] | None) -> dict[str, Any]:
        """The ``PublicCampaign`` answer: only the properties asked for that have a value."""
        props = {n: self.properties[n] for n in names or () if self.properties.get(n)}
        return {
            "id": self.id,
            "properties": props,
            "createdAt": hubspot_time(self.created_at),
            "updatedAt": hubspot_time(self.updated_at),
            "businessUnits": [{"id": 0}],
        }


class CampaignStore:
    """The campaigns of one portal, with their orderings cached until a change."""

    def __init__(self, world: World, now: Callable[[], datetime], present: datetime) -> None:
        self.now = now
        self.world = world
        self.campaigns: dict[str, SimCampaign] = {}
        self._orders: dict[str, list[str]] = {}
        self._assets: dict[str, list[tuple[str, str]]] = {}
        for c in world.campaigns:
            props = {
                "hs_name": c.name,
                "hs_start_date": c.start.date().isoformat(),
                "hs_end_date": c.end.date().isoformat(),
                "hs_notes": f"{c.channel} / {c.region} / {c.product} / {c.audience}",
                "hs_audience": c.audience,
                "hs_currency_code": "USD",
                "hs_utm": c.utm_campaign,
                "hs_budget_items_sum_amount": number_text(c.budget),
                "hs_campaign_status": campaign_status(c, present),
            }
            created = c.start - timedelta(days=14)
            self.campaigns[c.id] = SimCampaign(c.id, props, created, c.modified_at, c.key)

    def assets(self, guid: str, asset_type: str) -> list[tuple[str, str]]:
        """``(asset id, name)`` of a campaign's assets of one type (only external URLs exist)."""
        if asset_type != "EXTERNAL_WEB_URL":
            return []
        cached = self._assets.get(guid)
        if cached is None:
            world, campaign = self.world, self.world.campaign(self.campaigns[guid].key)
            cached = [
                (a.id, tracked_url(campaign, a, world)) for a in world.campaign_assets(campaign.key)
            ]
            self._assets[guid] = cached
        return cached

    def ordered(self, sort: str) -> list[str]:
        """Campaign guids in ``sort`` order (``-`` for descending), ties by guid."""
        cached = self._orders.get(sort)
        if cached is None:
            key = sort.removeprefix("-")
            keyed: Callable[[SimCampaign], Any] = {
                "hs_name": lambda c: c.properties["hs_name"].lower(),
                "createdAt": lambda c: c.created_at,
                "updatedAt": lambda c: c.updated_at,
            }[key]
            rows = sorted(self.campaigns.values(), key=lambda c: (keyed(c), c.id))
            if sort.startswith("-"):
                rows.sort(key=keyed, reverse=True)  # stable: ties keep guid order
            cached = self._orders[sort] = [c.id for c in rows]
        return cached

    def modify(self, guid: str, changes: Mapping[str, str]) -> SimCampaign:
        """Change properties of a campaign, bumping ``updatedAt``."""
        campaign = self.campaigns[guid]
        campaign.properties.update(changes)
        campaign.updated_at = max(self.now(), campaign.updated_at + timedelta(milliseconds=1))
        self._orders.clear()
        return campaign


__all__ = ["ASSET_TYPES", "SORTS", "CampaignStore", "SimCampaign", "campaign_status"]
