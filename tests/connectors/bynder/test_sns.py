"""SNS signature verification: frozen golden deliveries and the R3 refusal matrix."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID
from syncbridge_bynder import BynderConnector
from syncbridge_bynder.sim_sns import SigningIdentity, SnsTopic
from syncbridge_bynder.simulator import BynderSimulator
from syncbridge_bynder.sns import SnsPolicy, SnsVerifier, canonical_string

from syncbridge.connector.errors import InvalidWebhook

from .support import client_for, connector_for, identity, make_simulator, other_identity

GOLDEN = json.loads((Path(__file__).parent / "fixtures" / "sns_golden.json").read_text())
VERIFY_AT = datetime.fromisoformat(GOLDEN["verify_at"])


def golden(name: str) -> tuple[dict[str, str], bytes]:
    delivery = GOLDEN["deliveries"][name]
    return dict(delivery["headers"]), delivery["body"].encode()


def golden_verifier(at: datetime = VERIFY_AT, **policy: Any) -> SnsVerifier:
    async def fetch(_url: str) -> bytes:
        return str(GOLDEN["cert_pem"]).encode()

    values: dict[str, Any] = {"topic_arns": {GOLDEN["topic_arn"]}, **policy}
    return SnsVerifier(SnsPolicy(**values), fetch, clock=lambda: at)


def reserialise(body: bytes, **changes: Any) -> bytes:
    return json.dumps({**json.loads(body), **changes}).encode()


# ----- golden vectors ----------------------------------------------------------------------


def test_canonical_string_is_the_aws_form_for_a_notification() -> None:
    envelope = json.loads(golden("notification_v1")[1])
    expected = (
        'Message\n{"media_id": "9542A933-7D2B-4C71-8F6E3C0D1B2A4E59"}\n'
        f"MessageId\n{envelope['MessageId']}\n"
        "Subject\nasset_bank.media.updated\n"
        "Timestamp\n2026-11-27T10:00:00.123Z\n"
        "TopicArn\narn:aws:sns:eu-west-1:123456789012:bynder-asset-bank\n"
        "Type\nNotification\n"
    )
    assert canonical_string(envelope) == expected.encode()


def test_canonical_string_leaves_out_an_absent_subject() -> None:
    envelope = json.loads(golden("notification_v1")[1])
    del envelope["Subject"]
    assert b"Subject\n" not in canonical_string(envelope)


def test_canonical_string_of_a_subscription_confirmation_signs_url_and_token() -> None:
    e = json.loads(golden("subscription_confirmation_v1")[1])
    expected = "".join(
        f"{key}\n{e[key]}\n"
        for key in ("Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn")
    )
    assert canonical_string(e) == (expected + "Type\nSubscriptionConfirmation\n").encode()
    assert e["SubscribeURL"].startswith("https://sns.eu-west-1.amazonaws.com/?Action=Confirm")


@pytest.mark.parametrize(
    ("name", "digest"),
    [("notification_v1", hashes.SHA1()), ("notification_v2", hashes.SHA256())],
)
def test_frozen_signature_is_rsa_pkcs1_over_the_canonical_string(
    name: str, digest: hashes.HashAlgorithm
) -> None:
    # Checked with cryptography directly, not through our verifier.
    envelope = json.loads(golden(name)[1])
    key = x509.load_pem_x509_certificate(GOLDEN["cert_pem"].encode()).public_key()
    assert isinstance(key, rsa.RSAPublicKey)
    signature = base64.b64decode(envelope["Signature"])
    key.verify(signature, canonical_string(envelope), padding.PKCS1v15(), digest)


@pytest.mark.parametrize(
    "name", ["notification_v1", "notification_v2", "subscription_confirmation_v1"]
)
async def test_frozen_deliveries_verify(name: str) -> None:
    headers, body = golden(name)
    envelope = await golden_verifier().verify(headers, body)
    assert envelope["TopicArn"] == GOLDEN["topic_arn"]


async def test_frozen_delivery_verifies_with_the_pinned_certificate() -> None:
    headers, body = golden("notification_v2")
    verifier = golden_verifier(pinned_cert_pem=GOLDEN["cert_pem"])
    assert (await verifier.verify(headers, body))["Type"] == "Notification"


async def test_frozen_delivery_is_stale_an_hour_later() -> None:
    headers, body = golden("notification_v1")
    late = golden_verifier(VERIFY_AT + timedelta(hours=1))
    with pytest.raises(InvalidWebhook, match="too old"):
        await late.verify(headers, body)


def short_lived(start: datetime, lifetime: timedelta) -> SigningIdentity:
    """The session's signing key under a certificate valid only from ``start`` for ``lifetime``."""
    key = identity().key
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sns.amazonaws.com")])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + lifetime)
        .sign(key, hashes.SHA256())
    )
    return SigningIdentity(key, cert.public_bytes(serialization.Encoding.PEM).decode())


