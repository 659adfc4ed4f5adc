"""The simulator's two front doors: Admin API Basic auth with its hourly budget, and Upload API
request signatures.

Admin API answers carry ``X-FeatureRateLimit-Limit``, ``-Remaining`` and ``-Reset`` (an HTTP
date: the end of the current budget window). A spent budget is answered with 420 (what
Cloudinary has long sent; configurable to 429), in the vendor's error shape.
"""

from __future__ import annotations

import base64
import binascii
import hmac
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import formatdate

from syncbridge_cloudinary.signatures import Algorithm, sign_params, signable, string_to_sign
from syncbridge_cloudinary.simulator_errors import CloudinaryApiError
from syncbridge_cloudinary.simulator_forms import FormValue


@dataclass
class AdminBudget:
    """An hourly (configurable) fixed-window budget of Admin API calls."""

    limit: int
    window_s: float
    clock: Callable[[], float]
    used: int = 0
    window: int = -1
    #: Calls refused because the budget was spent (420/429 answers).
    refused: int = 0

    def take(self) -> dict[str, str]:
        """Count one call; return the rate-limit headers, or raise 420/429 when spent."""
        now = self.clock()
        window = int(now // self.window_s)
        if window != self.window:
            self.window, self.used = window, 0
        reset = formatdate((window + 1) * self.window_s, usegmt=True)
        if self.used >= self.limit:
            self.refused += 1
            raise RateLimitSpent(self.headers(0, reset))
        self.used += 1
        return self.headers(self.limit - self.used, reset)

    def headers(self, remaining: int, reset: str) -> dict[str, str]:
        return {
            "X-FeatureRateLimit-Limit": str(self.limit),
            "X-FeatureRateLimit-Remaining": str(remaining),
            "X-FeatureRateLimit-Reset": reset,
        }


class RateLimitSpent(Exception):
    """The Admin API budget of the window is spent."""

    def __init__(self, headers: dict[str, str]) -> None:
        super().__init__("Rate Limit Exceeded")
        self.headers = headers


def check_basic_auth(authorization: str | None, api_key: str, api_secret: str) -> None:
    """Admin API credentials (HTTP Basic ``api_key:api_secret``); raises a 401 when wrong."""
    if not authorization or not authorization.lower().startswith("basic "):
        raise CloudinaryApiError(401, "Must supply api_key")
    try:
        decoded = base64.b64decode(authorization[6:].strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise CloudinaryApiError(401, "Must supply api_key") from exc
    key, _, secret = decoded.partition(":")
    if not hmac.compare_digest(key.encode(), api_key.encode()):
        raise CloudinaryApiError(401, f"Unknown API key {key}")
    if not hmac.compare_digest(secret.encode(), api_secret.encode()):
        raise CloudinaryApiError(401, "api_secret mismatch")


def _text(form: dict[str, FormValue], name: str) -> str:
    value = form.get(name)
    return value if isinstance(value, str) else ""


def check_upload_signature(
    form: dict[str, FormValue],
    *,
    api_key: str,
    api_secret: str,
    algorithm: Algorithm,
    max_age_s: float,
    now: float,
) -> None:
    """Upload API request auth: api key, a matching signature, a timestamp under an hour old.

    Signature versions 1 and 2 are both accepted (they differ only when a value holds ``&``),
    as the server must accept older SDKs.
    """
    given_key = _text(form, "api_key")
    if not given_key:
        raise CloudinaryApiError(401, "Must supply api_key")
    if not hmac.compare_digest(given_key.encode(), api_key.encode()):
        raise CloudinaryApiError(401, f"Unknown API key {given_key}")
    timestamp = _text(form, "timestamp")
    if not timestamp:
        raise CloudinaryApiError(400, "Missing required parameter - timestamp")
    signature = _text(form, "signature").lower()
    to_sign = signable(form)
    candidates = [
        sign_params(to_sign, api_secret, algorithm=algorithm, signature_version=version)
        for version in (2, 1)
    ]
    if not any(hmac.compare_digest(c.encode(), signature.encode()) for c in candidates):
        raise CloudinaryApiError(
            401,
            f"Invalid Signature {signature}. String to sign - '{string_to_sign(to_sign)}'.",
        )
    if not (timestamp.isascii() and timestamp.isdigit()):
        raise CloudinaryApiError(400, "Invalid timestamp")
    if int(timestamp) < now - max_age_s:
        reported = datetime.fromtimestamp(int(timestamp), UTC).strftime("%Y-%m-%d %H:%M:%S +0000")
        raise CloudinaryApiError(
            400, f"Stale request - reported time is {reported} which is more than 1 hour ago"
        )


__all__ = ["AdminBudget", "RateLimitSpent", "check_basic_auth", "check_upload_signature"]
