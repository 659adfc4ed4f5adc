"""Google sign-in as the GA4 simulator sees it: a service account, its token endpoint, bearers.

* ``SandboxServiceAccount``: an RSA key and the key file Google would hand out for it (a
  public test value: printing it is fine, it only opens the sandbox).
* ``TokenIssuer.exchange``: the OAuth token endpoint's JWT-bearer grant (RFC 7523, as Google
  runs it): the assertion's RS256 signature checked against the account's public key, ``aud``
  the token URI, ``iat``/``exp`` at most an hour apart around now, a scope; errors in Google's
  OAuth shape ``{"error": ..., "error_description": ...}`` (descriptions UNVERIFIED).
* ``TokenIssuer.authorise``: an API bearer: a token it issued and that has not expired, or a
  self-signed JWT (AIP-4111: what Google's client libraries send for service accounts, with
  ``aud`` the API's origin or a ``scope`` claim). Failures answer ``ApiAuthError``.
"""

from __future__ import annotations

import secrets
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from syncbridge.connector.jwt import JWT_BEARER_GRANT, rs256_valid, unverified_parts
from syncbridge_ga4.service_account import ASSERTION_LIFETIME_S, GOOGLE_TOKEN_URI

API_AUDIENCE = "https://analyticsdata.googleapis.com/"
#: Scopes that may read GA4 data.
ANALYTICS_SCOPES = frozenset(
    {
        "https://www.googleapis.com/auth/analytics.readonly",
        "https://www.googleapis.com/auth/analytics",
    }
)
ACCESS_TOKEN_LIFETIME_S = 3599
#: How far ``iat`` may lie in the future (clock skew) before Google refuses it.
CLOCK_SKEW_S = 300
MAX_ASSERTION_CHARS = 8192
#: Expired tokens are forgotten once this many are on record.
MAX_LIVE_TOKENS = 10_000
#: Google's refusal of a bad ``iat``/``exp`` (as reported by client libraries; UNVERIFIED).
TIMEFRAME = (
    "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable "
    "timeframe. Check your iat and exp values in the JWT claim."
)


class OAuthError(Exception):
    """A refusal of the token endpoint: HTTP 400 ``{"error", "error_description"}``."""

    def __init__(self, error: str, description: str, status: int = 400) -> None:
        super().__init__(description)
        self.error = error
        self.description = description
        self.status = status

    def body(self) -> dict[str, str]:
        return {"error": self.error, "error_description": self.description}


