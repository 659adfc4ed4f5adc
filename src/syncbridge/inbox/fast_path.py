"""The receiver's lean path: ``POST /webhooks/{connection_id}[/{path_secret}]`` answered
from the application's own ASGI call (``syncbridge.app.SyncbridgeAPI``), before FastAPI's
per-request telemetry check, Starlette's middleware stack and the router.

At webhook rates the framework's per-request work (the middleware chain, route matching, a
``Request`` and its wrappers) is a large share of what a delivery costs, and a delivery
needs none of it: no API key (the vendor's signature is the credential), no validation of
a JSON body (the connector verifies the raw bytes). What the stack did that a delivery does
need is done here: the body cap (413 on ``Content-Length`` or on the streamed bytes, the
body never read past it) and a 500 problem for a defect. The routes stay declared in the
router, so OpenAPI documents them and any other method gets the router's 405.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

from starlette.datastructures import URL, Headers, State
from starlette.requests import ClientDisconnect
from starlette.types import Receive, Scope, Send

from syncbridge.api.body_limit import send_413
from syncbridge.api.problems import problem
from syncbridge.inbox.endpoints import called_url, handle_delivery
from syncbridge.logs import get_logger
from syncbridge.settings import Settings

log = get_logger(__name__)

#: The receiver's paths, as the router declares them (its uuid converter's pattern).
_PATH = re.compile(
    r"/webhooks/([0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12})"
    r"(?:/[^/]+)?"
)


def delivery_target(scope: Scope) -> uuid.UUID | None:
    """The connection a request is a webhook delivery for; None for any other request."""
    if scope["type"] != "http" or scope["method"] != "POST":
        return None
    path: str = scope["path"]
    if not path.startswith("/webhooks/"):
        return None
    match = _PATH.fullmatch(path)
    return uuid.UUID(match.group(1)) if match else None


async def serve_delivery(
    state: State, connection_id: uuid.UUID, scope: Scope, receive: Receive, send: Send
) -> None:
    """Read the delivery under the webhook body cap and answer it."""
    cap: int = state.settings.webhook_max_body_bytes
    try:
        body = await _capped_body(scope, receive, cap)
    except ClientDisconnect:
        return  # the vendor went away: nothing to answer, nothing stored
    if body is None:
        await send_413(scope, receive, send, cap)
        return
    try:
        called = _called_url(scope, state.settings)
        response = await handle_delivery(
            state, connection_id, Headers(scope=scope), body, called, "POST"
        )
    except Exception:
        log.exception("webhook.failed", connection_id=str(connection_id))
        response = problem(500, "Internal server error")
    await response(scope, receive, send)


#: ``called_url`` by what it reads of a request (see :func:`_called_url`).
_CALLED: dict[tuple[Any, ...], str] = {}
#: Entries kept at most (a vendor calls a few receiver URLs, the same ones again and again).
MAX_CALLED = 1024
#: Requests whose path, query and ``Host`` header are longer than this (in all) are not
#: remembered: a sender cannot make the memory hold much.
MAX_CALLED_CHARS = 512


def _called_url(scope: Scope, settings: Settings) -> str:
    """``called_url(URL(scope=scope), settings)``, remembered by every value of the request
    that it reads (the scheme, server, path, query and ``Host`` header, and the public URL):
    building and splitting the URL cost a few per cent of a delivery."""
    host: bytes = b""
    for name, value in scope["headers"]:
        if name == b"host":
            host = value
            break
    path: str = scope["path"]
    query: bytes = scope.get("query_string", b"")
    if len(path) + len(query) + len(host) > MAX_CALLED_CHARS:
        return called_url(URL(scope=scope), settings)
    server = scope.get("server")
    key = (
        scope.get("scheme"),
        None if server is None else tuple(server),  # any iterable in ASGI (a list from some)
        path,
        query,
        host,
        settings.public_url,
    )
    called = _CALLED.get(key)
    if called is None:
        if len(_CALLED) >= MAX_CALLED:
            _CALLED.clear()
        called = _CALLED[key] = called_url(URL(scope=scope), settings)
    return called


async def _capped_body(scope: Scope, receive: Receive, cap: int) -> bytes | None:
    """The request body; None as soon as it is known to pass ``cap`` (from the
    ``Content-Length`` it announces, or from the bytes streamed so far)."""
    for name, value in scope["headers"]:
        if name == b"content-length":
            if not value.isdigit() or int(value) > cap:
                return None
            break
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnect
        chunk: bytes = message.get("body", b"")
        size += len(chunk)
        if size > cap:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)


__all__ = ["delivery_target", "serve_delivery"]
