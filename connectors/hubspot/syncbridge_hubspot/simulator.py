"""A HubSpot account simulator (CRM v3 objects, associations, marketing campaigns, webhooks).

Built from the sandbox ``World``; follows reference/vendor-apis.md section 1 and the official
``hubspot-api-client``. Implemented:

* Private-app bearer auth on every call: 401 ``{"status":"error","message":...,
  "correlationId":...,"category":"INVALID_AUTHENTICATION"}`` without the token.
* ``GET /crm/v3/objects/{type}`` (``contacts``, ``companies``, ``deals`` or ``0-1``/``0-2``/
  ``0-3``): ``limit`` (default 10, max 100), ``after`` (the next id), ``properties`` (comma
  list or repeated; unknown names ignored; default set when absent, plus ``createdate``,
  ``hs_object_id`` and the modification date), ``associations``, ``archived``. ``paging`` is
  left out on the last page. Every property value is a string.
* ``GET /crm/v3/objects/{type}/{id}`` (``idProperty`` ``hs_object_id`` or contact ``email``),
  ``POST .../batch/read`` (<= 100 inputs; 207 with ``OBJECT_NOT_FOUND`` errors for missing ids),
  ``POST .../search`` (filter groups, 13 operators, sorts, ``query``, ``limit`` <= 200,
  ``after``; 400 past 10,000 results; the modification-time index answers the sync's searches).
* ``GET /crm/v3/properties/{type}[/{name}]`` with HubSpot's property types.
* Associations: the ``associations`` parameter of list/read; ``POST /crm/v4/associations/
  {from}/{to}/batch/read`` (<= 1000 inputs, <= 500 targets each with ``paging`` for the rest;
  207 with ``NO_ASSOCIATIONS_FOUND`` errors); ``GET /crm/v4/objects/{type}/{id}/associations/
  {to}`` (<= 500 a page).
* ``GET /marketing/v3/campaigns`` (``limit`` 1..100, default 50; ``after``; ``name``;
  ``properties``; ``sort`` ``hs_name``/``createdAt``/``updatedAt`` with ``-``), ``GET .../{guid}``
  and ``GET .../{guid}/assets/{assetType}`` (see ``sim_campaigns`` for the asset choice).
* ``GET /account-info/v3/details``.
* Limits (``sim_edge``): 190 calls per rolling 10 s and a daily budget with the
  ``X-HubSpot-RateLimit-*`` headers; search 4/s without them; 429 bodies with ``policyName``.
* Errors in HubSpot's shape: 400 ``VALIDATION_ERROR`` for bad parameters (and for documented
  parameters not simulated: ``propertiesWithHistory``, campaign metrics dates), 404
  ``OBJECT_NOT_FOUND`` for unknown records and routes; injected faults (``FaultKnobs``) too.
* Webhooks: ``notification(...)`` gives ``(headers, body, url)`` of a signed delivery (v3 with
  the v1 header alongside, or v1/v2 only); changes made through ``modify``/``create``/
  ``archive`` queue events that ``pending_delivery()`` signs and drains.

Left out: writes (create/update/delete endpoints), ``propertiesWithHistory``, custom objects
and other object types, association labels beyond HubSpot-defined types, pipelines, owners,
lists, campaign metrics/revenue/budget endpoints, the paging of associations embedded in
list answers (all are embedded), OAuth, scopes (every token has all), webhook subscription
management, and the search index's lag (searches see changes at once).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from syncbridge.sandbox.faults import FaultKnobs, FaultMiddleware
from syncbridge.sandbox.world import World
from syncbridge_hubspot.sim_campaigns import CampaignStore
from syncbridge_hubspot.sim_edge import Edge, TokenLimits, fault_body, hubspot_error
from syncbridge_hubspot.sim_objects import (
    CrmStore,
    SimObject,
    sandbox_present,
)
from syncbridge_hubspot.sim_properties import MODIFIED
from syncbridge_hubspot.sim_routes import Routes
from syncbridge_hubspot.sim_search import SearchLimits
from syncbridge_hubspot.sim_webhooks import DEFAULT_WEBHOOK_URL, Version, WebhookSender


class HubSpotSimulator:
    """An ASGI app serving one simulated HubSpot account, with helpers for tests."""

    def __init__(
        self,
        world: World,
        *,
        faults: FaultKnobs | None = None,
        token: str | None = None,
        client_secret: str | None = None,
        burst_limit: int = 190,
        daily_limit: int = 1_000_000,
        search_per_s: int = 4,
        search_limits: SearchLimits | None = None,
        monotonic: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.world = world
        self.token = token or f"pat-na1-sandbox-{world.seed}-private-app-token"
        self.client_secret = client_secret or f"sandbox-hubspot-{world.seed}-client-secret"
        self.portal_id = 40_000_000 + world.seed
        self.app_id = 1_000_000 + world.seed
        started, present = monotonic(), sandbox_present(world)
        #: Data time: the sandbox's present plus the time since the simulator started, so
        #: every change made here is newer than anything the world holds.
        self.now: Callable[[], datetime] = lambda: (
            present + timedelta(seconds=monotonic() - started)
        )
        self.crm = CrmStore(world, self.now)
        self.campaigns = CampaignStore(world, self.now, present)
        self.limits = TokenLimits(
            burst_max=burst_limit, daily_max=daily_limit, search_per_s=search_per_s, clock=monotonic
        )
        self.webhooks = WebhookSender(
            client_secret=self.client_secret,
            app_id=self.app_id,
            portal_id=self.portal_id,
            wall_clock=wall_clock,
        )
        self.pending_events: list[dict[str, Any]] = []
        self.faults = faults
        account = {
            "portalId": self.portal_id,
            "accountType": "STANDARD",
            "timeZone": "US/Eastern",
            "companyCurrency": "USD",
            "additionalCurrencies": [],
            "utcOffset": "-05:00",
            "utcOffsetMilliseconds": -18_000_000,
            "uiDomain": "app.hubspot.com",
            "dataHostingLocation": "na1",
        }
        routes = Routes(self.crm, self.campaigns, account, search_limits or SearchLimits())
        router = Starlette(
            routes=routes.routes(),
            exception_handlers={HTTPException: _http_exception},  # type: ignore[dict-item]
        )
        self.edge = Edge(router, self.token, self.limits)
        app: ASGIApp = self.edge
        self.fault_middleware: FaultMiddleware | None = None
        if faults is not None and faults.active:
            self.fault_middleware = FaultMiddleware(app, faults, error_body=fault_body)
            app = self.fault_middleware
        self._app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self._app(scope, receive, send)

    def connection_settings(self, base_url: str) -> dict[str, Any]:
        """The settings of a syncbridge connection to this account served at ``base_url``."""
        return {
            "base_url": base_url.rstrip("/"),
            "access_token": self.token,
            "client_secret": self.client_secret,
            "portal_id": self.portal_id,
            "rate_limit_requests": self.limits.burst_max,
            "search_rate_limit_per_s": self.limits.search_per_s,
        }

    # ----- the account's data, for tests --------------------------------------------------

    def ids(self, stream: str, *, archived: bool = False) -> set[str]:
        """The ids of ``stream`` (campaign guids for ``campaigns``)."""
        if stream == "campaigns":
            return set(self.campaigns.campaigns)
        table = self.crm.tables[stream]
        return set(table.archived if archived else table.active)

    def record(self, stream: str, record_id: str) -> SimObject:
        """One CRM record as the simulator holds it."""
        return self.crm.tables[stream].records[record_id]

    # ----- changes (queue webhook events) -------------------------------------------------

    def modify(self, stream: str, record_id: str, changes: Mapping[str, str | None]) -> None:
        """Change properties of a record (or campaign), as a person does in HubSpot."""
        if stream == "campaigns":
            self.campaigns.modify(record_id, {k: v or "" for k, v in changes.items()})
            return
        record = self.crm.modify(stream, record_id, changes)
        for name, value in changes.items():
            self._queue(stream, record.id, "propertyChange", name, value)

    def create(self, stream: str, props: Mapping[str, str | None]) -> str:
        """A new CRM record; returns its id."""
        record = self.crm.create(stream, props)
        self._queue(stream, record.id, "creation")
        return record.id

    def archive(self, stream: str, record_id: str) -> None:
        """Archive (delete) a CRM record."""
        self.crm.archive(stream, record_id)
        self._queue(stream, record_id, "deletion")

    def _queue(
        self,
        stream: str,
        record_id: str,
        change: str,
        name: str | None = None,
        value: str | None = None,
    ) -> None:
        self.pending_events.append(
            self.webhooks.event(stream, record_id, change, property_name=name, property_value=value)
        )

    # ----- webhooks -----------------------------------------------------------------------

    def notification(
        self,
        stream: str,
        record_id: str,
        change: str = "propertyChange",
        *,
        property_name: str | None = None,
        property_value: str | None = None,
        version: Version = "v3",
        url: str = DEFAULT_WEBHOOK_URL,
        method: str = "POST",
        timestamp_ms: int | None = None,
    ) -> tuple[dict[str, str], bytes, str]:
        """``(headers, body, url)`` of a signed delivery of one event about a record."""
        if property_name is None and change == "propertyChange" and stream != "campaigns":
            property_name = MODIFIED[stream]
        event = self.webhooks.event(
            stream, record_id, change, property_name=property_name, property_value=property_value
        )
        return self.webhooks.delivery(
            [event], version=version, url=url, method=method, timestamp_ms=timestamp_ms
        )

    def pending_delivery(
        self,
        *,
        version: Version = "v3",
        url: str = DEFAULT_WEBHOOK_URL,
        timestamp_ms: int | None = None,
    ) -> tuple[dict[str, str], bytes, str] | None:
        """A signed delivery of the queued change events (None when there are none)."""
        if not self.pending_events:
            return None
        events, self.pending_events = self.pending_events, []
        return self.webhooks.delivery(events, version=version, url=url, timestamp_ms=timestamp_ms)


async def _http_exception(_request: Request, exc: HTTPException) -> Response:
    """Unknown routes and methods in HubSpot's error shape."""
    if exc.status_code == 405:
        return hubspot_error(405, "Method not allowed for this resource")
    return hubspot_error(exc.status_code, "Unable to route the request: resource not found")


def simulator(
    world: World, *, faults: FaultKnobs | None = None, **options: Any
) -> HubSpotSimulator:
    """Build the HubSpot simulator app (the sandbox factory); options go to the class."""
    return HubSpotSimulator(world, faults=faults, **options)


__all__ = ["HubSpotSimulator", "simulator"]
