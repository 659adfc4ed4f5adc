"""A real test connector ("echo") and its tiny vendor, for the connection and SSRF tests.

The vendor is an ASGI app reached through the app's shared HTTP client; host names resolve
through :class:`HostTable`, the SSRF guard's injectable resolver (a real seam: the guard runs
unchanged, only DNS answers are fixed).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import socket
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
from fastapi import FastAPI
from pydantic import SecretStr
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route

from syncbridge.connections.ssrf import SSRFGuardTransport
from syncbridge.connector.errors import InvalidWebhook
from syncbridge.connector.http import RetryPolicy, VendorHttp, create_http_client
from syncbridge.connector.ratelimit import AdaptiveRateLimiter, RateLimitPolicy
from syncbridge.connector.spec import ConnectorSettings, ConnectorSpec, VendorUrl
from syncbridge.connector.types import (
    Capability,
    CheckResult,
    Page,
    Record,
    Ref,
    StreamSpec,
    SystemKind,
    TagChange,
    WebhookEvent,
    WriteOutcome,
)

#: The vendor accepts every bearer token with this prefix.
TOKEN_PREFIX = "tok-echo-"
GOOD_TOKEN = f"{TOKEN_PREFIX}3f9a1c77e2d54b08"
#: Host names and what they resolve to (public-looking addresses except internal.example).
HOSTS: dict[str, list[str]] = {
    "api.vendor.example": ["93.184.216.34"],
    "bounce.vendor.example": ["93.184.216.35"],
    "internal.example": ["10.0.0.5"],
    "split.example": ["93.184.216.36", "127.0.0.1"],
    "down.vendor.example": ["93.184.216.37"],
    "garbage.vendor.example": ["93.184.216.38"],
    "slow.vendor.example": ["93.184.216.39"],
}
#: Where the bounce host sends every request.
BOUNCE_TARGET = "http://127.0.0.1/me"


class HostTable:
    """A resolver answering from a fixed table; unknown names do not resolve."""

    def __init__(self, table: Mapping[str, Sequence[str]]) -> None:
        self.table = dict(table)

    async def __call__(self, host: str) -> list[str]:
        if host not in self.table:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return list(self.table[host])


async def _me(request: Request) -> Response:
    host = request.headers.get("host", "")
    if host.startswith("bounce."):
        return RedirectResponse(BOUNCE_TARGET, status_code=302)
    if host.startswith("down."):
        return JSONResponse({"error": "maintenance"}, status_code=503)
    if host.startswith("garbage."):
        return PlainTextResponse("<html>hello</html>")
    if host.startswith("slow."):
        await asyncio.sleep(30)
    if not request.headers.get("authorization", "").startswith(f"Bearer {TOKEN_PREFIX}"):
        return JSONResponse({"error": "bad token"}, status_code=401)
    return JSONResponse({"account": "acme", "host": request.headers.get("host")})


def vendor_app() -> Starlette:
    """The echo vendor: ``GET /me`` answers the account for a ``tok-echo-`` bearer token."""
    return Starlette(routes=[Route("/me", _me), Route("/{prefix:path}/me", _me)])


class EchoSettings(ConnectorSettings):
    """Settings of the echo connector."""

    base_url: VendorUrl
    api_token: SecretStr
    #: A second URL syncbridge would call, named unlike one: checked by its marker.
    token_endpoint: VendorUrl | None = None
    webhook_secret: SecretStr | None = None
    region: str = "eu"


class EchoConnector:
    """A minimal connector whose ``check()`` calls ``GET /me`` and follows redirects."""

    closed: list[EchoConnector] = []  # noqa: RUF012 - instances closed so far, for asserts

    def __init__(self, settings: EchoSettings, client: httpx.AsyncClient) -> None:
        self.settings = settings
        self.http = VendorHttp(
            client,
            base_url=settings.base_url,
            connector_key="echo",
            limiter=AdaptiveRateLimiter(RateLimitPolicy(max_requests=100, period_s=1.0)),
            retry=RetryPolicy(attempts=1),
            headers={"Authorization": f"Bearer {settings.api_token.get_secret_value()}"},
        )
        self.client = client

    async def check(self) -> CheckResult:
        response = await self.http.request("GET", "me", allow_status=(301, 302, 307, 308))
        if response.is_redirect:
            # Follow like a careless connector would: straight through the shared client.
            response = await self.client.get(
                response.headers["location"], headers=self.http.headers
            )
        data = self.http.parse_json(response)
        return CheckResult(ok=True, detail="reachable", account={"account": data["account"]})

    def streams(self) -> Sequence[StreamSpec]:
        return []

    async def read(self, stream: str, cursor: str | None) -> AsyncIterator[Page]:  # noqa: ARG002
        pages: list[Page] = []
        for page in pages:
            yield page

    async def parse_webhook(
        self,
        headers: Mapping[str, str],
        raw_body: bytes,
        *,
        url: str = "",  # noqa: ARG002
        method: str = "POST",  # noqa: ARG002
    ) -> list[WebhookEvent]:
        """A third-party connector's deliveries: ``X-Echo-Signature`` is the hex HMAC-SHA256
        of the body under ``webhook_secret``; the body a JSON list of events whose payloads
        pass through as the vendor sent them."""
        secret = self.settings.webhook_secret
        given = {k.lower(): v for k, v in headers.items()}.get("x-echo-signature", "")
        if secret is None or not hmac.compare_digest(given, echo_signature(secret, raw_body)):
            raise InvalidWebhook("echo: bad signature")
        return [
            WebhookEvent(e["key"], e["stream"], e["id"], e["action"], payload=e["payload"])
            for e in json.loads(raw_body)
        ]

    async def fetch(self, refs: Sequence[Ref]) -> list[Record]:  # noqa: ARG002
        return []

    async def write(self, changes: Sequence[TagChange]) -> list[WriteOutcome]:  # noqa: ARG002
        return []

    async def aclose(self) -> None:
        EchoConnector.closed.append(self)


def _factory(settings: EchoSettings, client: httpx.AsyncClient) -> EchoConnector:
    return EchoConnector(settings, client)


SPEC = ConnectorSpec(
    key="echo",
    display_name="Echo (tests)",
    kind=SystemKind.dam,
    settings_model=EchoSettings,
    capabilities=frozenset({Capability.read}),
    factory=_factory,
)


@dataclass
class EchoVendor:
    """The echo vendor as the app sees it: its shared client and the DNS table both use."""

    client: httpx.AsyncClient
    hosts: HostTable


def vendor_client(*, guard: bool, hosts: HostTable) -> httpx.AsyncClient:
    """A shared client reaching the echo vendor in-process, SSRF-guarded when ``guard``."""
    inner: httpx.AsyncBaseTransport = httpx.ASGITransport(app=vendor_app())
    transport = SSRFGuardTransport(inner, resolver=hosts) if guard else inner
    return create_http_client(transport=transport)


@asynccontextmanager
async def echo_installed(app: FastAPI) -> AsyncIterator[EchoVendor]:
    """Register the echo connector in ``app``, whose vendor transport (the ``app`` fixture's
    default) reaches the echo vendor through the app's own SSRF-guarded client."""
    if "echo" not in app.state.registry:
        app.state.registry.register(SPEC)
    yield EchoVendor(client=app.state.http, hosts=app.state.ssrf_resolver)


def echo_signature(secret: SecretStr, body: bytes) -> str:
    """The echo vendor's webhook signature of ``body``."""
    return hmac.new(secret.get_secret_value().encode(), body, hashlib.sha256).hexdigest()


async def deliver_echo(
    client: httpx.AsyncClient, connection_id: str, events: list[dict[str, Any]], secret: str
) -> httpx.Response:
    """POST ``events`` to the receiver as the echo vendor signs them under ``secret``."""
    raw = json.dumps(events).encode()
    return await client.post(
        f"/webhooks/{connection_id}",
        content=raw,
        headers={"X-Echo-Signature": echo_signature(SecretStr(secret), raw)},
    )


def echo_settings(**changes: Any) -> dict[str, Any]:
    """Valid echo settings with ``changes`` applied."""
    return {"base_url": "http://api.vendor.example", "api_token": GOOD_TOKEN, **changes}
