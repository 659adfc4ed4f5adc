"""HubSpot webhook deliveries: signatures v3 (and v1/v2 for older apps), then thin events.

Signatures (https://developers.hubspot.com/docs/api/webhooks/validating-requests):

* v3: ``X-HubSpot-Signature-v3`` = Base64(HMAC-SHA256(client secret, method + URI + body +
  timestamp)), ``X-HubSpot-Request-Timestamp`` in epoch milliseconds; refused when the
  timestamp is further than the tolerance (5 minutes) from now, either way. The URI is the
  full URL HubSpot called; HubSpot's docs ask to decode a few percent-encoded characters
  first (``%3A : %2F / %3F ? %40 @ %21 ! %24 $ %27 ' %28 ( %29 ) %2A * %2C , %3B ;``), the
  official Python SDK does not, so both forms are accepted.
* v2: ``X-HubSpot-Signature`` = hex(SHA-256(client secret + method + URI + body)) and v1 =
  hex(SHA-256(client secret + body)), with ``X-HubSpot-Signature-Version``. Neither signs a
  time, so they are accepted only when the connection allows them, and only while every
  event's ``occurredAt`` is recent; a replay inside that window gives the same delivery keys
  and the inbox drops it.

A delivery is a JSON array of events. ``eventId`` alone is not unique (HubSpot's field
table says so), so the delivery key hashes every field of the event but ``attemptNumber``:
a retry keeps its key, two different events never share one.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from syncbridge.connector.errors import InvalidWebhook, MalformedWebhook
from syncbridge.connector.jsonbody import loads
from syncbridge.connector.types import WebhookEvent
from syncbridge.logs import get_logger
from syncbridge_hubspot.settings import SignatureVersion

log = get_logger(__name__)

SIGNATURE_V3 = "x-hubspot-signature-v3"
TIMESTAMP = "x-hubspot-request-timestamp"
SIGNATURE = "x-hubspot-signature"
SIGNATURE_VERSION = "x-hubspot-signature-version"
MAX_HEADER_CHARS = 512
MAX_URL_CHARS = 8192
MAX_EVENTS = 1000
#: 9999-12-31T23:59:59.999Z: later ``occurredAt`` values are garbage, not instants.
MAX_EPOCH_MS = 253_402_300_799_999
#: Characters HubSpot's v3 instructions decode in the URI before signing.
V3_DECODED = {
    "%3A": ":",
    "%2F": "/",
    "%3F": "?",
    "%40": "@",
    "%21": "!",
    "%24": "$",
    "%27": "'",
    "%28": "(",
    "%29": ")",
    "%2A": "*",
    "%2C": ",",
    "%3B": ";",
}
_V3_ENCODED = re.compile("|".join(V3_DECODED), re.IGNORECASE)
#: The object named in a subscription type -> the stream its events are about.
OBJECT_STREAMS = {"contact": "contacts", "company": "companies", "deal": "deals"}
#: ``objectTypeId`` of generic (``object.*``) subscriptions -> stream.
OBJECT_TYPE_IDS = {"0-1": "contacts", "0-2": "companies", "0-3": "deals"}
#: The change named in a subscription type -> the normalised action.
ACTIONS = {
    "creation": "created",
    "deletion": "deleted",
    "privacyDeletion": "deleted",
    "propertyChange": "updated",
    "associationChange": "updated",
    "restore": "updated",
    "merge": "merged",
}
#: Fields an event must carry, and their JSON types.
REQUIRED = {"eventId": int, "subscriptionType": str, "occurredAt": int, "portalId": int}


@dataclass(frozen=True)
class WebhookPolicy:
    """What a connection accepts: its secret, schemes, time windows and account."""

    client_secret: str | None
    versions: frozenset[SignatureVersion]
    tolerance_s: float
    legacy_max_age_s: float
    max_body_bytes: int
    portal_id: int | None = None


def v3_signature(secret: str, method: str, uri: str, body: bytes, timestamp: str) -> str:
    """Base64 HMAC-SHA256 of ``method + uri + body + timestamp`` keyed with the secret."""
    source = method.encode() + uri.encode() + body + timestamp.encode()
    digest = hmac.new(secret.encode(), source, hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def v2_signature(secret: str, method: str, uri: str, body: bytes) -> str:
    """Hex SHA-256 of ``secret + method + uri + body``."""
    return hashlib.sha256(secret.encode() + method.encode() + uri.encode() + body).hexdigest()


def v1_signature(secret: str, body: bytes) -> str:
    """Hex SHA-256 of ``secret + body``."""
    return hashlib.sha256(secret.encode() + body).hexdigest()


def v3_uri_forms(url: str) -> list[str]:
    """The URI as received and with HubSpot's listed characters decoded (when different)."""
    decoded = _V3_ENCODED.sub(lambda m: V3_DECODED[m.group(0).upper()], url)
    return [url] if decoded == url else [url, decoded]


