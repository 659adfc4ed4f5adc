"""A Google service-account key file, and the RS256 JWT assertion signed with its key.

The key file is the JSON Google hands out (``type``, ``client_email``, ``private_key``,
``private_key_id``, ``token_uri``, ...). ``ServiceAccountKey.parse`` reads it with bounds and
raises ``ValueError`` with a message that never quotes the file; ``assertion`` signs the
JWT-bearer grant (RFC 7523) that ``token_uri`` exchanges for an access token, with
``cryptography`` (RSASSA-PKCS1-v1_5 over SHA-256, i.e. ``RS256``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from syncbridge.connector.jwt import rs256_jwt

#: Where Google's own key files send assertions (``token_uri`` of every key file today).
GOOGLE_TOKEN_URI = "https://oauth2.googleapis.com/token"
#: Older key files name these; both are Google's token endpoint.
GOOGLE_TOKEN_URIS = frozenset(
    {
        GOOGLE_TOKEN_URI,
        "https://accounts.google.com/o/oauth2/token",
        "https://www.googleapis.com/oauth2/v4/token",
    }
)
READONLY_SCOPE = "https://www.googleapis.com/auth/analytics.readonly"
#: Google refuses assertions living longer than an hour.
ASSERTION_LIFETIME_S = 3600
#: A real key file is about 2.4 KB; anything far larger is not one.
MAX_KEY_FILE_BYTES = 64 * 1024


@dataclass(frozen=True, repr=False)
class ServiceAccountKey:
    """The parts of a key file syncbridge uses. ``repr`` shows the account, never the key."""

    client_email: str
    private_key_id: str | None
    token_uri: str
    private_key: rsa.RSAPrivateKey

    def __repr__(self) -> str:
        return f"ServiceAccountKey(client_email={self.client_email!r})"

    @classmethod
    def parse(cls, raw: str) -> ServiceAccountKey:
        """Read a key file; ``ValueError`` names what is wrong without quoting the file."""
        if len(raw.encode("utf-8", errors="replace")) > MAX_KEY_FILE_BYTES:
            raise ValueError("is too large to be a service-account key file")
        try:
            info = json.loads(raw)
        except (ValueError, RecursionError):
            raise ValueError("is not JSON (paste the whole key file)") from None
        if not isinstance(info, dict):
            raise ValueError("is not a JSON object (paste the whole key file)")
        if info.get("type") != "service_account":
            raise ValueError('is not a service-account key file ("type" must be "service_account")')
        email = _field(info, "client_email")
        if "@" not in email or len(email) > 320:
            raise ValueError('has no valid "client_email"')
        key_id = info.get("private_key_id")
        if key_id is not None and (not isinstance(key_id, str) or len(key_id) > 200):
            raise ValueError('has an invalid "private_key_id"')
        token_uri = _field(info, "token_uri")
        if not token_uri.startswith(("https://", "http://")) or len(token_uri) > 2000:
            raise ValueError('has no valid "token_uri"')
        return cls(email, key_id or None, token_uri, _private_key(_field(info, "private_key")))

    def assertion(self, *, audience: str, now: float, scope: str = READONLY_SCOPE) -> str:
        """The signed JWT-bearer grant for ``audience`` (the token URI), issued at ``now``."""
        header: dict[str, Any] = {"alg": "RS256", "typ": "JWT"}
        if self.private_key_id:
            header["kid"] = self.private_key_id
        issued = int(now)
        claims = {
            "iss": self.client_email,
            "scope": scope,
            "aud": audience,
            "iat": issued,
            "exp": issued + ASSERTION_LIFETIME_S,
        }
        return rs256_jwt(self.private_key, header, claims)


def _field(info: dict[str, Any], name: str) -> str:
    value = info.get(name)
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f'has no "{name}"')
    return value


def _private_key(pem: str) -> rsa.RSAPrivateKey:
    try:
        # The library's own consistency check of an RSA key costs ~150 ms (prime tests);
        # signing a probe and verifying it below proves the key works for a fraction of that.
        key = serialization.load_pem_private_key(
            pem.encode(), password=None, unsafe_skip_rsa_key_validation=True
        )
    except (ValueError, TypeError, UnsupportedAlgorithm):
        # The library's message may quote parts of the PEM: never pass it on.
        raise ValueError('has a "private_key" that is not an unencrypted PEM key') from None
    if not isinstance(key, rsa.RSAPrivateKey) or not 2048 <= key.key_size <= 8192:
        raise ValueError('has a "private_key" that is not an RSA key of 2048 to 8192 bits')
    probe = b"syncbridge service-account key probe"
    try:
        signature = key.sign(probe, padding.PKCS1v15(), hashes.SHA256())
        key.public_key().verify(signature, probe, padding.PKCS1v15(), hashes.SHA256())
    except (InvalidSignature, ValueError):
        raise ValueError('has a "private_key" that does not sign correctly') from None
    return key


__all__ = [
    "ASSERTION_LIFETIME_S",
    "GOOGLE_TOKEN_URI",
    "GOOGLE_TOKEN_URIS",
    "READONLY_SCOPE",
    "ServiceAccountKey",
]
