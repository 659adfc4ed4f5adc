"""Genuine and forged webhook deliveries per vendor scheme, made by the sandbox simulators,
and what the store and ``/metrics`` show of a delivery (QUALITY R3 and R4).

Every forgery comes with the genuine delivery it departs from: a test posts the forgery,
sees it refused with nothing stored, then posts the genuine one and sees it accepted, so a
refusal can only come from what the forgery changed (and not from, say, a scheme the
connection does not accept at all).

Schemes without a signature over bytes get the nearest forgeries: Salesforce outbound
messages are unsigned (a secret last path segment and the organisation id are the
credential), and SNS signs the values of the envelope, not its bytes.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from syncbridge_bynder.sim_sns import SigningIdentity, SnsTopic
from syncbridge_cloudinary.signatures import notification_signature
from syncbridge_hubspot.sim_webhooks import Version, WebhookSender

from syncbridge.inbox.service import PROCESS_JOB
from syncbridge.models import InboxEvent, Job
from syncbridge.store.unit_of_work import in_unit_of_work
from tests.inbox_support import Sandboxed

#: (stream, external id, action) of an inbox event.
Expected = tuple[str, str, str]


@dataclass(frozen=True)
class Delivery:
    """A POST as the vendor makes it, and the events it should give when it is genuine."""

    url: str
    headers: dict[str, str]
    body: bytes
    expected: tuple[Expected, ...] = ()


@dataclass(frozen=True)
class Case:
    """A forgery and the genuine delivery it departs from."""

    genuine: Delivery
    forged: Delivery


Forgery = Callable[[Sandboxed], Case]
Make = Callable[[Sandboxed], Delivery]


def made_otherwise(make: Make, forged: Make) -> Forgery:
    """A forgery built on its own (another key, time or account) beside a genuine one."""
    return lambda world: Case(make(world), forged(world))


def derived(make: Make, forge: Callable[[Sandboxed, Delivery], Delivery]) -> Forgery:
    """A forgery made from a genuine delivery by ``forge``."""

    def build(world: Sandboxed) -> Case:
        genuine = make(world)
        return Case(genuine, forge(world, genuine))

    return build


def body_changed(make: Make, change: Callable[[bytes], bytes]) -> Forgery:
    """The genuine delivery with its body changed, headers kept."""
    return derived(make, lambda _world, genuine: replace(genuine, body=change(genuine.body)))


def headers_changed(make: Make, change: Callable[[dict[str, str]], dict[str, str]]) -> Forgery:
    """The genuine delivery with its headers changed, body kept."""
    return derived(make, lambda _world, genuine: replace(genuine, headers=change(genuine.headers)))


@dataclass(frozen=True)
class Scheme:
    """A vendor's delivery scheme: its connector, the connection settings it needs, a
    genuine delivery and the forgeries to refuse."""

    connector: str
    genuine: Callable[[Sandboxed], Delivery]
    forgeries: dict[str, Forgery]
    settings: dict[str, Any] = field(default_factory=dict)


# ----- what the app shows --------------------------------------------------------------------


async def post(world: Sandboxed, delivery: Delivery) -> httpx.Response:
    """Deliver ``delivery`` to the app."""
    return await world.client.post(delivery.url, content=delivery.body, headers=delivery.headers)


@dataclass(frozen=True)
class Stored:
    """What deliveries left in the store: inbox events and queued processing jobs."""

    events: list[Expected]
    process_jobs: int


async def stored(world: Sandboxed) -> Stored:
    """The inbox events (in order of arrival) and the ``inbox.process`` jobs in the store."""

    async def read(session: AsyncSession) -> Stored:
        rows = await session.scalars(select(InboxEvent).order_by(InboxEvent.received_at))
        jobs = await session.scalar(
            select(func.count()).select_from(Job).where(Job.kind == PROCESS_JOB)
        )
        return Stored(
            [(row.stream, row.external_id or "", row.action) for row in rows], int(jobs or 0)
        )

    return await in_unit_of_work(world.app.state.sessionmaker, read, write=False)


async def rejected(world: Sandboxed, connector: str, reason: str = "signature") -> float:
    """``syncbridge_webhook_deliveries_rejected_total{connector, reason}`` as ``/metrics``
    shows it (0 before the first refusal)."""
    answer = await world.client.get("/metrics")
    assert answer.status_code == 200, answer.text
    for family in text_string_to_metric_families(answer.text):
        for sample in family.samples:
            if (
                sample.name == "syncbridge_webhook_deliveries_rejected_total"
                and sample.labels.get("connector") == connector
                and sample.labels.get("reason") == reason
            ):
                return float(sample.value)
    return 0.0


async def configure(world: Sandboxed, admin: Mapping[str, str], key: str, **values: Any) -> None:
    """Change the settings of the sandbox connection of ``key`` through the admin API."""
    path = f"/v1/connections/{world.connections[key]}"
    current = await world.client.get(path, headers=admin)
    assert current.status_code == 200, current.text
    changed = await world.client.patch(
        path,
        json={"settings": values},
        headers={**admin, "If-Match": current.headers["ETag"]},
    )
    assert changed.status_code == 200, changed.text


# ----- byte surgery --------------------------------------------------------------------------


def flip_digit(body: bytes, after: bytes) -> bytes:
    """``body`` with the lowest bit of the first ASCII digit after ``after`` flipped: still a
    digit, so the document stays well-formed and only the signature can tell."""
    start = body.index(after) + len(after)
    at = next(i for i in range(start, len(body)) if body[i : i + 1].isdigit())
    return body[:at] + bytes([body[at] ^ 0x01]) + body[at + 1 :]


def reserialised(body: bytes) -> bytes:
    """The same JSON document written out again (other bytes, same values)."""
    again = json.dumps(json.loads(body), indent=1).encode()
    assert again != body
    return again


def without(headers: Mapping[str, str], *names: str) -> dict[str, str]:
    """``headers`` without ``names`` (case-insensitive)."""
    drop = {name.lower() for name in names}
    return {k: v for k, v in headers.items() if k.lower() not in drop}


def _now_ms() -> int:
    return int(time.time() * 1000)


#: Far outside every scheme's tolerance for the future (HubSpot, SNS and Cloudinary: 5 min).
AHEAD = timedelta(minutes=30)


# ----- HubSpot: v3 HMAC over method + URL + body + timestamp; v1/v2 SHA-256, no timestamp -----


def _hubspot_delivery(
    world: Sandboxed,
    version: Version,
    *,
    sender: WebhookSender | None = None,
    occurred_ms: int | None = None,
    timestamp_ms: int | None = None,
    signed_url: str | None = None,
) -> Delivery:
    sim = world.simulator("hubspot")
    deal = sorted(sim.ids("deals"))[0]
    sender = sender or sim.webhooks
    event = sender.event(
        "deals",
        deal,
        property_name="dealstage",
        property_value="closedwon",
        occurred_ms=occurred_ms,
    )
    url = world.webhook_url("hubspot")
    headers, body, _ = sender.delivery(
        [event], version=version, url=signed_url or url, timestamp_ms=timestamp_ms
    )
    return Delivery(url, headers, body, (("deals", deal, "updated"),))


def _hubspot_sender(world: Sandboxed, **changes: Any) -> WebhookSender:
    sim = world.simulator("hubspot")
    values = {
        "client_secret": sim.client_secret,
        "app_id": sim.app_id,
        "portal_id": sim.portal_id,
        **changes,
    }
    return WebhookSender(**values)


def _hubspot_forgeries(version: Version) -> dict[str, Forgery]:
    signature = "X-HubSpot-Signature-v3" if version == "v3" else "X-HubSpot-Signature"

    def genuine(world: Sandboxed, **changes: Any) -> Delivery:
        return _hubspot_delivery(world, version, **changes)

    def otherwise(made: Make) -> Forgery:
        return made_otherwise(genuine, made)

    ahead_ms = int(AHEAD.total_seconds() * 1000)
    forgeries: dict[str, Forgery] = {
        "flipped_byte": body_changed(genuine, lambda b: flip_digit(b, b'"objectId":')),
        "wrong_secret": otherwise(
            lambda w: genuine(w, sender=_hubspot_sender(w, client_secret="not-the-client-secret"))
        ),
        "missing_signature": headers_changed(genuine, lambda h: without(h, signature)),
        "reserialised_json": body_changed(genuine, reserialised),
        "wrong_portal": otherwise(
            lambda w: genuine(
                w, sender=_hubspot_sender(w, portal_id=w.simulator("hubspot").portal_id + 1)
            )
        ),
    }
    if version == "v3":
        forgeries |= {
            "missing_timestamp": headers_changed(
                genuine, lambda h: without(h, "X-HubSpot-Request-Timestamp")
            ),
            "timestamp_too_old": otherwise(
                lambda w: genuine(w, timestamp_ms=_now_ms() - 3_600_000)
            ),
            "timestamp_in_future": otherwise(
                lambda w: genuine(w, timestamp_ms=_now_ms() + ahead_ms)
            ),
        }
    else:
        # No signed timestamp: the signed body's occurredAt bounds a replay instead.
        forgeries |= {
            "occurred_too_old": otherwise(
                lambda w: genuine(w, occurred_ms=_now_ms() - 7 * 3_600_000)
            ),
            "occurred_in_future": otherwise(lambda w: genuine(w, occurred_ms=_now_ms() + ahead_ms)),
        }
    if version != "v1":
        forgeries["signed_for_another_url"] = otherwise(
            lambda w: genuine(w, signed_url=w.webhook_url("hubspot", "/another-endpoint"))
        )
    return forgeries


def _hubspot_scheme(version: Version) -> Scheme:
    return Scheme(
        "hubspot",
        lambda world: _hubspot_delivery(world, version),
        _hubspot_forgeries(version),
        # The legacy schemes are opt-in: the connection accepts exactly the one under test.
        {} if version == "v3" else {"webhook_signature_versions": [version]},
    )


# ----- Salesforce outbound messages: unsigned; path secret and organisation id -------------


def outbound_secret(world: Sandboxed) -> str:
    """The path secret of the sandbox Salesforce connection."""
    return str(world.sandbox.connection_settings["salesforce"]["outbound_secret"])


def _salesforce_delivery(
    world: Sandboxed, *, secret: str | None = None, organization_id: str | None = None
) -> Delivery:
    sim = world.simulator("salesforce")
    ids = sorted(sim.org.live_ids("Opportunity"))[:2]
    segment = outbound_secret(world) if secret is None else secret
    url = world.webhook_url("salesforce", f"/{segment}" if segment else "")
    headers, body, _ = sim.outbound_message(ids, organization_id=organization_id, url=url)
    return Delivery(url, headers, body, tuple(("Opportunity", i, "updated") for i in ids))


def _flipped_last(text: str) -> str:
    return text[:-1] + chr(ord(text[-1]) ^ 0x01)


_SF = _salesforce_delivery
SALESFORCE_FORGERIES: dict[str, Forgery] = {
    "wrong_path_secret": made_otherwise(
        _SF, lambda w: _SF(w, secret="not-the-outbound-secret-0123456789")
    ),
    "flipped_byte_in_path_secret": made_otherwise(
        _SF, lambda w: _SF(w, secret=_flipped_last(outbound_secret(w)))
    ),
    "missing_path_secret": made_otherwise(_SF, lambda w: _SF(w, secret="")),
    "wrong_org_id": made_otherwise(_SF, lambda w: _SF(w, organization_id="00DHs0000000XyZMAU")),
    "flipped_byte_in_org_id": body_changed(_SF, lambda b: flip_digit(b, b"<OrganizationId>")),
    "wrong_content_type": headers_changed(_SF, lambda h: {**h, "Content-Type": "application/json"}),
    "malformed_xml": body_changed(_SF, lambda b: b[: len(b) // 2]),
}


# ----- Bynder: Amazon SNS, RSA over the canonical string of the envelope's values ----------

BYNDER_SUBJECT = "asset_bank.media.updated"


def _bynder_topic(world: Sandboxed, **changes: Any) -> SnsTopic:
    """The simulator's topic, or one like it with ``changes`` (another key or name)."""
    topic: SnsTopic = world.simulator("bynder").topic
    if not changes:
        return topic
    values = {
        "identity": topic.identity,
        "region": topic.region,
        "account": topic.account,
        "name": topic.name,
        "public_base_url": topic.public_base_url,
        "cert_id": topic.cert_id,
        **changes,
    }
    return SnsTopic(**values)