class WebhookVerifier:
    """Verifies deliveries for one connection and turns them into thin events."""

    def __init__(self, policy: WebhookPolicy, clock: Callable[[], float] = time.time) -> None:
        self.policy = policy
        self.clock = clock

    def parse(
        self, headers: Mapping[str, str], raw_body: bytes, *, url: str, method: str
    ) -> list[WebhookEvent]:
        """Verified events of a delivery; raises ``InvalidWebhook`` for a delivery that fails
        verification, ``MalformedWebhook`` for a verified one that is not HubSpot's shape."""
        policy = self.policy
        if len(raw_body) > policy.max_body_bytes:
            raise InvalidWebhook("hubspot: delivery body is too large")
        if policy.client_secret is None:
            raise InvalidWebhook("hubspot: no client secret configured for webhooks")
        lowered = _headers(headers)
        version = self._verify(lowered, raw_body, url, method.upper(), policy.client_secret)
        events = _events(raw_body)
        now_ms = self.clock() * 1000
        for event in events:
            if policy.portal_id is not None and event["portalId"] != policy.portal_id:
                raise InvalidWebhook("hubspot: delivery for another account")
            if version != "v3" and not self._recent(event["occurredAt"], now_ms):
                raise InvalidWebhook("hubspot: legacy-signed event is stale")
        return [e for e in (_thin_event(event) for event in events) if e is not None]

    def _verify(
        self, headers: dict[str, str], body: bytes, url: str, method: str, secret: str
    ) -> SignatureVersion:
        if SIGNATURE_V3 in headers and "v3" in self.policy.versions:
            self._verify_v3(headers, body, url, method, secret)
            return "v3"
        legacy = headers.get(SIGNATURE_VERSION, "").strip().lower()
        signature = headers.get(SIGNATURE)
        if signature is None or legacy not in ("v1", "v2") or legacy not in self.policy.versions:
            raise InvalidWebhook("hubspot: no signature this connection accepts")
        if legacy == "v2":
            _uri(url)
            expected = v2_signature(secret, method, url, body)
        else:
            expected = v1_signature(secret, body)
        if not hmac.compare_digest(signature.strip().lower().encode(), expected.encode()):
            raise InvalidWebhook("hubspot: signature mismatch")
        return "v2" if legacy == "v2" else "v1"

    def _verify_v3(
        self, headers: dict[str, str], body: bytes, url: str, method: str, secret: str
    ) -> None:
        stamp = headers.get(TIMESTAMP, "").strip()
        if not stamp.isascii() or not stamp.isdigit() or len(stamp) > 15:
            raise InvalidWebhook("hubspot: missing or malformed request timestamp")
        skew_s = abs(self.clock() - int(stamp) / 1000)
        if skew_s > self.policy.tolerance_s:
            raise InvalidWebhook("hubspot: request timestamp outside the tolerance")
        signature = headers[SIGNATURE_V3].strip().encode()
        for uri in v3_uri_forms(_uri(url)):
            expected = v3_signature(secret, method, uri, body, stamp).encode()
            if hmac.compare_digest(signature, expected):
                return
        raise InvalidWebhook("hubspot: signature mismatch")

    def _recent(self, occurred_ms: int, now_ms: float) -> bool:
        age_s = (now_ms - occurred_ms) / 1000
        return -self.policy.tolerance_s <= age_s <= self.policy.legacy_max_age_s