async def test_cached_certificate_is_not_trusted_after_it_expires() -> None:
    start = datetime(2030, 1, 1, tzinfo=UTC)
    topic = SnsTopic(short_lived(start, timedelta(hours=1)))
    fetched: list[str] = []

    async def fetch(url: str) -> bytes:
        fetched.append(url)
        return topic.identity.cert_pem.encode()

    now = start + timedelta(minutes=10)
    verifier = SnsVerifier(SnsPolicy(topic_arns={topic.arn}), fetch, clock=lambda: now)
    assert await verifier.verify(
        *topic.notification("asset_bank.media.updated", "m1", timestamp=now)
    )
    now = start + timedelta(hours=2)
    # Freshly signed at the new time, so only the certificate's expiry can refuse it.
    late = topic.notification("asset_bank.media.updated", "m1", timestamp=now)
    with pytest.raises(InvalidWebhook, match="not valid now"):
        await verifier.verify(*late)
    assert len(fetched) == 2


# ----- the R3 matrix through the connector -------------------------------------------------


@pytest.fixture
def sim() -> BynderSimulator:
    return make_simulator(assets=5)


@pytest.fixture
async def client(sim: BynderSimulator) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(sim) as c:
        yield c


@pytest.fixture
def pinned(sim: BynderSimulator, client: httpx.AsyncClient) -> BynderConnector:
    return connector_for(sim, client)


@pytest.fixture
def fetching(sim: BynderSimulator, client: httpx.AsyncClient) -> BynderConnector:
    """A connector that fetches SigningCertURL (in-process it lands on the simulator)."""
    return connector_for(sim, client, sns_pinned_cert_pem=None)


def media_id(sim: BynderSimulator) -> str:
    return sorted(sim.portal.media)[0]


@pytest.mark.parametrize("version", ["1", "2"])
async def test_valid_notification_is_accepted_with_a_fetched_certificate(
    sim: BynderSimulator, fetching: BynderConnector, version: str
) -> None:
    headers, body = sim.notification(
        "asset_bank.media.updated", media_id(sim), signature_version=version
    )
    (event,) = await fetching.parse_webhook(headers, body)
    assert event.external_id == media_id(sim)
    assert sim.cert_downloads == 1


async def test_certificate_is_fetched_once_per_url(
    sim: BynderSimulator, fetching: BynderConnector
) -> None:
    for _ in range(3):
        await fetching.parse_webhook(*sim.notification("asset_bank.media.updated", media_id(sim)))
    assert sim.cert_downloads == 1


@pytest.mark.parametrize(
    "field", ["Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Signature"]
)
async def test_flipped_byte_in_a_signed_field_is_refused(
    sim: BynderSimulator, pinned: BynderConnector, field: str
) -> None:
    headers, body = sim.notification("asset_bank.media.updated", media_id(sim))
    envelope = json.loads(body)
    value = envelope[field]
    i = len(value) // 2
    envelope[field] = value[:i] + chr(ord(value[i]) ^ 0x01) + value[i + 1 :]
    if field == "TopicArn":
        headers["x-amz-sns-topic-arn"] = envelope[field]
    with pytest.raises(InvalidWebhook):
        await pinned.parse_webhook(headers, json.dumps(envelope).encode())