def _medium(world: Sandboxed) -> str:
    return str(sorted(world.simulator("bynder").portal.media)[0])


def _sns_notification(
    world: Sandboxed, *, topic: SnsTopic | None = None, timestamp: datetime | None = None
) -> Delivery:
    medium = _medium(world)
    headers, body = (topic or _bynder_topic(world)).notification(
        BYNDER_SUBJECT, medium, timestamp=timestamp
    )
    return Delivery(world.webhook_url("bynder"), headers, body, (("media", medium, "updated"),))


def _sns_subscription(
    world: Sandboxed, *, topic: SnsTopic | None = None, timestamp: datetime | None = None
) -> Delivery:
    headers, body = (topic or _bynder_topic(world)).subscription_confirmation(timestamp=timestamp)
    return Delivery(world.webhook_url("bynder"), headers, body)


def sns_envelope(body: bytes, **changes: Any) -> bytes:
    """An SNS body with ``changes`` (None deletes a key), written the way SNS writes it."""
    envelope = {**json.loads(body), **changes}
    kept = {k: v for k, v in envelope.items() if v is not None}
    return json.dumps(kept, indent=2, separators=(",", " : ")).encode()


def _sns_forgeries(make: Callable[..., Delivery]) -> dict[str, Forgery]:
    return {
        "wrong_secret": made_otherwise(
            make, lambda w: make(w, topic=_bynder_topic(w, identity=SigningIdentity.generate()))
        ),
        "missing_signature": body_changed(make, lambda b: sns_envelope(b, Signature=None)),
        "missing_message_type_header": headers_changed(
            make, lambda h: without(h, "x-amz-sns-message-type")
        ),
        "timestamp_too_old": made_otherwise(
            make, lambda w: make(w, timestamp=datetime.now(UTC) - timedelta(hours=2))
        ),
        "timestamp_in_future": made_otherwise(
            make, lambda w: make(w, timestamp=datetime.now(UTC) + AHEAD)
        ),
        "wrong_topic": made_otherwise(
            make, lambda w: make(w, topic=_bynder_topic(w, name="another-topic"))
        ),
    }


