"""HubSpot webhook verification: golden vectors, the SDK's own signatures, the R3 matrix.

Golden vectors:

* v1: HubSpot's "v1 request validation" example (https://developers.hubspot.com/docs/faq/
  v1-request-validation): secret ``yyyyyyyy-yyyy-yyyy-yyyy-yyyyyyyyyyyy``, a contact.creation
  body, hash ``232db261...``.
* v2: HubSpot's "v2 request validation" examples (https://developers.hubspot.com/docs/faq/
  v2-request-validation): GET ``https://www.example.com/webhook_uri`` -> ``eee2dddc...``, POST
  with body ``{"example_field":"example_value"}`` -> ``9569219f...``.
* v3: HubSpot's docs give the recipe but no worked example, so the vector is the one in
  HubSpot's own SDK tests (HubSpot/hubspot-api-python ``tests/spec/utils/test_signature.py``):
  timestamp 15000000 -> ``HPW73RUtKmcYoEDADG0s6MmGFWUzWJKAW07r8RDgcQw=``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from hubspot.utils.signature import Signature
from syncbridge_hubspot.connector import HubSpotConnector
from syncbridge_hubspot.settings import HubSpotSettings
from syncbridge_hubspot.sim_webhooks import WebhookSender
from syncbridge_hubspot.webhooks import (
    delivery_key,
    v1_signature,
    v2_signature,
    v3_signature,
    v3_uri_forms,
)

from syncbridge.connector.errors import InvalidWebhook, MalformedWebhook
from syncbridge.connector.ratelimit import override_time
from syncbridge.connector.testing import FakeClock

from .support import FAST_RETRY

DOC_SECRET = "yyyyyyyy-yyyy-yyyy-yyyy-yyyyyyyyyyyy"
DOC_V1_BODY = (
    b'[{"eventId":1,"subscriptionId":12345,"portalId":62515,"occurredAt":1564113600000,'
    b'"subscriptionType":"contact.creation","attemptNumber":0,"objectId":123,'
    b'"changeSource":"CRM","changeFlag":"NEW","appId":54321}]'
)
DOC_V1_HASH = "232db2615f3d666fe21a8ec971ac7b5402d33b9a925784df3ca654d05f4817de"
DOC_URI = "https://www.example.com/webhook_uri"
SECRET = "the-app-client-secret"
PORTAL = 62515
URL = "https://syncbridge.example.com/webhooks/hubspot?connection=7"
#: 2026-01-01T00:00:00Z: the receiver's wall clock in these tests.
NOW = 1_767_225_600.0


def make_connector(
    *, now: float = NOW, versions: tuple[str, ...] = ("v1", "v2", "v3"), **overrides: Any
) -> HubSpotConnector:
    """A connector whose wall clock reads ``now``; it never calls HubSpot."""
    values: dict[str, Any] = {
        "access_token": "pat-na1-unused",
        "client_secret": SECRET,
        "portal_id": PORTAL,
        "webhook_signature_versions": list(versions),
        **overrides,
    }
    with override_time(FakeClock(epoch=now).source):
        return HubSpotConnector(HubSpotSettings(**values), httpx.AsyncClient(), retry=FAST_RETRY)


def sender(now: float = NOW, secret: str = SECRET, portal: int = PORTAL) -> WebhookSender:
    return WebhookSender(client_secret=secret, app_id=777, portal_id=portal, wall_clock=lambda: now)


def delivery(
    version: str = "v3",
    *,
    now: float = NOW,
    secret: str = SECRET,
    portal: int = PORTAL,
    url: str = URL,
    events: int = 1,
) -> tuple[dict[str, str], bytes]:
    vendor = sender(now, secret, portal)
    batch = [
        vendor.event("deals", 40_000_000_001 + i, property_name="dealstage", property_value="x")
        for i in range(events)
    ]
    headers, body, _ = vendor.delivery(batch, version=version, url=url)  # type: ignore[arg-type]
    return headers, body


async def parse(
    connector: HubSpotConnector,
    headers: dict[str, str],
    body: bytes,
    *,
    url: str = URL,
    method: str = "POST",
) -> Any:
    return await connector.parse_webhook(headers, body, url=url, method=method)


# ----- golden vectors -----------------------------------------------------------------------


def test_v1_matches_hubspots_documented_example() -> None:
    assert v1_signature(DOC_SECRET, DOC_V1_BODY) == DOC_V1_HASH


def test_v2_matches_hubspots_documented_examples() -> None:
    get = "eee2dddcc73c94d699f5e395f4b9d454a069a6855fbfa152e91e88823087200e"
    post = "9569219f8ba981ffa6f6f16aa0f48637d35d728c7e4d93d0d52efaa512af7900"
    assert v2_signature(DOC_SECRET, "GET", DOC_URI, b"") == get
    assert v2_signature(DOC_SECRET, "POST", DOC_URI, b'{"example_field":"example_value"}') == post


def test_v3_matches_the_vector_of_hubspots_sdk_tests() -> None:
    body = b"{'example_field':'example_value'}"
    expected = "HPW73RUtKmcYoEDADG0s6MmGFWUzWJKAW07r8RDgcQw="
    assert v3_signature(DOC_SECRET, "POST", DOC_URI, body, "15000000") == expected


async def test_the_documented_v1_delivery_is_accepted_when_it_was_sent() -> None:
    connector = make_connector(
        now=1_564_113_600.0 + 30, client_secret=DOC_SECRET, portal_id=62515, versions=("v1",)
    )
    headers = {"X-HubSpot-Signature": DOC_V1_HASH, "X-HubSpot-Signature-Version": "v1"}
    (event,) = await parse(connector, headers, DOC_V1_BODY)
    assert (event.stream, event.external_id, event.action) == ("contacts", "123", "created")
    assert event.payload["changeFlag"] == "NEW"


def test_v3_uri_decoding_follows_hubspots_list() -> None:
    raw = "https://h.example/hook?next=a%3Ab%2Fc%3Fd%40e%21%24%27%28%29%2A%2C%3B&x=%20"
    assert v3_uri_forms(raw) == [raw, "https://h.example/hook?next=a:b/c?d@e!$'()*,;&x=%20"]
    assert v3_uri_forms(URL) == [URL]


# ----- the official SDK's Signature helper ---------------------------------------------------


@pytest.mark.parametrize("version", ["v1", "v2", "v3"])
async def test_signatures_made_by_the_sdk_helper_are_accepted(version: str) -> None:
    _, body = delivery()
    stamp = str(int(NOW * 1000))
    signature = Signature.get_signature(
        SECRET, body.decode(), version, http_uri=URL, http_method="POST", timestamp=stamp
    )
    headers = (
        {"X-HubSpot-Signature-v3": signature, "X-HubSpot-Request-Timestamp": stamp}
        if version == "v3"
        else {"X-HubSpot-Signature": signature, "X-HubSpot-Signature-Version": version}
    )
    events = await parse(make_connector(), headers, body)
    assert [e.external_id for e in events] == ["40000000001"]


@pytest.mark.parametrize("version", ["v1", "v2", "v3"])
def test_the_sdk_helper_accepts_the_simulators_deliveries(version: str) -> None:
    import time

    now = time.time()
    headers, body = delivery(version, now=now)
    if version == "v3":
        signature, stamp = headers["X-HubSpot-Signature-v3"], headers["X-HubSpot-Request-Timestamp"]
    else:
        signature, stamp = headers["X-HubSpot-Signature"], None
    assert Signature.is_valid(
        signature, SECRET, body.decode(), URL, "POST", signature_version=version, timestamp=stamp
    )


# ----- R3: the signature matrix -------------------------------------------------------------


@pytest.mark.parametrize("version", ["v1", "v2", "v3"])
async def test_a_valid_delivery_is_accepted(version: str) -> None:
    headers, body = delivery(version, events=3)
    events = await parse(make_connector(), headers, body)
    assert [e.action for e in events] == ["updated"] * 3
    assert len({e.delivery_key for e in events}) == 3


def _flip(body: bytes) -> bytes:
    i = len(body) // 2
    return body[:i] + bytes([body[i] ^ 0x01]) + body[i + 1 :]


def _reserialised(body: bytes) -> bytes:
    return json.dumps(json.loads(body), indent=1).encode()


def _drop(headers: dict[str, str], *names: str) -> dict[str, str]:
    return {k: v for k, v in headers.items() if k.lower() not in names}


Forgery = Callable[[dict[str, str], bytes], tuple[dict[str, str], bytes]]
#: name -> (forgery, the reason it must be refused for)
FORGERIES: dict[str, tuple[Forgery, str]] = {
    "flipped byte": (lambda h, b: (h, _flip(b)), "signature mismatch"),
    "re-serialised JSON": (lambda h, b: (h, _reserialised(b)), "signature mismatch"),
    "no signature headers": (
        lambda h, b: (_drop(h, "x-hubspot-signature", "x-hubspot-signature-v3"), b),
        "no signature",
    ),
    "empty headers": (lambda _h, b: ({}, b), "no signature"),
}


@pytest.mark.parametrize("version", ["v1", "v2", "v3"])
@pytest.mark.parametrize("forgery", sorted(FORGERIES))
async def test_a_forged_delivery_is_refused(version: str, forgery: str) -> None:
    forge, reason = FORGERIES[forgery]
    headers, body = forge(*delivery(version))
    with pytest.raises(InvalidWebhook, match=reason):
        await parse(make_connector(), headers, body)


@pytest.mark.parametrize("version", ["v1", "v2", "v3"])
async def test_a_delivery_signed_with_another_secret_is_refused(version: str) -> None:
    headers, body = delivery(version, secret="someone-elses-secret")
    with pytest.raises(InvalidWebhook, match="signature mismatch"):
        await parse(make_connector(), headers, body)


@pytest.mark.parametrize("version", ["v1", "v2", "v3"])
async def test_a_delivery_for_another_account_is_refused(version: str) -> None:
    headers, body = delivery(version, portal=PORTAL + 1)
    with pytest.raises(InvalidWebhook, match="another account"):
        await parse(make_connector(), headers, body)


@pytest.mark.parametrize("version", ["v2", "v3"])
async def test_a_delivery_signed_for_another_url_or_method_is_refused(version: str) -> None:
    headers, body = delivery(version, url="https://attacker.example/hook")
    with pytest.raises(InvalidWebhook, match="signature mismatch"):
        await parse(make_connector(), headers, body)
    headers, body = delivery(version)
    with pytest.raises(InvalidWebhook, match="signature mismatch"):
        await parse(make_connector(), headers, body, method="PUT")
    with pytest.raises(InvalidWebhook):
        await parse(make_connector(), headers, body, url="")


@pytest.mark.parametrize("skew_s", [-301.0, 301.0, -86_400.0, 86_400.0])
async def test_v3_timestamps_outside_the_tolerance_are_refused_both_ways(skew_s: float) -> None:
    headers, body = delivery("v3", now=NOW + skew_s)
    connector = make_connector(versions=("v3",))
    with pytest.raises(InvalidWebhook, match="tolerance"):
        await parse(connector, headers, body)


@pytest.mark.parametrize("skew_s", [-299.0, 299.0])
async def test_v3_timestamps_inside_the_tolerance_are_accepted(skew_s: float) -> None:
    headers, body = delivery("v3", now=NOW + skew_s)
    assert await parse(make_connector(versions=("v3",)), headers, body)


@pytest.mark.parametrize("stamp", ["", "soon", "1e12", "-5", "9" * 40, "١٧٦٧٢٢٥٦٠٠٠٠٠"])
async def test_a_malformed_v3_timestamp_is_refused(stamp: str) -> None:
    headers, body = delivery("v3")
    headers["X-HubSpot-Request-Timestamp"] = stamp
    with pytest.raises(InvalidWebhook):
        await parse(make_connector(versions=("v3",)), headers, body)


@pytest.mark.parametrize("version", ["v1", "v2"])
@pytest.mark.parametrize("age_s", [-301.0, 6 * 3600.0 + 1])
async def test_legacy_events_outside_their_window_are_refused(version: str, age_s: float) -> None:
    headers, body = delivery(version, now=NOW - age_s)
    with pytest.raises(InvalidWebhook, match="stale"):
        await parse(make_connector(), headers, body)


async def test_legacy_signatures_are_refused_unless_the_connection_allows_them() -> None:
    headers, body = delivery("v1")
    with pytest.raises(InvalidWebhook, match="no signature"):
        await parse(make_connector(versions=("v3",)), headers, body)


async def test_a_stale_v3_delivery_does_not_fall_back_to_its_v1_header() -> None:
    """v3 deliveries carry the v1 header too: stripping nothing, an old v3 stays refused."""
    headers, body = delivery("v3", now=NOW - 3600)
    assert "X-HubSpot-Signature" in headers
    with pytest.raises(InvalidWebhook, match="tolerance"):
        await parse(make_connector(), headers, body)


async def test_no_client_secret_refuses_everything() -> None:
    headers, body = delivery("v3")
    with pytest.raises(InvalidWebhook, match="client secret"):
        await parse(make_connector(client_secret=None), headers, body)


async def test_header_names_are_case_insensitive() -> None:
    headers, body = delivery("v3")
    lowered = {k.lower(): v for k, v in headers.items()}
    upper = {k.upper(): v for k, v in headers.items()}
    assert await parse(make_connector(), lowered, body)
    assert await parse(make_connector(), upper, body)


async def test_a_uri_signed_decoded_is_accepted() -> None:
    encoded = "https://syncbridge.example.com/webhooks/hubspot?next=a%3Ab"
    headers, body = delivery("v3", url="https://syncbridge.example.com/webhooks/hubspot?next=a:b")
    assert await parse(make_connector(), headers, body, url=encoded)


# ----- malformed bodies: signed ones are MalformedWebhook (400), not forgeries --------------


def _signed(body: bytes) -> dict[str, str]:
    stamp = str(int(NOW * 1000))
    return {
        "X-HubSpot-Signature-v3": v3_signature(SECRET, "POST", URL, body, stamp),
        "X-HubSpot-Request-Timestamp": stamp,
    }


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"not json",
        b"{}",
        b"[]",
        b'"text"',
        b"[1, 2]",
        b'[{"eventId": 1}]',
        b'[{"eventId": true, "subscriptionType": "deal.creation", "occurredAt": 1, "portalId": 1}]',
        b'[{"eventId": 1, "subscriptionType": "deal.creation", "occurredAt": 1e400,'
        b' "portalId": 62515}]',
        b'[{"eventId": 1, "subscriptionType": "deal.creation", "occurredAt": 99999999999999999,'
        b' "portalId": 62515, "objectId": 1}]',
        b"[" * 100_000 + b"]" * 100_000,
        b"[" + b"1" * 5000 + b"]",
    ],
)
async def test_a_signed_but_malformed_body_is_refused_as_malformed(body: bytes) -> None:
    with pytest.raises(MalformedWebhook):
        await parse(make_connector(), _signed(body), body)


async def test_a_malformed_body_with_a_bad_signature_is_a_forgery() -> None:
    """Verification comes first: bytes nobody signed are refused as a forgery, whatever
    they hold."""
    headers = _signed(b"[]")
    with pytest.raises(InvalidWebhook, match="signature mismatch"):
        await parse(make_connector(), headers, b"not json")


async def test_an_oversized_body_is_refused_before_verification() -> None:
    body = b"[" + b" " * 2_000_000 + b"]"
    with pytest.raises(InvalidWebhook, match="too large"):
        await parse(make_connector(), _signed(body), body)


# ----- events and delivery keys -------------------------------------------------------------


async def test_event_ids_repeat_across_subscriptions_yet_keys_stay_unique() -> None:
    vendor = sender()
    created = vendor.event("deals", 40_000_000_001, "creation")
    changed = vendor.event("deals", 40_000_000_001, "propertyChange", property_name="amount")
    assert created["eventId"] == changed["eventId"]
    headers, body, _ = vendor.delivery([created, changed], url=URL)
    events = await parse(make_connector(), headers, body)
    assert [e.action for e in events] == ["created", "updated"]
    assert events[0].delivery_key != events[1].delivery_key


async def test_a_retry_keeps_its_delivery_key() -> None:
    vendor = sender()
    first = vendor.event("contacts", 30_000_000_002, "deletion")
    retry = {**first, "attemptNumber": 3}
    assert delivery_key(first) == delivery_key(retry)
    headers, body, _ = vendor.delivery([retry], url=URL)
    (event,) = await parse(make_connector(), headers, body)
    assert (event.action, event.delivery_key) == ("deleted", delivery_key(first))


async def test_merges_generic_objects_and_unknown_types() -> None:
    events = [
        {
            "eventId": 9,
            "subscriptionId": 1,
            "portalId": PORTAL,
            "appId": 777,
            "occurredAt": int(NOW * 1000),
            "subscriptionType": "contact.merge",
            "attemptNumber": 0,
            "objectId": 5,
            "primaryObjectId": 7,
            "mergedObjectIds": [5, 6],
        },
        {
            "eventId": 10,
            "subscriptionId": 2,
            "portalId": PORTAL,
            "occurredAt": int(NOW * 1000),
            "subscriptionType": "object.propertyChange",
            "objectTypeId": "0-2",
            "objectId": 11,
        },
        {
            "eventId": 11,
            "subscriptionId": 3,
            "portalId": PORTAL,
            "occurredAt": int(NOW * 1000),
            "subscriptionType": "ticket.creation",
            "objectId": 12,
        },
    ]
    body = json.dumps(events).encode()
    got = await parse(make_connector(), _signed(body), body)
    assert [(e.stream, e.external_id, e.action) for e in got] == [
        ("contacts", "7", "merged"),
        ("companies", "11", "updated"),
    ]
    assert got[0].payload["mergedObjectIds"] == [5, 6]