class ApiAuthError(Exception):
    """A refused API bearer: 401 ``UNAUTHENTICATED`` or 403 ``PERMISSION_DENIED``."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True, repr=False)
class SandboxServiceAccount:
    """A service account of the sandbox project: its key and its key file."""

    client_email: str
    private_key_id: str
    client_id: str
    project_id: str
    key: rsa.RSAPrivateKey

    def __repr__(self) -> str:
        return f"SandboxServiceAccount({self.client_email!r})"

    @classmethod
    def generate(cls, seed: int = 42, name: str = "syncbridge-sandbox") -> SandboxServiceAccount:
        """A new account with a fresh 2048-bit key (the slow part: about 0.1 s)."""
        project = f"syncbridge-sandbox-{seed}"
        ids = uuid.uuid5(uuid.NAMESPACE_URL, f"ga4-sandbox:{seed}:{name}")
        return cls(
            client_email=f"{name}@{project}.iam.gserviceaccount.com",
            private_key_id=ids.hex,
            client_id=str(ids.int)[:21],
            project_id=project,
            key=rsa.generate_private_key(public_exponent=65537, key_size=2048),
        )

    @property
    def public_key(self) -> rsa.RSAPublicKey:
        return self.key.public_key()

    def key_file(self, token_uri: str = GOOGLE_TOKEN_URI) -> dict[str, str]:
        """The JSON key file, in the shape Google Cloud downloads it."""
        pem = self.key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode()
        cert_url = "https://www.googleapis.com/robot/v1/metadata/x509/"
        return {
            "type": "service_account",
            "project_id": self.project_id,
            "private_key_id": self.private_key_id,
            "private_key": pem,
            "client_email": self.client_email,
            "client_id": self.client_id,
            "auth_uri": "https://accounts.google.com/o/oauth2/auth",
            "token_uri": token_uri,
            "auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
            "client_x509_cert_url": cert_url + self.client_email.replace("@", "%40"),
            "universe_domain": "googleapis.com",
        }


@dataclass(frozen=True)
class Grant:
    """Who a bearer speaks for, and with which scopes."""

    client_email: str
    scopes: frozenset[str]


@dataclass
class _Issued:
    grant: Grant
    expires_at: float


@dataclass
class TokenIssuer:
    """Issues and checks access tokens for the known service accounts."""

    accounts: Iterable[SandboxServiceAccount]
    wall_clock: Callable[[], float] = time.time
    #: Token URIs an assertion's ``aud`` may name besides Google's own.
    audiences: set[str] = field(default_factory=set)
    exchanges: int = 0
    _by_email: dict[str, SandboxServiceAccount] = field(init=False)
    _issued: dict[str, _Issued] = field(init=False, default_factory=dict)

    def __post_init__(self) -> None:
        self._by_email = {a.client_email: a for a in self.accounts}

    def exchange(self, form: dict[str, str], *, request_url: str) -> dict[str, Any]:
        """Answer a token request (a form); raises ``OAuthError``."""
        grant_type = form.get("grant_type")
        if grant_type != JWT_BEARER_GRANT:
            raise OAuthError("unsupported_grant_type", f"Invalid grant_type: {grant_type or ''}")
        assertion = form.get("assertion")
        if not assertion:
            raise OAuthError("invalid_request", "Missing required parameter: assertion")
        claims = self._verified(assertion)
        audience = claims.get("aud")
        if audience not in {GOOGLE_TOKEN_URI, request_url, *self.audiences}:
            raise OAuthError(
                "invalid_grant",
                f"Invalid JWT: Failed audience check. The expected audience is {GOOGLE_TOKEN_URI}.",
            )
        self._check_timeframe(claims)
        scope = claims.get("scope")
        if not isinstance(scope, str) or not scope.split():
            raise OAuthError("invalid_scope", "Invalid OAuth scope or ID token audience provided.")
        token = "ya29.sandbox-" + secrets.token_urlsafe(32)
        if len(self._issued) >= MAX_LIVE_TOKENS:
            now = self.wall_clock()
            self._issued = {t: i for t, i in self._issued.items() if i.expires_at > now}
        grant = Grant(str(claims["iss"]), frozenset(scope.split()))
        self._issued[token] = _Issued(grant, self.wall_clock() + ACCESS_TOKEN_LIFETIME_S)
        self.exchanges += 1
        return {
            "access_token": token,
            "expires_in": ACCESS_TOKEN_LIFETIME_S,
            "token_type": "Bearer",
        }

    def authorise(self, header: str | None) -> Grant:
        """The grant behind an ``Authorization`` header; raises ``ApiAuthError``."""
        if not header or not header.startswith("Bearer ") or len(header) > MAX_ASSERTION_CHARS:
            raise ApiAuthError(401, UNAUTHENTICATED)
        token = header.removeprefix("Bearer ").strip()
        issued = self._issued.get(token)
        if issued is not None:
            if issued.expires_at <= self.wall_clock():
                raise ApiAuthError(401, UNAUTHENTICATED)
            grant = issued.grant
        elif token.count(".") == 2:
            grant = self._self_signed(token)
        else:
            raise ApiAuthError(401, UNAUTHENTICATED)
        if not grant.scopes & ANALYTICS_SCOPES:
            raise ApiAuthError(403, "Request had insufficient authentication scopes.")
        return grant

    def expire_all(self) -> None:
        """Every token issued so far expires now (tests: the refresh path)."""
        now = self.wall_clock()
        for issued in self._issued.values():
            issued.expires_at = now

    def _self_signed(self, token: str) -> Grant:
        try:
            claims = self._verified(token)
            self._check_timeframe(claims)
        except OAuthError:
            raise ApiAuthError(401, UNAUTHENTICATED) from None
        scope = claims.get("scope")
        scopes = frozenset(scope.split()) if isinstance(scope, str) else frozenset()
        if claims.get("aud") == API_AUDIENCE:
            scopes |= ANALYTICS_SCOPES  # an audience-bound JWT carries the API's scopes
        elif not scopes:
            raise ApiAuthError(401, UNAUTHENTICATED)
        return Grant(str(claims["iss"]), scopes)

    def _verified(self, jwt: str) -> dict[str, Any]:
        """The claims of an RS256 JWT signed by a known account; raises ``OAuthError``."""
        if len(jwt) > MAX_ASSERTION_CHARS or jwt.count(".") != 2:
            raise OAuthError("invalid_grant", "Invalid JWT: not a compact JWS.")
        try:
            header, claims, signed, signature = unverified_parts(jwt)
        except ValueError:
            raise OAuthError("invalid_grant", "Invalid JWT: malformed segments.") from None
        if header.get("alg") != "RS256":
            raise OAuthError("invalid_grant", "Invalid JWT: unsupported signing algorithm.")
        issuer = claims.get("iss")
        account = self._by_email.get(issuer) if isinstance(issuer, str) else None
        if account is None:
            raise OAuthError("invalid_grant", "Invalid grant: account not found")
        kid = header.get("kid")
        if kid is not None and kid != account.private_key_id:
            raise OAuthError("invalid_grant", "Invalid JWT Signature.")
        if not rs256_valid(account.public_key, signed, signature):
            raise OAuthError("invalid_grant", "Invalid JWT Signature.")
        return claims

    def _check_timeframe(self, claims: dict[str, Any]) -> None:
        iat, exp = claims.get("iat"), claims.get("exp")
        if not isinstance(iat, int) or not isinstance(exp, int):
            raise OAuthError("invalid_grant", TIMEFRAME)
        now = self.wall_clock()
        if iat > now + CLOCK_SKEW_S or exp <= now or exp - iat > ASSERTION_LIFETIME_S:
            raise OAuthError("invalid_grant", TIMEFRAME)


UNAUTHENTICATED = (
    "Request had invalid authentication credentials. Expected OAuth 2 access token, login "
    "cookie or other valid authentication credential. See "
    "https://developers.google.com/identity/sign-in/web/devconsole-project."
)


__all__ = [
    "API_AUDIENCE",
    "ApiAuthError",
    "Grant",
    "OAuthError",
    "SandboxServiceAccount",
    "TokenIssuer",
]
