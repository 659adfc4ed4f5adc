"""Cloudinary's two signing schemes: Upload API request signatures and notification signatures.

Upload API (``cloudinary.utils.api_sign_request``): every parameter except ``file``,
``cloud_name``, ``resource_type``, ``api_key`` (and the signature itself) with a non-empty
value becomes ``k=v`` (lists joined with ``,``, booleans lower-cased); the pairs are sorted,
joined with ``&``, the API secret is appended and the result is hashed (hex SHA-1, or SHA-256
when the account says so). Signature version 2, the SDK default, first percent-encodes ``&``
inside each pair so a value cannot smuggle in another parameter.

Notifications (``cloudinary.utils.verify_notification_signature``): ``X-Cld-Signature`` is
hex SHA-1 (or SHA-256) of ``raw_body + X-Cld-Timestamp + api_secret``: a plain hash of the
concatenation, not an HMAC. syncbridge compares in constant time and also refuses timestamps
from the future, which the SDK does not.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping, Sequence
from typing import Literal

from syncbridge.connector.errors import InvalidWebhook

Algorithm = Literal["sha1", "sha256"]
#: A parameter value as the SDK passes it to the signer.
ParamValue = str | int | bool | Sequence[str] | None

#: Never part of the string to sign (the SDK adds ``api_key`` after signing; ``file`` is data).
UNSIGNED_PARAMS = frozenset({"file", "cloud_name", "resource_type", "api_key", "signature"})
#: Sent but left out of the signature by the SDK (``uploader._NON_SIGNABLE_NOTIFICATION_PARAMS``).
NON_SIGNABLE_PARAMS = frozenset({"notification_url", "batch_id"})

TIMESTAMP_HEADER = "x-cld-timestamp"
SIGNATURE_HEADER = "x-cld-signature"
#: The most digits a Unix timestamp in seconds has for the next 31,000 years.
MAX_TIMESTAMP_DIGITS = 12

#: How far ahead of our clock a notification timestamp may be (clock skew allowance).
MAX_FUTURE_SKEW_S = 300.0
#: Larger bodies are refused before hashing or parsing (a bulk change of 1,000 resources
#: is far below this).
MAX_NOTIFICATION_BYTES = 4 * 1024 * 1024


def _digest(data: bytes, algorithm: Algorithm) -> str:
    """Hex hash of ``data``: the one place both schemes pick SHA-1 or SHA-256."""
    if algorithm == "sha256":
        return hashlib.sha256(data).hexdigest()
    if algorithm == "sha1":
        return hashlib.sha1(data).hexdigest()  # the vendor's scheme, not our choice
    raise ValueError(f"unsupported signature algorithm: {algorithm!r}")


def string_to_sign(params: Mapping[str, ParamValue], *, signature_version: int = 2) -> str:
    """The sorted ``k=v&...`` string Cloudinary signs (``cloudinary.utils.api_string_to_sign``)."""
    pairs = []
    for key, value in params.items():
        if not value:
            continue
        if isinstance(value, bool):
            text = str(value).lower()
        elif isinstance(value, str | int):
            text = str(value)
        else:
            text = ",".join(value)
        pair = f"{key}={text}"
        if signature_version >= 2:
            pair = pair.replace("&", "%26")
        pairs.append(pair)
    return "&".join(sorted(pairs))


def sign_params(
    params: Mapping[str, ParamValue],
    api_secret: str,
    *,
    algorithm: Algorithm = "sha1",
    signature_version: int = 2,
) -> str:
    """The hex signature of exactly ``params`` (``cloudinary.utils.api_sign_request``)."""
    text = string_to_sign(params, signature_version=signature_version) + api_secret
    return _digest(text.encode(), algorithm)


def signable(params: Mapping[str, ParamValue]) -> dict[str, ParamValue]:
    """The subset of request parameters a signature covers (what a server checks)."""
    skip = UNSIGNED_PARAMS | NON_SIGNABLE_PARAMS
    return {key: value for key, value in params.items() if key not in skip}


def signed_upload_params(
    params: Mapping[str, ParamValue],
    *,
    api_key: str,
    api_secret: str,
    timestamp: int,
    algorithm: Algorithm = "sha1",
) -> dict[str, ParamValue]:
    """``params`` plus ``timestamp``, ``signature`` and ``api_key``, ready to POST."""
    out: dict[str, ParamValue] = {k: v for k, v in params.items() if v not in (None, "", [], ())}
    out["timestamp"] = str(timestamp)
    out["signature"] = sign_params(signable(out), api_secret, algorithm=algorithm)
    out["api_key"] = api_key
    return out


def notification_signature(
    raw_body: bytes, timestamp: str, api_secret: str, algorithm: Algorithm = "sha1"
) -> str:
    """``X-Cld-Signature`` for a notification body: hex hash of body + timestamp + secret."""
    return _digest(raw_body + timestamp.encode() + api_secret.encode(), algorithm)


def verify_notification(
    headers: Mapping[str, str],
    raw_body: bytes,
    *,
    api_secret: str,
    algorithm: Algorithm,
    max_age_s: float,
    now: float,
    max_future_s: float = MAX_FUTURE_SKEW_S,
) -> int:
    """Check a notification over its raw bytes; return its timestamp or raise InvalidWebhook.

    Refused: a body over ``MAX_NOTIFICATION_BYTES``, a missing ``X-Cld-Timestamp`` or one
    that is not ASCII digits, a timestamp older than ``max_age_s`` or more than ``max_future_s``
    ahead of ``now``, a missing ``X-Cld-Signature``, or a signature that does not match
    (compared in constant time).
    """
    if len(raw_body) > MAX_NOTIFICATION_BYTES:
        raise InvalidWebhook("notification body is larger than any notification")
    lowered = {key.lower(): value for key, value in headers.items()}
    raw_timestamp = lowered.get(TIMESTAMP_HEADER, "").strip()
    signature = lowered.get(SIGNATURE_HEADER, "").strip().lower()
    if not raw_timestamp or not signature:
        raise InvalidWebhook("missing X-Cld-Timestamp or X-Cld-Signature header")
    # ASCII only: isdigit() alone also takes fullwidth, Arabic-Indic and superscript digits.
    # At most 12 digits (year 33658): a longer number is no timestamp, and converting
    # thousands of digits is what Python refuses (and what an attacker would send).
    if not (
        raw_timestamp.isascii()
        and raw_timestamp.isdigit()
        and len(raw_timestamp) <= MAX_TIMESTAMP_DIGITS
    ):
        raise InvalidWebhook("X-Cld-Timestamp is not a Unix timestamp in seconds")
    timestamp = int(raw_timestamp)
    if timestamp < now - max_age_s:
        raise InvalidWebhook("notification timestamp is too old")
    if timestamp > now + max_future_s:
        raise InvalidWebhook("notification timestamp is in the future")
    expected = notification_signature(raw_body, raw_timestamp, api_secret, algorithm)
    if not hmac.compare_digest(expected.encode(), signature.encode()):
        raise InvalidWebhook("notification signature does not match")
    return timestamp


__all__ = [
    "MAX_NOTIFICATION_BYTES",
    "NON_SIGNABLE_PARAMS",
    "SIGNATURE_HEADER",
    "TIMESTAMP_HEADER",
    "UNSIGNED_PARAMS",
    "Algorithm",
    "ParamValue",
    "notification_signature",
    "sign_params",
    "signable",
    "signed_upload_params",
    "string_to_sign",
    "verify_notification",
]
