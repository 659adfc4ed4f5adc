"""Signed webhook deliveries as HubSpot sends them (the simulator's ``notification`` helper).

A delivery is a JSON array of events (``eventId``, ``subscriptionId``, ``portalId``, ``appId``,
``occurredAt`` in epoch ms, ``subscriptionType``, ``attemptNumber``, ``objectId``, and
``propertyName``/``propertyValue`` for property changes, ``changeFlag`` for creations). Event
ids count per subscription, so two subscriptions reuse the same ``eventId``: as HubSpot
warns, ``eventId`` alone is not unique.

Headers: ``X-HubSpot-Signature-v3`` (Base64 HMAC-SHA256 of method + URI + body + timestamp)
with ``X-HubSpot-Request-Timestamp`` (ms), and for backwards compatibility
``X-HubSpot-Signature`` with ``X-HubSpot-Signature-Version: v1`` (hex SHA-256 of secret +
body), as webhook deliveries carry; ``version="v1"``/``"v2"`` gives an older app's delivery
with only that legacy signature (v2: hex SHA-256 of secret + method + URI + body).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal

Version = Literal["v1", "v2", "v3"]
DEFAULT_WEBHOOK_URL = "https://syncbridge.example.com/webhooks/hubspot"
USER_AGENT = "HubSpot Connect 2.0 (http://dev.hubspot.com/) - WebhooksExecutorDaemon-executor"
SINGULAR = {"contacts": "contact", "companies": "company", "deals": "deal"}


class WebhookSender:
    """Builds and signs deliveries for one app subscribed in one portal."""

    def __init__(
        self,
        *,
        client_secret: str,
        app_id: int,
        portal_id: int,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.client_secret = client_secret
        self.app_id = app_id
        self.portal_id = portal_id
        self.wall_clock = wall_clock
        self._subscriptions: dict[str, int] = {}
        self._next_event: dict[int, int] = {}

    def event(
        self,
        stream: str,
        object_id: str | int,
        change: str = "propertyChange",
        *,
        property_name: str | None = None,
        property_value: str | None = None,
        occurred_ms: int | None = None,
        attempt: int = 0,
    ) -> dict[str, Any]:
        """One event of ``<object>.<change>`` (``creation``, ``deletion``, ``propertyChange``)."""
        subscription_type = f"{SINGULAR[stream]}.{change}"
        subscription = self._subscriptions.setdefault(
            subscription_type, 100_000 + len(self._subscriptions) + 1
        )
        event_id = self._next_event.get(subscription, 1)
        self._next_event[subscription] = event_id + 1
        event: dict[str, Any] = {
            "eventId": event_id,
            "subscriptionId": subscription,
            "portalId": self.portal_id,
            "appId": self.app_id,
            "occurredAt": occurred_ms if occurred_ms is not None else self._now_ms(),
            "subscriptionType": subscription_type,
            "attemptNumber": attempt,
            "objectId": int(object_id),
            "changeSource": "CRM_UI",
        }
        if change == "propertyChange":
            event["propertyName"] = property_name or "hs_lastmodifieddate"
            event["propertyValue"] = property_value if property_value is not None else ""
        elif change == "creation":
            event["changeFlag"] = "CREATED"
        elif change == "deletion":
            event["changeFlag"] = "DELETED"
        return event

    def delivery(
        self,
        events: Sequence[Mapping[str, Any]],
        *,
        version: Version = "v3",
        url: str = DEFAULT_WEBHOOK_URL,
        method: str = "POST",
        timestamp_ms: int | None = None,
    ) -> tuple[dict[str, str], bytes, str]:
        """``(headers, body, url)`` of a signed delivery of ``events``."""
        body = json.dumps(list(events), separators=(",", ":")).encode()
        headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT}
        secret = self.client_secret.encode()
        if version == "v3":
            stamp = str(timestamp_ms if timestamp_ms is not None else self._now_ms())
            source = method.encode() + url.encode() + body + stamp.encode()
            digest = hmac.new(secret, source, hashlib.sha256).digest()
            headers["X-HubSpot-Signature-v3"] = base64.b64encode(digest).decode()
            headers["X-HubSpot-Request-Timestamp"] = stamp
            version = "v1"  # the legacy header rides along
        if version == "v2":
            signed = secret + method.encode() + url.encode() + body
        else:
            signed = secret + body
        headers["X-HubSpot-Signature"] = hashlib.sha256(signed).hexdigest()
        headers["X-HubSpot-Signature-Version"] = version
        return headers, body, url

    def _now_ms(self) -> int:
        return int(self.wall_clock() * 1000)


__all__ = ["DEFAULT_WEBHOOK_URL", "Version", "WebhookSender"]