def _headers(headers: Mapping[str, str]) -> dict[str, str]:
    """HubSpot's own headers (``X-HubSpot-*``, the only ones read), by lower-cased name."""
    out: dict[str, str] = {}
    for key, value in headers.items():
        if not isinstance(key, str) or not isinstance(value, str):
            raise InvalidWebhook("hubspot: malformed headers")
        lowered = key.lower()
        if lowered.startswith("x-hubspot-"):
            if len(value) > MAX_HEADER_CHARS:
                raise InvalidWebhook("hubspot: header value too long")
            out[lowered] = value
    return out


def _uri(url: str) -> str:
    if not url or len(url) > MAX_URL_CHARS or not url.isascii():
        raise InvalidWebhook("hubspot: the URL HubSpot called is needed to verify the signature")
    return url


def _events(raw_body: bytes) -> list[dict[str, Any]]:
    try:
        body = loads(raw_body)
    except (ValueError, RecursionError) as exc:
        raise MalformedWebhook("hubspot: delivery body is not JSON") from exc
    if not isinstance(body, list) or not body or len(body) > MAX_EVENTS:
        raise MalformedWebhook("hubspot: delivery body is not a JSON array of events")
    for event in body:
        if not isinstance(event, dict) or not all(
            isinstance(event.get(k), t) and not isinstance(event.get(k), bool)
            for k, t in REQUIRED.items()
        ):
            raise MalformedWebhook("hubspot: malformed event in delivery")
        if not 0 <= event["occurredAt"] <= MAX_EPOCH_MS:
            raise MalformedWebhook("hubspot: event occurredAt out of range")
    return body


#: ``json.dumps(..., sort_keys=True, separators=(",", ":"), ensure_ascii=True)``, built once:
#: ``json.dumps`` with any argument builds a new encoder per call, most of a key's cost.
_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode


def delivery_key(event: Mapping[str, Any]) -> str:
    """Unique per event and equal on redelivery: a hash of every field but ``attemptNumber``."""
    identity = {k: v for k, v in event.items() if k != "attemptNumber"}
    return "hubspot:" + hashlib.sha256(_CANONICAL(identity).encode()).hexdigest()


def _thin_event(event: Mapping[str, Any]) -> WebhookEvent | None:
    subject, _, change = event["subscriptionType"].partition(".")
    stream = OBJECT_STREAMS.get(subject)
    if subject == "object":
        type_id = event.get("objectTypeId")
        stream = OBJECT_TYPE_IDS.get(type_id) if isinstance(type_id, str) else None
    action = ACTIONS.get(change)
    object_id = event.get("primaryObjectId") if change == "merge" else event.get("objectId")
    if stream is None or action is None or not isinstance(object_id, int | str):
        log.info("hubspot.webhook_ignored", subscription_type=event["subscriptionType"][:80])
        return None
    payload = {
        k: event[k]
        for k in (
            "subscriptionType",
            "eventId",
            "subscriptionId",
            "portalId",
            "appId",
            "attemptNumber",
            "propertyName",
            "propertyValue",
            "changeSource",
            "changeFlag",
            "mergedObjectIds",
        )
        if k in event
    }
    return WebhookEvent(
        delivery_key=delivery_key(event),
        stream=stream,
        external_id=str(object_id),
        action=action,
        occurred_at=datetime.fromtimestamp(event["occurredAt"] / 1000, tz=UTC),
        payload=payload,
    )


__all__ = [
    "ACTIONS",
    "OBJECT_STREAMS",
    "V3_DECODED",
    "WebhookPolicy",
    "WebhookVerifier",
    "delivery_key",
    "v1_signature",
    "v2_signature",
    "v3_signature",
    "v3_uri_forms",
]