def _compact_message(body: bytes) -> bytes:
    message = json.loads(body)["Message"]
    return sns_envelope(body, Message=json.dumps(json.loads(message), separators=(",", ":")))


SNS_NOTIFICATION_FORGERIES: dict[str, Forgery] = {
    **_sns_forgeries(_sns_notification),
    "flipped_byte": body_changed(_sns_notification, lambda b: flip_digit(b, b'"MessageId"')),
    # SNS signs values: re-indenting the envelope is no forgery (see the test of it), but
    # re-serialising the JSON document inside ``Message`` changes a signed value.
    "reserialised_message_json": body_changed(_sns_notification, _compact_message),
}


def _other_subscribe_url(body: bytes) -> bytes:
    url = json.loads(body)["SubscribeURL"]
    return sns_envelope(body, SubscribeURL=url.replace("Token=", "Token=0"))


SNS_SUBSCRIPTION_FORGERIES: dict[str, Forgery] = {
    **_sns_forgeries(_sns_subscription),
    "other_subscribe_url": body_changed(_sns_subscription, _other_subscribe_url),
}


# ----- Cloudinary: SHA-1/256 of body + X-Cld-Timestamp + API secret ------------------------


def _cloudinary_delivery(world: Sandboxed, *, timestamp: int | None = None) -> Delivery:
    sim = world.simulator("cloudinary")
    resource = next(r for r in sim.store.by_asset_id.values() if r.resource_type == "image")
    headers, body = sim.notification(
        "resource_tags_changed", resource.public_id, timestamp=timestamp
    )
    url = world.webhook_url("cloudinary")
    return Delivery(url, headers, body, (("resources", resource.asset_id, "updated"),))


