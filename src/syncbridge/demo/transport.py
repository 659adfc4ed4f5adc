"""The demo's vendor transport: calls to the sandbox origin go into the app in process, and
nothing else goes anywhere (the demo never reaches the internet)."""

from __future__ import annotations

import httpx
from starlette.types import ASGIApp, Receive, Scope, Send

__all__ = ["LateApp", "SandboxOnlyTransport"]


class LateApp:
    """An ASGI app set after it is referenced: the transport is built before the app that
    it calls into (the app takes the transport when it is created)."""

    def __init__(self) -> None:
        self.app: ASGIApp | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.app is None:
            raise RuntimeError("the demo app is not built yet")
        await self.app(scope, receive, send)


class SandboxOnlyTransport(httpx.AsyncBaseTransport):
    """Requests to ``origin`` are answered by ``app`` in process (no socket, so the
    simulators answer before the server listens); any other request is refused with
    :class:`httpx.ConnectError`. Sits under the SSRF guard, which still checks every URL."""

    def __init__(self, app: ASGIApp, origin: str) -> None:
        self.origin = httpx.URL(origin)
        self._inner = httpx.ASGITransport(app=app)

    def _allowed(self, url: httpx.URL) -> bool:
        return (url.scheme, url.host, url.port) == (
            self.origin.scheme,
            self.origin.host,
            self.origin.port,
        )

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if not self._allowed(request.url):
            raise httpx.ConnectError(
                f"The demo reaches only its sandbox ({self.origin}), not {request.url.host}.",
                request=request,
            )
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self._inner.aclose()
