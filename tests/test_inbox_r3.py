"""QUALITY R3 through ``POST /webhooks/...``: per vendor scheme, the genuine delivery is
accepted once, and every forgery is refused with 401 problem+json, counted as a signature
rejection, with no inbox event and no ``inbox.process`` job. Each forgery test then posts the
genuine delivery it was made from and sees it accepted, so the refusal came from the forgery.

The processing worker is off: a queued job stays in the ``jobs`` table to be counted.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from syncbridge_salesforce.outbound import ACK_ENVELOPE

from syncbridge.settings import Settings
from tests.inbox_r3_support import (
    SCHEMES,
    Delivery,
    Stored,
    cloudinary_signed,
    configure,
    post,
    rejected,
    stored,
)
from tests.inbox_support import Sandboxed, sandboxed_app

pytestmark = pytest.mark.embedded_worker(False)

ACCEPTING = [key for key in SCHEMES if key != "bynder-sns-subscription"]
MATRIX = [
    pytest.param(scheme, name, id=f"{scheme}-{name}")
    for scheme, spec in SCHEMES.items()
    for name in spec.forgeries
]
NOTHING = Stored([], 0)


async def prepared(world: Sandboxed, scheme: str, admin: dict[str, str]) -> None:
    """Give the scheme's connection the settings the scheme needs (HubSpot v1/v2 opt-in)."""
    spec = SCHEMES[scheme]
    if spec.settings:
        await configure(world, admin, spec.connector, **spec.settings)


async def assert_accepted(world: Sandboxed, delivery: Delivery) -> None:
    """``delivery`` is answered 2xx the vendor's way and its events are in the inbox."""
    answer = await post(world, delivery)
    assert answer.status_code == 200, answer.text
    after = await stored(world)
    assert sorted(after.events) == sorted(delivery.expected)
    assert after.process_jobs == (1 if delivery.expected else 0)


@pytest.mark.parametrize("scheme", ACCEPTING)
async def test_a_genuine_delivery_is_stored_once(
    settings: Settings, tmp_path: Path, admin: dict[str, str], scheme: str
) -> None:
    async with sandboxed_app(settings, tmp_path / "dam") as world:
        await prepared(world, scheme, admin)
        delivery = SCHEMES[scheme].genuine(world)
        assert delivery.expected
        first = await post(world, delivery)
        again = await post(world, delivery)

        assert first.status_code == again.status_code == 200, (first.text, again.text)
        if scheme == "salesforce-outbound":
            # Salesforce needs its Ack envelope, redelivery or not.
            for answer in (first, again):
                assert answer.headers["content-type"].startswith("text/xml")
                assert answer.content == ACK_ENVELOPE
        else:
            count = len(delivery.expected)
            assert first.json() == {"received": count, "new": count}
            assert again.json() == {"received": count, "new": 0}
        after = await stored(world)
        assert sorted(after.events) == sorted(delivery.expected)
        assert after.process_jobs == 1


async def test_an_sns_subscription_confirmation_is_confirmed_and_stores_nothing(
    settings: Settings, tmp_path: Path
) -> None:
    async with sandboxed_app(settings, tmp_path / "dam") as world:
        delivery = SCHEMES["bynder-sns-subscription"].genuine(world)
        answer = await post(world, delivery)

        assert answer.status_code == 200, answer.text
        assert answer.json() == {"received": 0, "new": 0}
        token = json.loads(delivery.body)["Token"]
        assert world.simulator("bynder").topic.confirmed == [token]
        assert await stored(world) == NOTHING