def cloudinary_signed(world: Sandboxed, body: bytes, stamp: str, secret: str) -> dict[str, str]:
    algorithm = world.simulator("cloudinary").options.signature_algorithm
    return {
        "Content-Type": "application/json",
        "X-Cld-Timestamp": stamp,
        "X-Cld-Signature": notification_signature(body, stamp, secret, algorithm),
    }


def _cloudinary_wrong_secret(world: Sandboxed, genuine: Delivery) -> Delivery:
    stamp = genuine.headers["X-Cld-Timestamp"]
    headers = cloudinary_signed(world, genuine.body, stamp, "not-the-api-secret")
    return replace(genuine, headers=headers)


def _cloudinary_other_key(world: Sandboxed, genuine: Delivery) -> Delivery:
    # Signed with the right secret, but for another API key of the account.
    body = json.dumps({**json.loads(genuine.body), "signature_key": "999999999999999"}).encode()
    secret = world.simulator("cloudinary").options.api_secret
    return replace(
        genuine,
        body=body,
        headers=cloudinary_signed(world, body, genuine.headers["X-Cld-Timestamp"], secret),
    )


def _cloudinary_shifted_stamp(headers: dict[str, str]) -> dict[str, str]:
    return {**headers, "X-Cld-Timestamp": str(int(headers["X-Cld-Timestamp"]) - 60)}


