"""Verify Amazon SNS HTTP deliveries, the transport of Bynder's classic webhooks.

SNS signs the *values* of a delivery, not its bytes: the canonical string is ``Key\\nValue\\n``
for a fixed list of keys in a fixed order (``Subject`` only when present), signed with
SHA1withRSA (``SignatureVersion`` 1) or SHA256withRSA (2) by the key of the X.509 certificate
at ``SigningCertURL``. That URL must be HTTPS on an ``sns.<region>.amazonaws.com`` host with a
``/SimpleNotificationService-<id>.pem`` path, or a forger could point us at their own cert.

Checks run cheapest first and fail closed, each with its own reason in ``InvalidWebhook``:
size, JSON shape (duplicate keys refused), type, topic allow-list, signature version,
timestamp window, certificate URL, then the RSA signature itself.
Sources: https://docs.aws.amazon.com/sns/latest/dg/sns-verify-signature-of-message.html
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import re2
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from syncbridge.connector.errors import InvalidWebhook

NOTIFICATION = "Notification"
SUBSCRIPTION_CONFIRMATION = "SubscriptionConfirmation"
UNSUBSCRIBE_CONFIRMATION = "UnsubscribeConfirmation"
MESSAGE_TYPES = frozenset({NOTIFICATION, SUBSCRIPTION_CONFIRMATION, UNSUBSCRIBE_CONFIRMATION})

#: The keys signed, in signing order, per message type (AWS "verify signature" page).
NOTIFICATION_KEYS = ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type")
CONFIRMATION_KEYS = (
    "Message",
    "MessageId",
    "SubscribeURL",
    "Timestamp",
    "Token",
    "TopicArn",
    "Type",
)
HASHES: Mapping[str, Callable[[], hashes.HashAlgorithm]] = {
    "1": hashes.SHA1,
    "2": hashes.SHA256,
}

#: The hosts SNS serves signing certificates (and SubscribeURLs) from, matched in full.
DEFAULT_CERT_HOSTS = (r"sns\.[a-z0-9-]+\.amazonaws\.com(\.cn)?",)
CERT_PATH = re.compile(r"/SimpleNotificationService-[A-Za-z0-9_-]+\.pem")
#: SNS messages are at most 256 KiB; the envelope adds little. Anything larger is not SNS.
MAX_ENVELOPE_BYTES = 512 * 1024
MAX_CERT_BYTES = 16 * 1024

CertFetcher = Callable[[str], Awaitable[bytes]]


def _reject_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    for key, value in pairs:
        if key in seen:
            # Two values for one key: the signer and we could read different ones.
            raise InvalidWebhook(f"SNS envelope repeats the key {key!r}")
        seen[key] = value
    return seen


def parse_envelope(raw_body: bytes, *, max_bytes: int = MAX_ENVELOPE_BYTES) -> dict[str, Any]:
    """The SNS JSON envelope of a delivery; raises InvalidWebhook when it is not one."""
    if len(raw_body) > max_bytes:
        raise InvalidWebhook("SNS delivery is larger than any SNS message")
    try:
        envelope = json.loads(raw_body, object_pairs_hook=_reject_duplicates)
    except RecursionError as exc:
        raise InvalidWebhook("SNS delivery nests deeper than any SNS message") from exc
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidWebhook("SNS delivery is not JSON") from exc
    if not isinstance(envelope, dict):
        raise InvalidWebhook("SNS delivery is not a JSON object")
    return envelope


def signed_keys(message_type: str) -> tuple[str, ...]:
    """The keys whose values SNS signs for ``message_type``."""
    return NOTIFICATION_KEYS if message_type == NOTIFICATION else CONFIRMATION_KEYS


def canonical_string(envelope: Mapping[str, Any]) -> bytes:
    """The bytes SNS signs: ``Key\\nValue\\n`` per signed key present, in signing order."""
    message_type = _text(envelope, "Type")
    out: list[str] = []
    for key in signed_keys(message_type):
        if key == "Subject" and key not in envelope:
            continue
        out.append(f"{key}\n{_text(envelope, key)}\n")
    return "".join(out).encode("utf-8")


def _text(envelope: Mapping[str, Any], key: str) -> str:
    value = envelope.get(key)
    if not isinstance(value, str):
        raise InvalidWebhook(f"SNS envelope has no string {key}")
    return value


def check_sns_url(url: str, *, hosts: Sequence[str], what: str, cert: bool) -> None:
    """Refuse a certificate or subscribe URL that is not HTTPS on an allowed SNS host."""
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError) as exc:
        raise InvalidWebhook(f"{what} is not a URL") from exc
    if parsed.scheme != "https" or parsed.userinfo or parsed.port not in (None, 443):
        raise InvalidWebhook(f"{what} is not plain HTTPS")
    # RE2: admin-supplied patterns run here on unauthenticated input, in linear time.
    if not any(re2.fullmatch(pattern, parsed.host) for pattern in hosts):
        raise InvalidWebhook(f"{what} is not on an SNS host")
    if cert and (not CERT_PATH.fullmatch(parsed.path) or parsed.query or parsed.fragment):
        raise InvalidWebhook(f"{what} is not an SNS certificate path")


@dataclass(frozen=True)
class SigningKey:
    """An SNS certificate's RSA key with the certificate's validity period."""

    key: rsa.RSAPublicKey
    not_valid_before: datetime
    not_valid_after: datetime

    def valid_at(self, now: datetime) -> bool:
        """Whether the certificate is valid at ``now``."""
        return self.not_valid_before <= now <= self.not_valid_after


def load_signing_key(pem: bytes, *, now: datetime) -> SigningKey:
    """The RSA key of a PEM certificate valid at ``now``, with its validity; InvalidWebhook."""
    try:
        cert = x509.load_pem_x509_certificate(pem)
    except ValueError as exc:
        raise InvalidWebhook("SNS signing certificate is not a PEM certificate") from exc
    key = cert.public_key()
    if not isinstance(key, rsa.RSAPublicKey):
        raise InvalidWebhook("SNS signing certificate does not hold an RSA key")
    signing = SigningKey(key, cert.not_valid_before_utc, cert.not_valid_after_utc)
    if not signing.valid_at(now):
        raise InvalidWebhook("SNS signing certificate is not valid now")
    return signing


def load_certificate(pem: bytes, *, now: datetime) -> rsa.RSAPublicKey:
    """The RSA public key of a PEM certificate valid at ``now``; raises InvalidWebhook."""
    return load_signing_key(pem, now=now).key


def verify_signature(envelope: Mapping[str, Any], key: rsa.RSAPublicKey) -> None:
    """Check ``Signature`` over the canonical string with ``key``; raises InvalidWebhook."""
    version = _text(envelope, "SignatureVersion")
    if version not in HASHES:
        raise InvalidWebhook("unknown SNS SignatureVersion")
    try:
        signature = base64.b64decode(_text(envelope, "Signature"), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InvalidWebhook("SNS Signature is not base64") from exc
    try:
        key.verify(signature, canonical_string(envelope), padding.PKCS1v15(), HASHES[version]())
    except InvalidSignature as exc:
        raise InvalidWebhook("SNS signature does not match") from exc


def parse_timestamp(value: str) -> datetime:
    """An SNS ``Timestamp`` (ISO 8601, ``Z``) as an aware datetime; raises InvalidWebhook."""
    try:
        at = datetime.fromisoformat(value)
    except ValueError as exc:
        raise InvalidWebhook("SNS Timestamp is not ISO 8601") from exc
    if at.tzinfo is None:
        raise InvalidWebhook("SNS Timestamp has no time zone")
    return at.astimezone(UTC)


@dataclass(frozen=True)
class SnsPolicy:
    """What a connection accepts: its topics, certificate source and timestamp window."""

    topic_arns: Collection[str]
    cert_hosts: Sequence[str] = DEFAULT_CERT_HOSTS
    pinned_cert_pem: str | None = None
    max_age: timedelta = timedelta(hours=1)
    #: How far in the future a Timestamp may be (clock skew) before it is refused.
    max_skew: timedelta = timedelta(minutes=5)


class SnsVerifier:
    """Verifies SNS deliveries under an ``SnsPolicy``; caches certificates by URL until expiry."""

    def __init__(
        self,
        policy: SnsPolicy,
        fetch_cert: CertFetcher,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.policy = policy
        self._fetch_cert = fetch_cert
        self._clock = clock
        self._keys: dict[str, SigningKey] = {}

    async def verify(self, headers: Mapping[str, str], raw_body: bytes) -> dict[str, Any]:
        """The verified envelope of a delivery; raises InvalidWebhook with the reason."""
        envelope = parse_envelope(raw_body)
        message_type = _text(envelope, "Type")
        if message_type not in MESSAGE_TYPES:
            raise InvalidWebhook("not an SNS message type")
        lowered = {k.lower(): v for k, v in headers.items()}
        if lowered.get("x-amz-sns-message-type") != message_type:
            raise InvalidWebhook("x-amz-sns-message-type header missing or not the body's Type")
        topic = _text(envelope, "TopicArn")
        if topic not in self.policy.topic_arns:
            raise InvalidWebhook("SNS TopicArn is not an allowed topic")
        if lowered.get("x-amz-sns-topic-arn", topic) != topic:
            raise InvalidWebhook("x-amz-sns-topic-arn header is not the body's TopicArn")
        if envelope.get("SignatureVersion") not in HASHES:
            raise InvalidWebhook("unknown SNS SignatureVersion")
        self._check_fresh(parse_timestamp(_text(envelope, "Timestamp")))
        _text(envelope, "Signature")
        verify_signature(envelope, await self._signing_key(_text(envelope, "SigningCertURL")))
        return envelope

    def _check_fresh(self, at: datetime) -> None:
        now = self._clock()
        if at < now - self.policy.max_age:
            raise InvalidWebhook("SNS Timestamp is too old")
        if at > now + self.policy.max_skew:
            raise InvalidWebhook("SNS Timestamp is in the future")

    async def _signing_key(self, url: str) -> rsa.RSAPublicKey:
        if self.policy.pinned_cert_pem is not None:
            # Loaded on every delivery so an expired pinned certificate is noticed.
            return load_certificate(self.policy.pinned_cert_pem.encode(), now=self._clock())
        check_sns_url(url, hosts=self.policy.cert_hosts, what="SigningCertURL", cert=True)
        now = self._clock()
        cached = self._keys.get(url)
        if cached is not None and cached.valid_at(now):
            return cached.key
        # Not cached, or its certificate has expired since: fetch again (and refuse it if
        # the certificate served there is still out of date).
        self._keys.pop(url, None)
        pem = await self._fetch_cert(url)
        if len(pem) > MAX_CERT_BYTES:
            raise InvalidWebhook("SNS signing certificate is too large")
        signing = load_signing_key(pem, now=now)
        if len(self._keys) >= 64:
            self._keys.clear()
        self._keys[url] = signing
        return signing.key


__all__ = [
    "CONFIRMATION_KEYS",
    "DEFAULT_CERT_HOSTS",
    "NOTIFICATION",
    "NOTIFICATION_KEYS",
    "SUBSCRIPTION_CONFIRMATION",
    "UNSUBSCRIBE_CONFIRMATION",
    "CertFetcher",
    "SigningKey",
    "SnsPolicy",
    "SnsVerifier",
    "canonical_string",
    "check_sns_url",
    "load_certificate",
    "load_signing_key",
    "parse_envelope",
    "parse_timestamp",
    "verify_signature",
]
