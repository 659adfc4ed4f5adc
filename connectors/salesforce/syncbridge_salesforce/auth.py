"""OAuth 2.0 access tokens for one Salesforce connection: requested, cached, refreshed.

Two server-to-server flows, both at ``{login_url}/services/oauth2/token``:

* client credentials: ``grant_type=client_credentials`` with the consumer key and secret as
  form fields (the connected app runs as its configured user; no refresh token);
* JWT bearer: ``grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer`` with an assertion
  ``{iss: consumer key, sub: username, aud: authorization server, exp: now + 3 min}`` signed
  RS256 here with ``cryptography`` (no JWT library needed for one signature).

Salesforce tokens carry no lifetime (the org's session timeout applies), so a token is kept
until the REST API answers 401 ``INVALID_SESSION_ID``; then it is replaced once. Concurrent
callers that saw the same stale token share one refresh. Token errors come back as
``{"error": ..., "error_description": ...}`` and become ``AuthError``. The token never
reaches a log or an error message.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from syncbridge.connector.errors import AuthError, PermanentConnectorError
from syncbridge.connector.http import VendorHttp
from syncbridge.connector.jwt import JWT_BEARER_GRANT, oauth_error_text, rs256_jwt
from syncbridge.logs import get_logger
from syncbridge_salesforce.settings import SalesforceSettings

log = get_logger(__name__)

TOKEN_PATH = "services/oauth2/token"
JWT_GRANT = JWT_BEARER_GRANT
#: Salesforce accepts assertions that expire within 3 minutes.
JWT_LIFETIME_S = 180


@dataclass(frozen=True)
class AccessToken:
    """One access token and what the token endpoint said with it."""

    value: str
    #: The org's instance as the token endpoint named it (informational: calls go to the
    #: configured ``instance_url``, which the SSRF guard checked).
    instance_url: str | None
    #: ``https://login.salesforce.com/id/<org id>/<user id>``.
    identity_url: str | None
    #: Increases with every token this source obtains (to share one refresh).
    generation: int

    def __repr__(self) -> str:
        return f"AccessToken(generation={self.generation}, value=***)"

    @property
    def organization_id(self) -> str | None:
        """The org id from the identity URL, if the token endpoint sent one."""
        parts = (self.identity_url or "").rstrip("/").split("/")
        return parts[-2] if len(parts) >= 2 and parts[-2].startswith("00D") else None


def jwt_assertion(
    key: rsa.RSAPrivateKey, *, issuer: str, subject: str, audience: str, now: float
) -> str:
    """A JWT bearer assertion signed RS256 (``header.claims.signature``, base64url)."""
    claims = {"iss": issuer, "sub": subject, "aud": audience, "exp": int(now) + JWT_LIFETIME_S}
    return rs256_jwt(key, {"alg": "RS256"}, claims)


class TokenSource:
    """The connection's access token: requested on first use, replaced when refused."""

    def __init__(
        self,
        settings: SalesforceSettings,
        login: VendorHttp,
        *,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.login = login
        #: Real time: the assertion's ``exp`` is checked by Salesforce's clock.
        self.wall_clock = wall_clock
        self._token: AccessToken | None = None
        self._generation = 0
        self._lock = asyncio.Lock()
        self._key: rsa.RSAPrivateKey | None = None
        if settings.auth_flow == "jwt_bearer" and settings.private_key is not None:
            # The settings validated the key (an RSA key that loads): checking its primes
            # again would cost ~120 ms per connector instance.
            key = load_pem_private_key(
                settings.private_key.get_secret_value().encode(),
                None,
                unsafe_skip_rsa_key_validation=True,
            )
            if not isinstance(key, rsa.RSAPrivateKey):
                raise PermanentConnectorError("salesforce: private_key is not an RSA key")
            self._key = key

    @property
    def current(self) -> AccessToken | None:
        """The cached token, if one was obtained."""
        return self._token

    async def token(self) -> AccessToken:
        """The cached token, or a new one; raises AuthError when the credentials are refused."""
        token = self._token
        if token is not None:
            return token
        async with self._lock:
            if self._token is None:
                self._token = await self._request()
            return self._token

    async def refresh(self, stale: AccessToken) -> AccessToken:
        """Replace ``stale`` (refused by the API); a token newer than it is returned as is."""
        async with self._lock:
            if self._token is not None and self._token.generation > stale.generation:
                return self._token
            self._token = None
            self._token = await self._request()
            log.info("salesforce.token_refreshed", generation=self._token.generation)
            return self._token

    def _grant(self) -> dict[str, str]:
        s = self.settings
        if s.auth_flow == "client_credentials":
            secret = s.client_secret.get_secret_value() if s.client_secret else ""
            return {
                "grant_type": "client_credentials",
                "client_id": s.client_id,
                "client_secret": secret,
            }
        if self._key is None or s.username is None:
            raise AuthError("salesforce: the JWT bearer flow needs username and private_key")
        assertion = jwt_assertion(
            self._key,
            issuer=s.client_id,
            subject=s.username,
            audience=s.jwt_audience,
            now=self.wall_clock(),
        )
        return {"grant_type": JWT_GRANT, "assertion": assertion}

    async def _request(self) -> AccessToken:
        response = await self.login.request(
            "POST",
            TOKEN_PATH,
            data=self._grant(),
            headers={"Accept": "application/json"},
            allow_status=(400, 401, 403),
        )
        body = _json_or_none(response.content)
        if response.status_code != 200:
            raise AuthError(
                f"salesforce: the token endpoint refused the credentials ({oauth_error_text(body)})"
            )
        if not isinstance(body, dict) or not isinstance(body.get("access_token"), str):
            raise PermanentConnectorError("salesforce: the token endpoint answered no access_token")
        value: str = body["access_token"]
        self._generation += 1
        instance, identity = body.get("instance_url"), body.get("id")
        return AccessToken(
            value=value,
            instance_url=instance if isinstance(instance, str) else None,
            identity_url=identity if isinstance(identity, str) else None,
            generation=self._generation,
        )


def _json_or_none(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except (ValueError, RecursionError):
        return None


__all__ = ["JWT_GRANT", "TOKEN_PATH", "AccessToken", "TokenSource", "jwt_assertion"]
