"""The HTTP side of every connector: one shared client, and a per-connection view of it.

``create_http_client`` builds the one ``httpx.AsyncClient`` of a process (explicit timeouts
and pool limits, no redirects). ``VendorHttp`` is what a connector instance calls: it joins
paths to the connection's base URL, adds auth, waits for the rate limiter, retries transient
failures with full-jitter backoff, and turns HTTP statuses into the connector error tree.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Collection, Generator, Mapping
from dataclasses import dataclass
from typing import Any

import httpx
from pydantic import SecretStr
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception,
    stop_after_attempt,
    wait_random_exponential,
)

from syncbridge.connector import metrics
from syncbridge.connector.errors import (
    AuthError,
    PermanentConnectorError,
    RateLimited,
    TransientConnectorError,
)
from syncbridge.connector.jsonbody import loads
from syncbridge.connector.ratelimit import AdaptiveRateLimiter, Sleep, parse_retry_after
from syncbridge.logs import get_logger

log = get_logger(__name__)

DEFAULT_TIMEOUT = httpx.Timeout(connect=5.0, read=30.0, write=30.0, pool=5.0)
DEFAULT_LIMITS = httpx.Limits(max_connections=100, max_keepalive_connections=20)
USER_AGENT = "syncbridge (+https://github.com/syncbridge/syncbridge)"
#: Statuses vendors use to ask for less traffic (Cloudinary answers 420 as well as 429).
RATE_LIMIT_STATUSES = frozenset({420, 429})
#: Joined URLs kept per connection: paths repeat (a listing's path, its query apart), and
#: joining one costs as much as building the retry loop did.
URL_CACHE_SIZE = 256


def create_http_client(
    *,
    transport: httpx.AsyncBaseTransport | None = None,
    timeout: httpx.Timeout | None = None,
) -> httpx.AsyncClient:
    """The ONE shared client per process: explicit timeouts and limits, redirects not followed.

    Redirects are not followed so that a vendor (or an attacker controlling a base URL) cannot
    bounce a call, with its credentials, to another host; the SSRF guard is the transport.
    """
    return httpx.AsyncClient(
        transport=transport,
        timeout=timeout or DEFAULT_TIMEOUT,
        limits=DEFAULT_LIMITS,
        follow_redirects=False,
        headers={"User-Agent": USER_AGENT},
    )


class _Forward(httpx.AsyncBaseTransport):
    """Sends every request through a shared client; closing it leaves that client open."""

    def __init__(self, shared: httpx.AsyncClient) -> None:
        self.shared = shared

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.shared.send(request, follow_redirects=False, stream=True)
        # The raw (still encoded) body streams through; closing it closes the shared one's.
        return httpx.Response(
            response.status_code,
            headers=response.headers,
            stream=response.stream,
            extensions=response.extensions,
        )

    async def aclose(self) -> None:
        """The shared client belongs to the process."""


def client_over(
    shared: httpx.AsyncClient,
    *,
    on_request: Callable[[httpx.Request], Awaitable[None]] | None = None,
    on_response: Callable[[httpx.Response], Awaitable[None]] | None = None,
) -> httpx.AsyncClient:
    """A thin client over ``shared``: its pool, timeouts, headers and SSRF guard stay in force,
    and the hooks see every call made through it (a run counting its vendor calls, a
    write-back sender timing them). Closing it never closes ``shared``."""
    hooks: dict[str, list[Callable[..., Any]]] = {"request": [], "response": []}
    if on_request is not None:
        hooks["request"].append(on_request)
    if on_response is not None:
        hooks["response"].append(on_response)
    return httpx.AsyncClient(
        transport=_Forward(shared),
        timeout=shared.timeout,
        headers=shared.headers,
        follow_redirects=False,
        event_hooks=hooks,
    )


class BearerToken(httpx.Auth):
    """``Authorization: Bearer <token>``, read from the secret only when a request is sent
    (so the token never sits in a header dict that might be logged or copied)."""

    def __init__(self, token: SecretStr) -> None:
        self._token = token

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Authorization"] = f"Bearer {self._token.get_secret_value()}"
        yield request


def full_jitter(attempt: int, base_s: float, max_s: float) -> float:
    """The wait after failed attempt ``attempt`` (1-based): a random time in
    ``[0, min(max_s, base_s * 2 ** (attempt - 1))]`` (tenacity's ``wait_random_exponential``)."""
    return float(wait_random_exponential(multiplier=base_s, max=max_s)(_after_attempts(attempt)))


@dataclass(frozen=True)
class RetryPolicy:
    """How often to retry a transient failure, with full-jitter exponential backoff."""

    attempts: int = 5
    base_s: float = 0.5
    max_s: float = 30.0


class VendorHttp:
    """A connection's view of the shared client: base URL, auth, limiter, retries, error mapping.

    Absolute URLs (a vendor's "next page" link) must share the base URL's scheme, host and
    port, so credentials never travel to another origin.
    """

    def __init__(
        self,
        client: httpx.AsyncClient,
        *,
        base_url: str,
        connector_key: str,
        limiter: AdaptiveRateLimiter,
        retry: RetryPolicy = RetryPolicy(),
        headers: Mapping[str, str] | None = None,
        auth: httpx.Auth | None = None,
        sleep: Sleep | None = None,
    ) -> None:
        self.client = client
        self.base_url = httpx.URL(base_url.rstrip("/") + "/")
        self.connector_key = connector_key
        self.limiter = limiter
        self.retry = retry
        self.headers = dict(headers or {})
        self.auth = auth
        #: Backoff sleeps go through the limiter's sleep unless told otherwise (fake clocks).
        self.sleep: Sleep = sleep or limiter.sleep
        self._joined: dict[str, httpx.URL] = {}

    def url(self, path_or_url: str) -> httpx.URL:
        """The absolute URL of a path under the base URL, or a same-origin absolute URL."""
        if path_or_url.startswith(("http://", "https://")):
            url = httpx.URL(path_or_url)
            if (url.scheme, url.host, url.port) != (
                self.base_url.scheme,
                self.base_url.host,
                self.base_url.port,
            ):
                raise PermanentConnectorError(
                    f"{self.connector_key}: refusing to call another origin than the base URL"
                )
            return url
        joined = self._joined.get(path_or_url)
        if joined is None:
            if len(self._joined) >= URL_CACHE_SIZE:
                self._joined.clear()
            joined = self._joined[path_or_url] = self.base_url.join(path_or_url.lstrip("/"))
        return joined

    async def request(
        self,
        method: str,
        path_or_url: str,
        *,
        params: Mapping[str, Any] | None = None,
        data: Mapping[str, Any] | None = None,
        json: Any = None,
        headers: Mapping[str, str] | None = None,
        allow_status: Collection[int] = (),
    ) -> httpx.Response:
        """Send one logical request, retrying transient failures; raises the connector errors.

        2xx or a status in ``allow_status`` is returned. 420/429 raise ``RateLimited`` (after
        pausing the limiter for ``Retry-After``, at least the policy floor) and are retried,
        like 5xx and transport errors (``TransientConnectorError``), unless the error says
        retrying within the call cannot help (``retry_in_call``). 401/403 raise
        ``AuthError`` and other statuses ``PermanentConnectorError``, without retrying. After
        the last attempt the last error is raised.
        """
        url = self.url(path_or_url)
        if params and not url.query and not self.client.params:
            # The URL httpx would build from ``url`` and ``params`` (its own query encoding,
            # ``true``/``false`` and repeated keys included), parsed once instead of joined,
            # merged and parsed again: about 40 µs less a call.
            url, params = httpx.URL(f"{url}?{httpx.QueryParams(params)}"), None
        request = self.client.build_request(
            method.upper(),
            url,
            params=dict(params) if params is not None else None,
            data=dict(data) if data is not None else None,
            json=json,
            headers={**self.headers, **(headers or {})},
        )
        allowed = frozenset(allow_status)
        # The first attempt runs outside tenacity: nearly every call succeeds at once, and
        # building the retry loop per call cost as much as the call's own work.
        try:
            return await self._attempt(request, allowed)
        except TransientConnectorError as exc:
            if self.retry.attempts <= 1 or not exc.retry_in_call:
                raise
        base_s, max_s = self.retry.base_s, self.retry.max_s
        await self.sleep(full_jitter(1, base_s, max_s))
        retrying = AsyncRetrying(
            stop=stop_after_attempt(self.retry.attempts - 1),
            # Attempt k of this loop is attempt k + 1 of the call: its backoff grows on.
            wait=lambda state: full_jitter(state.attempt_number + 1, base_s, max_s),
            retry=retry_if_exception(_retried_in_call),
            sleep=self.sleep,
            reraise=True,
        )
        response: httpx.Response = await retrying(self._attempt, request, allowed)
        return response

    async def get_json(self, path_or_url: str, **kw: Any) -> Any:
        """GET and parse JSON; a 2xx that is not JSON raises ``PermanentConnectorError``."""
        response = await self.request("GET", path_or_url, **kw)
        return self.parse_json(response)

    def parse_json(self, response: httpx.Response) -> Any:
        """The JSON body of a response (None for 204); garbage raises PermanentConnectorError."""
        if response.status_code == 204:
            return None
        try:
            return loads(response.content)
        except ValueError as exc:
            raise PermanentConnectorError(
                f"{self.connector_key}: vendor answered garbage to "
                f"{response.request.method} {response.request.url.path} "
                f"(HTTP {response.status_code}, not JSON)"
            ) from exc

    async def _attempt(
        self, request: httpx.Request, allow_status: frozenset[int]
    ) -> httpx.Response:
        await self.limiter.acquire()
        started = time.perf_counter()
        try:
            response = await self.client.send(request, auth=self.auth)
        except httpx.TimeoutException as exc:
            metrics.record_call(self.connector_key, "timeout", time.perf_counter() - started)
            raise TransientConnectorError(f"{self._where(request)} timed out") from exc
        except httpx.TransportError as exc:
            metrics.record_call(self.connector_key, "error", time.perf_counter() - started)
            where = self._where(request)
            raise TransientConnectorError(f"{where} failed: {type(exc).__name__}") from exc
        metrics.record_call(self.connector_key, response.status_code, time.perf_counter() - started)
        self.limiter.observe(response)
        status = response.status_code
        if 200 <= status < 300 or status in allow_status:
            return response
        log.info(
            "vendor.refused", connector=self.connector_key, path=request.url.path, status=status
        )
        raise self._error(response, self._where(request))

    def _where(self, request: httpx.Request) -> str:
        """``<connector>: <METHOD> <path>``, the start of an error message about a call."""
        return f"{self.connector_key}: {request.method} {request.url.path}"

    def _error(self, response: httpx.Response, where: str) -> Exception:
        status = response.status_code
        if status in RATE_LIMIT_STATUSES:
            metrics.record_rate_limited(self.connector_key)
            retry_after = parse_retry_after(
                response.headers.get("Retry-After"), now=self.limiter.vendor_now(response.headers)
            )
            self.limiter.pause_for(max(retry_after or 0.0, self.limiter.policy.min_retry_after_s))
            return RateLimited(f"{where} was rate limited (HTTP {status})", retry_after=retry_after)
        if status >= 500:
            return TransientConnectorError(f"{where} failed on the vendor side (HTTP {status})")
        if status in (401, 403):
            return AuthError(f"{where} refused the credentials (HTTP {status})")
        return PermanentConnectorError(f"{where} was refused (HTTP {status})")


def _retried_in_call(exc: BaseException) -> bool:
    return isinstance(exc, TransientConnectorError) and exc.retry_in_call


def _after_attempts(count: int) -> RetryCallState:
    """A retry state that has made ``count`` attempts, for computing the next backoff."""
    state = RetryCallState(retry_object=AsyncRetrying(), fn=None, args=(), kwargs={})
    state.attempt_number = max(1, count)
    return state


__all__ = [
    "DEFAULT_LIMITS",
    "DEFAULT_TIMEOUT",
    "BearerToken",
    "RetryPolicy",
    "VendorHttp",
    "client_over",
    "create_http_client",
    "full_jitter",
]
