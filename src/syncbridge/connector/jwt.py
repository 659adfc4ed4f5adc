"""JSON Web Tokens for the OAuth 2.0 JWT-bearer grant (RFC 7523), signed RS256 locally.

Used by the connectors whose vendors take a signed assertion for a token (Salesforce's JWT
bearer flow, Google service accounts) and by their simulators to check one. Signing uses
``cryptography``; the compact form is ``header.claims.signature``, each part base64url
without padding, the JSON compact.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

#: The ``grant_type`` of a token request carrying a JWT assertion.
JWT_BEARER_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"

_B64URL = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


def b64url(raw: bytes) -> str:
    """Base64url without padding, as JWTs use."""
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    """The bytes of unpadded base64url; raises ``ValueError`` on anything else."""
    if not text or any(c not in _B64URL for c in text):
        raise ValueError("not base64url")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _segment(value: Mapping[str, Any]) -> str:
    return b64url(json.dumps(dict(value), separators=(",", ":")).encode())


def rs256_jwt(key: rsa.RSAPrivateKey, header: Mapping[str, Any], claims: Mapping[str, Any]) -> str:
    """The compact JWT of ``claims`` signed RS256 with ``key`` (``header`` names ``alg``)."""
    signing_input = f"{_segment(header)}.{_segment(claims)}".encode("ascii")
    signature = key.sign(signing_input, padding.PKCS1v15(), hashes.SHA256())
    return f"{signing_input.decode('ascii')}.{b64url(signature)}"


def _json_object(segment: str) -> dict[str, Any]:
    try:
        value = json.loads(b64url_decode(segment))
    except (ValueError, RecursionError, UnicodeDecodeError):
        raise ValueError("not a JSON segment") from None
    if not isinstance(value, dict):
        raise ValueError("not a JSON object")
    return value


def unverified_parts(jwt: str) -> tuple[dict[str, Any], dict[str, Any], bytes, bytes]:
    """``(header, claims, signing input, signature)`` of a compact JWT, not yet verified;
    raises ``ValueError`` when it is not one."""
    parts = jwt.split(".")
    if len(parts) != 3:
        raise ValueError("not a compact JWS")
    header, claims = _json_object(parts[0]), _json_object(parts[1])
    return header, claims, f"{parts[0]}.{parts[1]}".encode("ascii"), b64url_decode(parts[2])


def rs256_valid(key: rsa.RSAPublicKey, signing_input: bytes, signature: bytes) -> bool:
    """Whether ``signature`` is ``key``'s RS256 signature of ``signing_input``."""
    try:
        key.verify(signature, signing_input, padding.PKCS1v15(), hashes.SHA256())
    except InvalidSignature:
        return False
    return True


def oauth_error_text(body: object) -> str:
    """``error: error_description`` of an OAuth error answer, bounded and printable (it goes
    into an error message; a vendor's text is not trusted)."""
    if not isinstance(body, dict):
        return "no error details"
    parts = [body.get("error"), body.get("error_description")]
    text = ": ".join(p for p in parts if isinstance(p, str) and p)
    return "".join(ch for ch in text[:200] if ch.isprintable()) or "no error details"


__all__ = [
    "JWT_BEARER_GRANT",
    "b64url",
    "b64url_decode",
    "oauth_error_text",
    "rs256_jwt",
    "rs256_valid",
    "unverified_parts",
]
