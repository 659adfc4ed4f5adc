"""The simulator's Amazon SNS side: a test signing identity and signed HTTP deliveries.

It signs exactly as SNS does (see ``sns.py`` for the verifier, which is written separately on
purpose so one cannot hide a mistake in the other): the canonical string of the signed keys
as ``Key\\nValue\\n``, SHA1withRSA for ``SignatureVersion`` 1 and SHA256withRSA for 2, base64.
The envelope is serialised the way SNS sends it (two-space indent, ``" : "`` separators) with
``Content-Type: text/plain; charset=UTF-8`` and the ``x-amz-sns-*`` headers.
"""

from __future__ import annotations

import base64
import json
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

Delivery = tuple[dict[str, str], bytes]

_SIGNED = {
    "Notification": ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"),
    "SubscriptionConfirmation": (
        "Message",
        "MessageId",
        "SubscribeURL",
        "Timestamp",
        "Token",
        "TopicArn",
        "Type",
    ),
}


@dataclass(frozen=True)
class SigningIdentity:
    """An RSA key and its self-signed certificate, standing in for SNS's signing cert."""

    key: rsa.RSAPrivateKey
    cert_pem: str

    @classmethod
    def generate(cls, common_name: str = "sns.amazonaws.com") -> SigningIdentity:
        """A fresh 2048-bit key with a one-year self-signed certificate."""
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
        now = datetime.now(UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(days=1))
            .not_valid_after(now + timedelta(days=365))
            .sign(key, hashes.SHA256())
        )
        return cls(key, cert.public_bytes(serialization.Encoding.PEM).decode())

    def sign(self, envelope: dict[str, str]) -> str:
        """The base64 SNS signature of ``envelope`` for its ``SignatureVersion``."""
        lines = []
        for key in _SIGNED[envelope["Type"]]:
            if key in envelope:
                lines.append(f"{key}\n{envelope[key]}\n")
        digest = hashes.SHA1() if envelope["SignatureVersion"] == "1" else hashes.SHA256()
        raw = self.key.sign("".join(lines).encode(), padding.PKCS1v15(), digest)
        return base64.b64encode(raw).decode()


@dataclass
class SnsTopic:
    """One SNS topic Bynder publishes to, with the HTTP subscription syncbridge confirms."""

    identity: SigningIdentity
    region: str = "eu-west-1"
    account: str = "123456789012"
    name: str = "bynder-asset-bank"
    #: Base of the SigningCertURL and SubscribeURL; None: the real ``sns.<region>`` host.
    public_base_url: str | None = None
    cert_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    subscription_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    tokens: set[str] = field(default_factory=set)
    confirmed: list[str] = field(default_factory=list)

    @property
    def arn(self) -> str:
        return f"arn:aws:sns:{self.region}:{self.account}:{self.name}"

    @property
    def base_url(self) -> str:
        return (self.public_base_url or f"https://sns.{self.region}.amazonaws.com").rstrip("/")

    @property
    def cert_path(self) -> str:
        return f"/SimpleNotificationService-{self.cert_id}.pem"

    def notification(
        self,
        subject: str,
        media_id: str,
        *,
        signature_version: str = "1",
        timestamp: datetime | None = None,
    ) -> Delivery:
        """A signed ``Notification`` delivery about one media item (headers, raw body)."""
        envelope = {
            "Type": "Notification",
            "MessageId": str(uuid.uuid4()),
            "TopicArn": self.arn,
            "Subject": subject,
            "Message": json.dumps({"media_id": media_id}),
            "Timestamp": _sns_time(timestamp),
            "SignatureVersion": signature_version,
        }
        subscription = f"{self.arn}:{self.subscription_id}"
        tail = {
            "SigningCertURL": self.base_url + self.cert_path,
            # SNS writes the ARN into these URLs without percent-encoding.
            "UnsubscribeURL": f"{self.base_url}/?Action=Unsubscribe&SubscriptionArn={subscription}",
        }
        return self._deliver(envelope, tail, {"x-amz-sns-subscription-arn": subscription})

    def subscription_confirmation(
        self, *, signature_version: str = "1", timestamp: datetime | None = None
    ) -> Delivery:
        """A signed ``SubscriptionConfirmation`` whose SubscribeURL this simulator serves."""
        token = uuid.uuid4().hex * 2
        self.tokens.add(token)
        query = f"Action=ConfirmSubscription&TopicArn={self.arn}&Token={token}"
        envelope = {
            "Type": "SubscriptionConfirmation",
            "MessageId": str(uuid.uuid4()),
            "Token": token,
            "TopicArn": self.arn,
            "Message": (
                f"You have chosen to subscribe to the topic {self.arn}.\n"
                "To confirm the subscription, visit the SubscribeURL included in this message."
            ),
            "SubscribeURL": f"{self.base_url}/?{query}",
            "Timestamp": _sns_time(timestamp),
            "SignatureVersion": signature_version,
        }
        return self._deliver(envelope, {"SigningCertURL": self.base_url + self.cert_path})

    def confirm(self, topic_arn: str, token: str) -> bool:
        """Record a SubscribeURL visit; False for an unknown token or topic."""
        if topic_arn != self.arn or token not in self.tokens:
            return False
        self.confirmed.append(token)
        return True

    def _deliver(
        self, envelope: dict[str, str], tail: dict[str, str], extra: dict[str, str] | None = None
    ) -> Delivery:
        signature = self.identity.sign(envelope)
        # SNS puts Signature after SignatureVersion; order does not matter to verifiers.
        body = {**envelope, "Signature": signature, **tail}
        headers = {
            "x-amz-sns-message-type": envelope["Type"],
            "x-amz-sns-message-id": envelope["MessageId"],
            "x-amz-sns-topic-arn": self.arn,
            "content-type": "text/plain; charset=UTF-8",
            "user-agent": "Amazon Simple Notification Service Agent",
            **(extra or {}),
        }
        return headers, json.dumps(body, indent=2, separators=(",", " : ")).encode()


def _sns_time(at: datetime | None) -> str:
    moment = (at or datetime.now(UTC)).astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


__all__ = ["Delivery", "SigningIdentity", "SnsTopic"]
