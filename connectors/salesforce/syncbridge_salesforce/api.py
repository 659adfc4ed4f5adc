"""The Salesforce REST API as one connection calls it: token, error codes, API usage.

Every call carries the cached access token; a 401 ``INVALID_SESSION_ID`` replaces the token
once and repeats the call, a second 401 is an ``AuthError``. REST errors are JSON arrays of
``{"message", "errorCode"}`` and are mapped by code:

* 403 ``REQUEST_LIMIT_EXCEEDED``: the org used its rolling 24-hour API allocation (or too
  many long-running requests run at once). Salesforce blocks calls "until usage for the
  preceding 24 hours drops below the limit", so it is a wait, not a refusal: ``RateLimited``
  with ``request_limit_wait_s``, and no call goes out before that has passed.
* other 401/403 codes: ``AuthError``; 400 ``INVALID_QUERY_LOCATOR``: ``QueryLocatorExpired``
  (the read restarts its query); other 4xx: ``PermanentConnectorError`` with code and message.

``Sforce-Limit-Info: api-usage=used/total`` is read from every answer (``usage``); once
``used`` reaches ``api_usage_max_share`` of ``total`` the connection stops calling
(``RateLimited``) so syncbridge never eats the allocation the org's other integrations need.
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from syncbridge.connector.errors import AuthError, PermanentConnectorError, RateLimited
from syncbridge.connector.http import RetryPolicy, VendorHttp
from syncbridge.connector.ratelimit import AdaptiveRateLimiter, RateLimitPolicy
from syncbridge.logs import get_logger
from syncbridge_salesforce.auth import AccessToken, TokenSource
from syncbridge_salesforce.settings import SalesforceSettings

log = get_logger(__name__)

_USAGE = re.compile(r"(?:^|[^-])api-usage=(\d+)/(\d+)")
#: Statuses whose body is read for a Salesforce error code before deciding.
_INSPECTED = (400, 401, 403, 404)


class QueryLocatorExpired(PermanentConnectorError):
    """A ``nextRecordsUrl`` is no longer valid (``INVALID_QUERY_LOCATOR``): query again."""


@dataclass(frozen=True)
class ApiUsage:
    """The org's API calls in the last 24 hours and its allocation (``Sforce-Limit-Info``)."""

    used: int
    total: int


def parse_limit_info(value: str | None) -> ApiUsage | None:
    """``api-usage=25/5000[; per-app-api-usage=...]`` -> ApiUsage(25, 5000); None if absent."""
    match = _USAGE.search(value or "")
    return ApiUsage(int(match[1]), int(match[2])) if match else None


def error_code(response: httpx.Response) -> tuple[str, str]:
    """``(errorCode, message)`` of a REST error answer (``("", "")`` when it has none)."""
    try:
        body = json.loads(response.content)
    except (ValueError, RecursionError):
        return "", ""
    first = body[0] if isinstance(body, list) and body else body
    if not isinstance(first, dict):
        return "", ""
    code, message = first.get("errorCode"), first.get("message")
    clean = "".join(ch for ch in str(message or "")[:300] if ch.isprintable())
    return (code if isinstance(code, str) else ""), clean


