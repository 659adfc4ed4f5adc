"""QUALITY R3 for Cloudinary notifications: the valid fixtures pass, every forgery is refused."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping
from typing import Any

import httpx
import pytest
from syncbridge_cloudinary.connector import CloudinaryConnector
from syncbridge_cloudinary.signatures import MAX_NOTIFICATION_BYTES, notification_signature
from syncbridge_cloudinary.simulator import CloudinarySimulator, NotificationType

from syncbridge.connector.errors import InvalidWebhook, MalformedWebhook
from syncbridge.connector.ratelimit import override_time
from syncbridge.connector.testing import FAKE_EPOCH, FakeClock

from .support import client_for, connector_for, make_simulator

#: The one instant these tests run at, on the simulator's and the connector's clocks alike:
#: window edges are exact, whatever the wall clock does meanwhile.
NOW = int(FAKE_EPOCH)


def sim_at(**options: Any) -> CloudinarySimulator:
    """A simulator whose notifications are stamped ``NOW``."""
    return make_simulator(clock=lambda: float(NOW), **options)


def connector_at(
    sim: CloudinarySimulator, client: httpx.AsyncClient, **overrides: Any
) -> CloudinaryConnector:
    """A connector whose wall clock stands still at ``NOW``."""
    clock = FakeClock()
    assert clock.wall() == NOW
    with override_time(clock.source):
        return connector_for(sim, client, **overrides)


@pytest.fixture
def sim() -> CloudinarySimulator:
    return sim_at()


@pytest.fixture
async def connector(sim: CloudinarySimulator) -> AsyncIterator[CloudinaryConnector]:
    async with client_for(sim) as client:
        yield connector_at(sim, client)


def first(sim: CloudinarySimulator, resource_type: str = "image") -> tuple[str, str]:
    resource = next(r for r in sim.store.by_asset_id.values() if r.resource_type == resource_type)
    return resource.asset_id, resource.public_id


def signed(
    sim: CloudinarySimulator, body: Mapping[str, object], timestamp: int | None = None
) -> tuple[dict[str, str], bytes]:
    raw = json.dumps(body).encode()
    sent = str(NOW if timestamp is None else timestamp)
    signature = notification_signature(raw, sent, sim.options.api_secret)
    return {"X-Cld-Timestamp": sent, "X-Cld-Signature": signature}, raw


# ---- valid fixtures -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "action"),
    [
        ("upload", "created"),
        ("resource_tags_changed", "updated"),
        ("resource_context_changed", "updated"),
        ("resource_metadata_changed", "updated"),
        ("delete", "deleted"),
    ],
)
async def test_valid_notifications_become_events(
    sim: CloudinarySimulator, connector: CloudinaryConnector, kind: NotificationType, action: str
) -> None:
    asset_id, public_id = first(sim)
    headers, body = sim.notification(kind, public_id)
    (event,) = await connector.parse_webhook(headers, body)
    assert (event.stream, event.external_id, event.action) == ("resources", asset_id, action)
    assert event.payload["public_id"] == public_id
    assert event.delivery_key.startswith(json.loads(body)["request_id"])
    assert event.occurred_at is not None
    assert int(event.occurred_at.timestamp()) == int(headers["X-Cld-Timestamp"])


async def test_header_names_are_case_insensitive(
    sim: CloudinarySimulator, connector: CloudinaryConnector
) -> None:
    headers, body = sim.notification("upload", first(sim)[1])
    lowered = {k.lower(): v for k, v in headers.items()}
    assert len(await connector.parse_webhook(lowered, body)) == 1


async def test_timestamps_inside_the_window_are_accepted(
    sim: CloudinarySimulator, connector: CloudinaryConnector
) -> None:
    public_id = first(sim)[1]
    for timestamp in (NOW - 7200, NOW - 7000, NOW + 200, NOW + 300):
        headers, body = sim.notification("upload", public_id, timestamp=timestamp)
        assert await connector.parse_webhook(headers, body)


async def test_delivery_key_without_request_id_is_stable_and_distinct(
    sim: CloudinarySimulator, connector: CloudinaryConnector
) -> None:
    asset_id, public_id = first(sim)
    body = {"notification_type": "upload", "asset_id": asset_id, "public_id": public_id}
    headers, raw = signed(sim, body, timestamp=NOW)
    (one,) = await connector.parse_webhook(headers, raw)
    (again,) = await connector.parse_webhook(headers, raw)
    later_headers, later_raw = signed(sim, body, timestamp=NOW + 1)
    (later,) = await connector.parse_webhook(later_headers, later_raw)
    assert one.delivery_key == again.delivery_key != later.delivery_key


async def test_a_delivery_about_several_resources_gives_distinct_keys(
    sim: CloudinarySimulator, connector: CloudinaryConnector
) -> None:
    ids = sorted(sim.store.by_asset_id)[:2]
    resources = [{"asset_id": i, "public_id": sim.store.by_asset_id[i].public_id} for i in ids]
    body = {"notification_type": "delete", "request_id": "r1", "resources": resources}
    events = await connector.parse_webhook(*signed(sim, body))
    assert [e.external_id for e in events] == ids
    assert len({e.delivery_key for e in events}) == 2


async def test_a_notification_without_asset_id_names_the_public_id(
    sim: CloudinarySimulator, connector: CloudinaryConnector
) -> None:
    body = {"notification_type": "upload", "public_id": "some/asset"}
    (event,) = await connector.parse_webhook(*signed(sim, body))
    assert event.external_id is None
    assert event.payload["public_id"] == "some/asset"


# ---- the R3 matrix ----------------------------------------------------------------------


async def refused(
    connector: CloudinaryConnector, headers: dict[str, str], body: bytes, reason: str | None = None
) -> None:
    with pytest.raises(InvalidWebhook, match=reason):
        await connector.parse_webhook(headers, body)


async def test_flipped_byte_is_refused(
    sim: CloudinarySimulator, connector: CloudinaryConnector
) -> None:
    headers, body = sim.notification("upload", first(sim)[1])
    i = len(body) // 2
    await refused(connector, headers, body[:i] + bytes([body[i] ^ 0x01]) + body[i + 1 :])


async def test_flipped_signature_character_is_refused(
    sim: CloudinarySimulator, connector: CloudinaryConnector
) -> None:
    headers, body = sim.notification("upload", first(sim)[1])
    signature = headers["X-Cld-Signature"]
    headers["X-Cld-Signature"] = ("0" if signature[0] != "0" else "1") + signature[1:]
    await refused(connector, headers, body)


async def test_wrong_secret_is_refused(connector: CloudinaryConnector) -> None:
    other = sim_at(api_secret="another-secret")
    await refused(connector, *other.notification("upload", first(other)[1]), "does not match")


async def test_an_oversized_body_is_refused_even_when_signed(
    sim: CloudinarySimulator, connector: CloudinaryConnector
) -> None:
    padding = "x" * MAX_NOTIFICATION_BYTES
    headers, body = signed(sim, {"notification_type": "upload", "public_id": padding})
    with pytest.raises(InvalidWebhook, match="larger"):
        await connector.parse_webhook(headers, body)


@pytest.mark.parametrize("header", ["X-Cld-Signature", "X-Cld-Timestamp"])
async def test_missing_header_is_refused(
    sim: CloudinarySimulator, connector: CloudinaryConnector, header: str
) -> None:
    headers, body = sim.notification("upload", first(sim)[1])
    del headers[header]
    await refused(connector, headers, body)


@pytest.mark.parametrize(("offset", "reason"), [(-7201, "too old"), (301, "in the future")])
async def test_timestamp_outside_tolerance_is_refused(
    sim: CloudinarySimulator, connector: CloudinaryConnector, offset: int, reason: str
) -> None:
    headers, body = sim.notification("upload", first(sim)[1], timestamp=NOW + offset)
    with pytest.raises(InvalidWebhook, match=reason):
        await connector.parse_webhook(headers, body)


async def test_timestamp_in_milliseconds_is_refused(
    sim: CloudinarySimulator, connector: CloudinaryConnector
) -> None:
    asset_id, public_id = first(sim)
    body = {"notification_type": "upload", "asset_id": asset_id, "public_id": public_id}
    await refused(connector, *signed(sim, body, timestamp=NOW * 1000))


async def test_reserialised_json_is_refused(
    sim: CloudinarySimulator, connector: CloudinaryConnector
) -> None:
    headers, body = sim.notification("upload", first(sim)[1])
    reserialised = json.dumps(json.loads(body), indent=1).encode()
    assert json.loads(reserialised) == json.loads(body)
    await refused(connector, headers, reserialised)


async def test_wrong_account_is_refused(connector: CloudinaryConnector) -> None:
    # Same secret, another API key: the payload's signature_key names another account.
    other = sim_at(api_key="999999999999999")
    await refused(connector, *other.notification("upload", first(other)[1]))


async def test_an_authentic_notification_of_an_unused_type_is_acknowledged_and_ignored(
    sim: CloudinarySimulator, connector: CloudinaryConnector
) -> None:
    # Refusing it would make Cloudinary retry a delivery that is perfectly fine.
    body = {"notification_type": "eager", "public_id": "dog", "eager": []}
    assert await connector.parse_webhook(*signed(sim, body)) == []


async def test_a_forged_notification_of_an_unused_type_is_still_refused(
    connector: CloudinaryConnector,
) -> None:
    raw = json.dumps({"notification_type": "eager", "public_id": "dog"}).encode()
    headers = {"X-Cld-Timestamp": str(NOW), "X-Cld-Signature": "0" * 40}
    await refused(connector, headers, raw)


async def test_a_timestamp_of_thousands_of_digits_is_refused_not_a_crash(
    sim: CloudinarySimulator, connector: CloudinaryConnector
) -> None:
    raw = json.dumps({"notification_type": "upload", "public_id": "dog"}).encode()
    sent = "9" * 4_400
    headers = {
        "X-Cld-Timestamp": sent,
        "X-Cld-Signature": notification_signature(raw, sent, sim.options.api_secret),
    }
    await refused(connector, headers, raw)


async def malformed(connector: CloudinaryConnector, headers: dict[str, str], body: bytes) -> None:
    """Signed with the account's secret, so not a forgery: refused as malformed (400)."""
    with pytest.raises(MalformedWebhook):
        await connector.parse_webhook(headers, body)


