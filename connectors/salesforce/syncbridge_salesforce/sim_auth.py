"""The simulated org's OAuth token endpoint, sessions and daily API allocation.

``POST /services/oauth2/token`` (form-encoded) takes ``grant_type=client_credentials`` (the
consumer key and secret as form fields or HTTP Basic) and ``grant_type=urn:ietf:params:oauth:
grant-type:jwt-bearer`` with an RS256 ``assertion`` checked against the connected app's
certificate key: ``iss`` = consumer key, ``sub`` = an allowed user, ``aud`` = the login
server, ``exp`` in the future and at most 5 minutes ahead. Errors are Salesforce's
``{"error": ..., "error_description": ...}``: 400 ``invalid_client_id``, ``invalid_client``,
``invalid_grant`` (``invalid assertion``, ``audience is invalid``, ``user hasn't approved
this consumer``), ``unsupported_grant_type``, ``invalid_request`` (exact texts and the
statuses of the rarer ones are UNVERIFIED).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives.asymmetric import rsa

from syncbridge.connector.jwt import JWT_BEARER_GRANT, rs256_valid, unverified_parts

JWT_GRANT = JWT_BEARER_GRANT
LOGIN_AUDIENCES = frozenset({"https://login.salesforce.com", "https://test.salesforce.com"})
#: Salesforce's default session timeout.
SESSION_TIMEOUT_S = 2 * 3600.0
DAY_S = 24 * 3600.0


class TokenError(Exception):
    """A refused token request: status and Salesforce's error body."""

    def __init__(self, status: int, error: str, description: str) -> None:
        super().__init__(f"{error}: {description}")
        self.status = status
        self.body = {"error": error, "error_description": description}


@dataclass
class ConnectedApp:
    """The connected app syncbridge signs in with."""

    client_id: str
    client_secret: str
    #: The key of the certificate uploaded for the JWT bearer flow (None: flow not set up).
    jwt_public_key: rsa.RSAPublicKey | None = None
    #: Users pre-authorised for the app (JWT ``sub``).
    usernames: frozenset[str] = frozenset()
    audiences: frozenset[str] = LOGIN_AUDIENCES


@dataclass
class Sessions:
    """Issued access tokens and when they lapse (``expire_all`` ends them at once)."""

    clock: Callable[[], float] = time.monotonic
    timeout_s: float = SESSION_TIMEOUT_S
    _issued: dict[str, float] = field(default_factory=dict)

    def issue(self, org_id: str) -> str:
        token = f"{org_id[:15]}!{secrets.token_urlsafe(48)}"
        self._issued[token] = self.clock()
        return token

    def valid(self, header: str | None) -> bool:
        """True when ``Authorization: Bearer <token>`` names a live session."""
        if not header or not header.startswith("Bearer "):
            return False
        token = header[len("Bearer ") :]
        issued = self._issued.get(token)
        if issued is None:
            return False
        if self.clock() - issued > self.timeout_s:
            del self._issued[token]
            return False
        return True

    def expire_all(self) -> int:
        """End every session (as an admin or the timeout would); returns how many."""
        count = len(self._issued)
        self._issued.clear()
        return count


@dataclass
class ApiAllocation:
    """The org's rolling 24-hour API request allocation (``Sforce-Limit-Info``)."""

    limit: int = 100_000
    clock: Callable[[], float] = time.monotonic
    _calls: deque[float] = field(default_factory=deque)

    @property
    def used(self) -> int:
        cutoff = self.clock() - DAY_S
        while self._calls and self._calls[0] <= cutoff:
            self._calls.popleft()
        return len(self._calls)

    def take(self) -> bool:
        """Count one call; False (not counted) when the allocation is used up."""
        if self.used >= self.limit:
            return False
        self._calls.append(self.clock())
        return True

    def header(self) -> str:
        return f"api-usage={self.used}/{self.limit}"


def _invalid_assertion() -> TokenError:
    return TokenError(400, "invalid_grant", "invalid assertion")


def verify_assertion(app: ConnectedApp, assertion: str, now: float) -> str:
    """The ``sub`` of a valid JWT bearer assertion for ``app``; raises TokenError."""
    try:
        header, claims, signing_input, signature = unverified_parts(assertion)
    except ValueError:
        raise _invalid_assertion() from None
    if header.get("alg") != "RS256" or app.jwt_public_key is None:
        raise _invalid_assertion()
    if not isinstance(claims.get("iss"), str) or not hmac.compare_digest(
        claims["iss"].encode(), app.client_id.encode()
    ):
        raise TokenError(400, "invalid_client_id", "client identifier invalid")
    if not rs256_valid(app.jwt_public_key, signing_input, signature):
        raise _invalid_assertion()
    if claims.get("aud") not in app.audiences:
        raise TokenError(400, "invalid_grant", "audience is invalid")
    exp = claims.get("exp")
    if not isinstance(exp, int) or isinstance(exp, bool) or not now < exp <= now + 300:
        raise _invalid_assertion()
    subject = claims.get("sub")
    if subject not in app.usernames:
        raise TokenError(400, "invalid_grant", "user hasn't approved this consumer")
    return str(subject)


def check_client_credentials(
    app: ConnectedApp, form: Mapping[str, str], basic: tuple[str, str] | None
) -> None:
    """The consumer key and secret (form fields or Basic); raises TokenError."""
    client_id, secret = (
        basic if basic is not None else (form.get("client_id"), form.get("client_secret"))
    )
    if not client_id or not hmac.compare_digest(client_id.encode(), app.client_id.encode()):
        raise TokenError(400, "invalid_client_id", "client identifier invalid")
    if not secret or not hmac.compare_digest(secret.encode(), app.client_secret.encode()):
        raise TokenError(400, "invalid_client", "invalid client credentials")


def basic_credentials(header: str | None) -> tuple[str, str] | None:
    """``(user, password)`` of an ``Authorization: Basic`` header, if it is one."""
    if not header or not header.startswith("Basic "):
        return None
    try:
        user, _, password = base64.b64decode(header[6:], validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return user, password


def token_answer(
    token: str, *, secret: str, instance_url: str, login_url: str, org_id: str, user_id: str
) -> dict[str, Any]:
    """The token endpoint's success body (``signature`` = HMAC-SHA256(secret, id + issued_at))."""
    identity = f"{login_url}/id/{org_id}/{user_id}"
    issued_at = str(int(time.time() * 1000))
    signature = hmac.new(secret.encode(), (identity + issued_at).encode(), hashlib.sha256)
    return {
        "access_token": token,
        "signature": base64.b64encode(signature.digest()).decode(),
        "scope": "api",
        "instance_url": instance_url,
        "id": identity,
        "token_type": "Bearer",
        "issued_at": issued_at,
    }


__all__ = [
    "JWT_GRANT",
    "ApiAllocation",
    "ConnectedApp",
    "Sessions",
    "TokenError",
    "basic_credentials",
    "check_client_credentials",
    "token_answer",
    "verify_assertion",
]