_CL = _cloudinary_delivery
CLOUDINARY_FORGERIES: dict[str, Forgery] = {
    "flipped_byte": body_changed(_CL, lambda b: flip_digit(b, b'"asset_id":')),
    "wrong_secret": derived(_CL, _cloudinary_wrong_secret),
    "missing_signature": headers_changed(_CL, lambda h: without(h, "X-Cld-Signature")),
    "missing_timestamp": headers_changed(_CL, lambda h: without(h, "X-Cld-Timestamp")),
    "timestamp_too_old": made_otherwise(
        _CL, lambda w: _CL(w, timestamp=int(time.time()) - 3 * 3600)
    ),
    "timestamp_in_future": made_otherwise(
        _CL, lambda w: _CL(w, timestamp=int(time.time() + AHEAD.total_seconds()))
    ),
    "unsigned_timestamp_change": headers_changed(_CL, _cloudinary_shifted_stamp),
    "reserialised_json": body_changed(_CL, reserialised),
    "another_api_key": derived(_CL, _cloudinary_other_key),
}


# ----- the matrix ----------------------------------------------------------------------------

SCHEMES: dict[str, Scheme] = {
    "hubspot-v1": _hubspot_scheme("v1"),
    "hubspot-v2": _hubspot_scheme("v2"),
    "hubspot-v3": _hubspot_scheme("v3"),
    "salesforce-outbound": Scheme("salesforce", _salesforce_delivery, SALESFORCE_FORGERIES),
    "bynder-sns-notification": Scheme("bynder", _sns_notification, SNS_NOTIFICATION_FORGERIES),
    "bynder-sns-subscription": Scheme("bynder", _sns_subscription, SNS_SUBSCRIPTION_FORGERIES),
    "cloudinary": Scheme("cloudinary", _cloudinary_delivery, CLOUDINARY_FORGERIES),
}


__all__ = [
    "AHEAD",
    "SCHEMES",
    "Case",
    "Delivery",
    "Expected",
    "Scheme",
    "Stored",
    "configure",
    "flip_digit",
    "outbound_secret",
    "post",
    "rejected",
    "reserialised",
    "sns_envelope",
    "stored",
    "without",
]