@pytest.mark.parametrize(("scheme", "forgery"), MATRIX)
async def test_a_forgery_is_refused_and_nothing_is_stored(
    settings: Settings, tmp_path: Path, admin: dict[str, str], scheme: str, forgery: str
) -> None:
    spec = SCHEMES[scheme]
    async with sandboxed_app(settings, tmp_path / "dam") as world:
        await prepared(world, scheme, admin)
        case = spec.forgeries[forgery](world)
        assert case.forged != case.genuine
        refusals = await rejected(world, spec.connector)

        answer = await post(world, case.forged)

        assert answer.status_code == 401, answer.text
        assert answer.headers["content-type"].startswith("application/problem+json")
        assert answer.json()["status"] == 401
        assert await stored(world) == NOTHING
        assert await rejected(world, spec.connector) == refusals + 1
        topic = world.simulator("bynder").topic
        assert topic.confirmed == []  # no SubscribeURL visited for a forgery

        await assert_accepted(world, case.genuine)
        if scheme == "bynder-sns-subscription":
            assert len(topic.confirmed) == 1


async def test_an_sns_envelope_written_out_again_is_the_same_delivery(
    settings: Settings, tmp_path: Path
) -> None:
    # SNS signs the envelope's values, not its bytes (AWS's verification recipe), so other
    # whitespace is no forgery: it verifies, and its MessageId makes it a redelivery.
    async with sandboxed_app(settings, tmp_path / "dam") as world:
        delivery = SCHEMES["bynder-sns-notification"].genuine(world)
        compact = json.dumps(json.loads(delivery.body), separators=(",", ":")).encode()
        assert compact != delivery.body
        first = await post(world, delivery)
        again = await post(world, Delivery(delivery.url, delivery.headers, compact))

        assert first.json() == {"received": 1, "new": 1}
        assert again.status_code == 200, again.text
        assert again.json() == {"received": 1, "new": 0}
        assert (await stored(world)).events == list(delivery.expected)


@pytest.mark.parametrize("version", ["hubspot-v1", "hubspot-v2"])
async def test_a_legacy_hubspot_signature_is_refused_where_only_v3_is_accepted(
    settings: Settings, tmp_path: Path, version: str
) -> None:
    async with sandboxed_app(settings, tmp_path / "dam") as world:
        delivery = SCHEMES[version].genuine(world)
        answer = await post(world, delivery)

        assert answer.status_code == 401, answer.text
        assert answer.headers["content-type"].startswith("application/problem+json")
        assert await stored(world) == NOTHING


def _hubspot_malformed(world: Sandboxed) -> Delivery:
    url = world.webhook_url("hubspot")
    headers, body, _ = world.simulator("hubspot").webhooks.delivery(
        [{"eventId": 1, "subscriptionType": "deal.propertyChange"}], version="v3", url=url
    )
    return Delivery(url, headers, body, ())


def _cloudinary_malformed(world: Sandboxed) -> Delivery:
    body, stamp = b"not json", str(int(time.time()))
    secret = world.simulator("cloudinary").options.api_secret
    headers = cloudinary_signed(world, body, stamp, secret)
    return Delivery(world.webhook_url("cloudinary"), headers, body, ())


@pytest.mark.parametrize(
    ("connector", "make"),
    [("hubspot", _hubspot_malformed), ("cloudinary", _cloudinary_malformed)],
    ids=["hubspot", "cloudinary"],
)
async def test_a_signed_delivery_the_vendor_cannot_have_sent_is_400_and_counted_malformed(
    settings: Settings, tmp_path: Path, connector: str, make: Callable[[Sandboxed], Delivery]
) -> None:
    """Verified (the signature covers the bytes) but not the vendor's shape: a defect at the
    sender's end, not a forgery. 400, nothing stored, counted ``malformed``, not
    ``signature``."""
    async with sandboxed_app(settings, tmp_path / "dam") as world:
        forgeries = await rejected(world, connector)
        malformed = await rejected(world, connector, "malformed")

        answer = await post(world, make(world))

        assert answer.status_code == 400, answer.text
        assert answer.headers["content-type"].startswith("application/problem+json")
        assert await stored(world) == NOTHING
        assert await rejected(world, connector, "malformed") == malformed + 1
        assert await rejected(world, connector) == forgeries
