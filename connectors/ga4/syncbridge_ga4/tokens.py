"""Access tokens for a service account: a signed assertion exchanged at the token URI, cached.

``AccessTokens.get`` returns a cached token until a minute before it expires, then signs a
new JWT-bearer assertion and exchanges it (one exchange at a time); ``invalidate`` drops a
token the API refused, so the next ``get`` fetches a fresh one. The token endpoint's OAuth
errors (``invalid_grant``, ``invalid_client``, ...) raise ``AuthError``.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass

from syncbridge.connector.errors import AuthError, PermanentConnectorError
from syncbridge.connector.http import VendorHttp
from syncbridge.connector.jwt import JWT_BEARER_GRANT, oauth_error_text
from syncbridge.connector.ratelimit import Clock, WallClock
from syncbridge.logs import get_logger
from syncbridge_ga4.service_account import ServiceAccountKey

log = get_logger(__name__)

#: Renew this long before the token's own expiry.
EXPIRY_MARGIN_S = 60.0
MAX_TOKEN_CHARS = 4096
_TOKEN = re.compile(r"[\x21-\x7e]+")


@dataclass(frozen=True)
class _Token:
    value: str
    expires_at: float


class AccessTokens:
    """One service account's access tokens, from the token endpoint ``http`` points at."""

    def __init__(
        self,
        key: ServiceAccountKey,
        http: VendorHttp,
        *,
        token_path: str,
        audience: str,
        clock: Clock,
        wall_clock: WallClock,
    ) -> None:
        self.key = key
        self.http = http
        self.token_path = token_path
        self.audience = audience
        self.clock = clock
        self.wall_clock = wall_clock
        self.exchanges = 0
        self._token: _Token | None = None
        self._lock = asyncio.Lock()

    async def get(self) -> str:
        """A valid access token (cached, or freshly exchanged); raises AuthError if refused."""
        token = self._token
        if token is not None and self.clock() < token.expires_at:
            # The usual call: no exchange to wait for, so no lock to take.
            return token.value
        async with self._lock:
            token = self._token
            if token is None or self.clock() >= token.expires_at:
                token = self._token = await self._exchange()
            return token.value

    def invalidate(self, value: str) -> None:
        """Forget ``value`` (the API refused it); a newer token is kept."""
        if self._token is not None and self._token.value == value:
            self._token = None

    async def _exchange(self) -> _Token:
        assertion = self.key.assertion(audience=self.audience, now=self.wall_clock())
        response = await self.http.request(
            "POST",
            self.token_path,
            data={"grant_type": JWT_BEARER_GRANT, "assertion": assertion},
            allow_status=(400, 401, 403),
        )
        if response.status_code != 200:
            try:
                error = response.json()
            except ValueError:
                error = None
            raise AuthError(
                f"ga4: the token endpoint refused the service account ({oauth_error_text(error)})"
            )
        body = self.http.parse_json(response)
        if not isinstance(body, dict):
            raise PermanentConnectorError("ga4: the token endpoint answered no JSON object")
        value, expires_in = body.get("access_token"), body.get("expires_in", 3600)
        if (
            not isinstance(value, str)
            or len(value) > MAX_TOKEN_CHARS
            or not _TOKEN.fullmatch(value)
        ):
            raise PermanentConnectorError("ga4: the token endpoint answered no usable access_token")
        if not isinstance(expires_in, int | float) or not 0 < expires_in <= 86_400:
            raise PermanentConnectorError("ga4: the token endpoint answered a bad expires_in")
        self.exchanges += 1
        log.info("ga4.token_exchanged", account=self.key.client_email, expires_in=expires_in)
        return _Token(value, self.clock() + max(0.0, float(expires_in) - EXPIRY_MARGIN_S))


__all__ = ["AccessTokens"]