class SalesforceApi:
    """REST calls of one connection: base URL, token, limiter, retries, error codes, usage."""

    def __init__(
        self, settings: SalesforceSettings, client: httpx.AsyncClient, *, retry: RetryPolicy
    ) -> None:
        self.settings = settings
        limiter = AdaptiveRateLimiter(
            RateLimitPolicy(settings.rate_limit_requests, settings.rate_limit_period_s)
        )
        self.limiter = limiter
        self.http = VendorHttp(
            client,
            base_url=settings.instance_url,
            connector_key="salesforce",
            limiter=limiter,
            retry=retry,
        )
        login = VendorHttp(
            client,
            base_url=settings.login_url,
            connector_key="salesforce",
            limiter=limiter,
            retry=retry,
        )
        self.tokens = TokenSource(settings, login)
        self.usage: ApiUsage | None = None
        self._blocked_until = float("-inf")
        self.data_path = f"services/data/{settings.api_version}"

    def url(self, path_or_url: str) -> str:
        """An absolute API URL: host-relative paths (``nextRecordsUrl``) join the origin."""
        if path_or_url.startswith("/"):
            return str(self.http.base_url.join(path_or_url))
        return path_or_url

    async def call(
        self,
        method: str,
        path_or_url: str,
        *,
        params: Mapping[str, Any] | None = None,
        json_body: Any = None,
        headers: Mapping[str, str] | None = None,
        allow_status: Collection[int] = (),
    ) -> httpx.Response:
        """One REST call (retried by ``VendorHttp`` when transient); see the module docstring."""
        self._check_budget()
        token = await self.tokens.token()
        response = await self._send(method, path_or_url, token, params, json_body, headers)
        if response.status_code == 401 and error_code(response)[0] == "INVALID_SESSION_ID":
            token = await self.tokens.refresh(token)
            response = await self._send(method, path_or_url, token, params, json_body, headers)
        status = response.status_code
        if 200 <= status < 300 or status in allow_status:
            return response
        raise self._error(response)

    async def json(self, method: str, path_or_url: str, **kw: Any) -> Any:
        """``call`` and parse the JSON answer; garbage raises PermanentConnectorError."""
        return self.http.parse_json(await self.call(method, path_or_url, **kw))

    async def _send(
        self,
        method: str,
        path_or_url: str,
        token: AccessToken,
        params: Mapping[str, Any] | None,
        json_body: Any,
        headers: Mapping[str, str] | None,
    ) -> httpx.Response:
        response = await self.http.request(
            method,
            self.url(path_or_url),
            params=params,
            json=json_body,
            headers={**(headers or {}), "Authorization": f"Bearer {token.value}"},
            allow_status=_INSPECTED,
        )
        usage = parse_limit_info(response.headers.get("Sforce-Limit-Info"))
        if usage is not None:
            self.usage = usage
        return response

    def _check_budget(self) -> None:
        now = self.limiter.clock()
        if now < self._blocked_until:
            raise RateLimited(
                "salesforce: waiting for the org's API allocation to free up",
                retry_after=self._blocked_until - now,
            )
        usage = self.usage
        if usage is not None and usage.total > 0:
            if usage.used >= self.settings.api_usage_max_share * usage.total:
                log.warning("salesforce.api_budget_reached", used=usage.used, total=usage.total)
                raise self._block(
                    f"salesforce: {usage.used} of the org's {usage.total} daily API calls used "
                    f"(the connection stops at {self.settings.api_usage_max_share:.0%})"
                )

    def _block(self, detail: str) -> RateLimited:
        wait = self.settings.request_limit_wait_s
        self._blocked_until = self.limiter.clock() + wait
        # The answer that showed the usage is the last we know of: forget it, so the call
        # after the wait is made and reads the usage afresh.
        self.usage = None
        return RateLimited(detail, retry_after=wait)

    def _error(self, response: httpx.Response) -> Exception:
        status = response.status_code
        code, message = error_code(response)
        where = f"salesforce: {response.request.method} {response.request.url.path}"
        detail = f"{where}: HTTP {status} {code or 'error'}" + (f": {message}" if message else "")
        if status == 403 and code == "REQUEST_LIMIT_EXCEEDED":
            log.warning("salesforce.request_limit_exceeded")
            return self._block(detail)
        if status in (401, 403):
            return AuthError(detail)
        if status == 400 and code == "INVALID_QUERY_LOCATOR":
            return QueryLocatorExpired(detail)
        return PermanentConnectorError(detail)


__all__ = [
    "ApiUsage",
    "QueryLocatorExpired",
    "SalesforceApi",
    "error_code",
    "parse_limit_info",
]
