"""Shared builders for the HubSpot tests: a simulator, settings pointing at it, expectations."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime
from decimal import Decimal
from functools import cache
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
from syncbridge_hubspot.connector import HubSpotConnector
from syncbridge_hubspot.settings import HubSpotSettings
from syncbridge_hubspot.simulator import HubSpotSimulator

from syncbridge.connector.http import RetryPolicy, create_http_client
from syncbridge.sandbox.faults import FaultKnobs
from syncbridge.sandbox.world import World

API = "https://api.hubapi.test"
#: 200 assets: 11 campaigns, 8 companies, 50 contacts, 20 deals; pages of 5 give >= 2 pages.
ASSETS = 200
PAGE_SIZE = 5
#: Backoff short enough that tests on real time do not wait long.
FAST_RETRY = RetryPolicy(attempts=6, base_s=0.001, max_s=0.01)


@cache
def world(assets: int = ASSETS) -> World:
    """One world per size for the session (it is deterministic and read-only)."""
    return World(seed=42, assets_count=assets)


def make_simulator(
    *, faults: FaultKnobs | None = None, assets: int = ASSETS, **options: Any
) -> HubSpotSimulator:
    """A fresh simulated HubSpot account over the sandbox world."""
    return HubSpotSimulator(world(assets), faults=faults, **options)


def settings_for(sim: HubSpotSimulator, **overrides: Any) -> HubSpotSettings:
    """Settings of a connection to ``sim`` with small pages."""
    values = {**sim.connection_settings(API), "page_size": PAGE_SIZE, **overrides}
    return HubSpotSettings(**values)


def client_for(app: Any) -> httpx.AsyncClient:
    """A shared-style client talking to ``app`` in-process."""
    return create_http_client(transport=httpx.ASGITransport(app=app))


def connector_for(
    sim: HubSpotSimulator, client: httpx.AsyncClient, **overrides: Any
) -> HubSpotConnector:
    """A connector on ``client`` with settings for ``sim`` and a fast retry policy."""
    return HubSpotConnector(settings_for(sim, **overrides), client, retry=FAST_RETRY)


# ----- what the simulator holds, typed as the connector should emit it ----------------------


def instant(text: str) -> datetime:
    """A HubSpot datetime string as an aware UTC datetime."""
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


def number(text: str) -> int | float:
    value = Decimal(text)
    return int(value) if value == value.to_integral_value() else float(value)


def expected_fields(sim: HubSpotSimulator, stream: str, external_id: str) -> Mapping[str, Any]:
    """A few fields of the simulator's own state for the item, typed."""
    if stream == "campaigns":
        return _campaign_fields(sim, external_id)
    props = sim.record(stream, external_id).properties
    if stream == "contacts":
        return {
            "email": props["email"],
            "lifecyclestage": props["lifecyclestage"],
            "associatedcompanyid": int(props["associatedcompanyid"] or 0),
            "lastmodifieddate": instant(props["lastmodifieddate"] or ""),
            "hs_analytics_first_touch_converting_campaign": props[
                "hs_analytics_first_touch_converting_campaign"
            ],
        }
    if stream == "companies":
        return {
            "name": props["name"],
            "domain": props["domain"],
            "hs_lastmodifieddate": instant(props["hs_lastmodifieddate"] or ""),
        }
    return {
        "dealname": props["dealname"],
        "amount": number(props["amount"] or "0"),
        "hs_is_closed_won": props["hs_is_closed_won"] == "true",
        "closedate": instant(props["closedate"] or ""),
        "associations": {
            "contacts": sim.crm.associated("deals", external_id, "contacts"),
            "campaigns": [props["hs_campaign"]],
        },
    }


def _campaign_fields(sim: HubSpotSimulator, guid: str) -> Mapping[str, Any]:
    campaign = sim.campaigns.campaigns[guid]
    props = campaign.properties
    assets = sim.campaigns.assets(guid, "EXTERNAL_WEB_URL")
    first_url = dict(parse_qsl(urlsplit(assets[0][1]).query)) if assets else {}
    utm = {"utm_campaign": props["hs_utm"]}
    utm.update({k: first_url[k] for k in ("utm_source", "utm_medium") if k in first_url})
    return {
        "hs_name": props["hs_name"],
        "hs_start_date": date.fromisoformat(props["hs_start_date"]),
        "hs_budget_items_sum_amount": number(props["hs_budget_items_sum_amount"]),
        "hs_notes": props["hs_notes"],
        "utm": utm,
        "assets": [
            {
                "type": "EXTERNAL_WEB_URL",
                "id": asset_id,
                "name": url,
                "utm": dict(parse_qsl(urlsplit(url).query)),
            }
            for asset_id, url in assets
        ],
    }