async def test_signature_by_another_key_is_refused(
    sim: BynderSimulator, pinned: BynderConnector
) -> None:
    forger = make_simulator(assets=5, identity=other_identity())
    headers, body = forger.notification("asset_bank.media.updated", media_id(sim))
    with pytest.raises(InvalidWebhook, match="signature does not match"):
        await pinned.parse_webhook(headers, body)


async def test_pinned_certificate_of_another_key_refuses_genuine_deliveries(
    sim: BynderSimulator, client: httpx.AsyncClient
) -> None:
    wrong = connector_for(sim, client, sns_pinned_cert_pem=other_identity().cert_pem)
    with pytest.raises(InvalidWebhook, match="signature does not match"):
        await wrong.parse_webhook(*sim.notification("asset_bank.media.updated", media_id(sim)))


async def test_missing_signature_is_refused(sim: BynderSimulator, pinned: BynderConnector) -> None:
    headers, body = sim.notification("asset_bank.media.updated", media_id(sim))
    envelope = json.loads(body)
    del envelope["Signature"]
    with pytest.raises(InvalidWebhook, match="Signature"):
        await pinned.parse_webhook(headers, json.dumps(envelope).encode())


@pytest.mark.parametrize("header", ["missing", "SubscriptionConfirmation"])
async def test_message_type_header_must_match_the_body(
    sim: BynderSimulator, pinned: BynderConnector, header: str
) -> None:
    headers, body = sim.notification("asset_bank.media.updated", media_id(sim))
    if header == "missing":
        del headers["x-amz-sns-message-type"]
    else:
        headers["x-amz-sns-message-type"] = header
    with pytest.raises(InvalidWebhook, match="message-type"):
        await pinned.parse_webhook(headers, body)


async def test_topic_outside_the_allow_list_is_refused(
    sim: BynderSimulator, client: httpx.AsyncClient
) -> None:
    other = connector_for(sim, client, sns_topic_arns=["arn:aws:sns:eu-west-1:123456789012:other"])
    with pytest.raises(InvalidWebhook, match="TopicArn"):
        await other.parse_webhook(*sim.notification("asset_bank.media.updated", media_id(sim)))


async def test_empty_topic_allow_list_refuses_everything(
    sim: BynderSimulator, client: httpx.AsyncClient
) -> None:
    closed = connector_for(sim, client, sns_topic_arns=[])
    with pytest.raises(InvalidWebhook, match="TopicArn"):
        await closed.parse_webhook(*sim.notification("asset_bank.media.updated", media_id(sim)))


@pytest.mark.parametrize("version", ["3", "0", ""])
async def test_unknown_signature_version_is_refused(
    sim: BynderSimulator, pinned: BynderConnector, version: str
) -> None:
    headers, body = sim.notification(
        "asset_bank.media.updated", media_id(sim), signature_version=version
    )
    with pytest.raises(InvalidWebhook, match="SignatureVersion"):
        await pinned.parse_webhook(headers, body)


@pytest.mark.parametrize(
    "url",
    [
        "https://evil.example.com/SimpleNotificationService-abc.pem",
        "https://sns.eu-west-1.amazonaws.com.evil.example/SimpleNotificationService-abc.pem",
        "https://evil.example/sns.eu-west-1.amazonaws.com/SimpleNotificationService-abc.pem",
        "http://sns.eu-west-1.amazonaws.com/SimpleNotificationService-abc.pem",
        "https://sns.eu-west-1.amazonaws.com:8443/SimpleNotificationService-abc.pem",
        "https://user@sns.eu-west-1.amazonaws.com/SimpleNotificationService-abc.pem",
        "https://sns.eu-west-1.amazonaws.com/cert.pem",
        "https://sns.eu-west-1.amazonaws.com/SimpleNotificationService-abc.pem?x=1",
        "https://127.0.0.1/SimpleNotificationService-abc.pem",
    ],
)
async def test_certificate_url_off_an_sns_host_is_refused_without_fetching(
    sim: BynderSimulator, fetching: BynderConnector, url: str
) -> None:
    # SigningCertURL is not signed: a forger swaps it freely, so only its host protects us.
    headers, body = sim.notification("asset_bank.media.updated", media_id(sim))
    with pytest.raises(InvalidWebhook, match="SigningCertURL"):
        await fetching.parse_webhook(headers, reserialise(body, SigningCertURL=url))
    assert sim.cert_downloads == 0