async def test_a_signed_body_nested_beyond_recursion_is_refused_not_a_crash(
    sim: CloudinarySimulator, connector: CloudinaryConnector
) -> None:
    raw = b"[" * 100_000
    sent = str(NOW)
    headers = {
        "X-Cld-Timestamp": sent,
        "X-Cld-Signature": notification_signature(raw, sent, sim.options.api_secret),
    }
    await malformed(connector, headers, raw)


async def test_signed_garbage_is_refused_as_malformed(
    sim: CloudinarySimulator, connector: CloudinaryConnector
) -> None:
    raw = b"not json"
    sent = str(NOW)
    headers = {
        "X-Cld-Timestamp": sent,
        "X-Cld-Signature": notification_signature(raw, sent, sim.options.api_secret),
    }
    await malformed(connector, headers, raw)
    await malformed(connector, *signed(sim, {"notification_type": "upload"}))


async def test_garbage_with_a_bad_signature_is_a_forgery(
    sim: CloudinarySimulator, connector: CloudinaryConnector
) -> None:
    sent = str(NOW)
    headers = {
        "X-Cld-Timestamp": sent,
        "X-Cld-Signature": notification_signature(b"{}", sent, sim.options.api_secret),
    }
    await refused(connector, headers, b"not json", "does not match")


async def test_sha1_delivery_is_refused_when_the_account_signs_sha256(
    sim: CloudinarySimulator,
) -> None:
    headers, body = sim.notification("upload", first(sim)[1])
    async with httpx.AsyncClient() as client:
        strict = connector_at(sim, client, notification_signature_algorithm="sha256")
        await refused(strict, headers, body, "does not match")
        sha256_sim = sim_at(signature_algorithm="sha256")
        sha256_connector = connector_at(sha256_sim, client)
        assert await sha256_connector.parse_webhook(
            *sha256_sim.notification("upload", first(sha256_sim)[1])
        )