@pytest.mark.parametrize(
    ("shift", "accepted"),
    [
        (timedelta(hours=-2), False),
        (timedelta(minutes=-61), False),
        (timedelta(minutes=-59), True),
        (timedelta(minutes=4), True),
        (timedelta(minutes=10), False),
    ],
)
async def test_timestamp_window_both_ways(
    sim: BynderSimulator, pinned: BynderConnector, shift: timedelta, accepted: bool
) -> None:
    at = datetime.now(UTC) + shift
    headers, body = sim.topic.notification("asset_bank.media.updated", media_id(sim), timestamp=at)
    if accepted:
        assert await pinned.parse_webhook(headers, body)
    else:
        with pytest.raises(InvalidWebhook, match="Timestamp"):
            await pinned.parse_webhook(headers, body)


async def test_reserialised_message_is_refused(
    sim: BynderSimulator, pinned: BynderConnector
) -> None:
    headers, body = sim.notification("asset_bank.media.updated", media_id(sim))
    compact = json.dumps(json.loads(json.loads(body)["Message"]), separators=(",", ":"))
    with pytest.raises(InvalidWebhook, match="signature does not match"):
        await pinned.parse_webhook(headers, reserialise(body, Message=compact))


async def test_reserialised_envelope_with_the_same_values_still_verifies(
    sim: BynderSimulator, pinned: BynderConnector
) -> None:
    # SNS signs values, not bytes: re-indenting the envelope is not tampering. Replays of
    # the same MessageId are stopped by the inbox key (and old ones by the Timestamp).
    headers, body = sim.notification("asset_bank.media.updated", media_id(sim))
    (event,) = await pinned.parse_webhook(headers, reserialise(body))
    assert event.delivery_key == json.loads(body)["MessageId"]


@pytest.mark.parametrize(
    "raw",
    [
        b"not json",
        b"[1, 2]",
        b'{"Type": "Notification", "Type": "SubscriptionConfirmation"}',
        b'{"Type": "Spam"}',
        b" " * (600 * 1024),
    ],
    ids=["not-json", "array", "duplicate-keys", "unknown-type", "oversized"],
)
async def test_bodies_that_are_not_sns_envelopes_are_refused(
    pinned: BynderConnector, raw: bytes
) -> None:
    with pytest.raises(InvalidWebhook):
        await pinned.parse_webhook({"x-amz-sns-message-type": "Notification"}, raw)


async def test_a_body_nested_beyond_recursion_is_refused_not_a_crash(
    sim: BynderSimulator, pinned: BynderConnector
) -> None:
    headers, _body = sim.notification("asset_bank.media.updated", media_id(sim))
    with pytest.raises(InvalidWebhook, match="nests deeper"):
        await pinned.parse_webhook(headers, b"[" * 100_000)


def test_certificate_host_patterns_run_on_re2() -> None:
    from syncbridge_bynder.settings import BynderSettings

    # A backreference is fine for Python's re, which can take exponential time on
    # unauthenticated input; RE2 cannot run it, so the settings refuse it.
    with pytest.raises(ValueError, match="RE2"):
        BynderSettings.model_validate(
            {
                "base_url": "https://dam.example.com",
                "permanent_token": "tok",
                "sns_allow_cert_hosts": [r"(sns)\.\1\.amazonaws\.com"],
            }
        )
