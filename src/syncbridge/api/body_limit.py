"""An ASGI middleware that refuses request bodies over a cap with 413, streamed or not.

One cap for the API, and larger ones for the few paths that take files (uploads), matched
by regular expression on the path.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from syncbridge.api.problems import problem


class BodyTooLarge(HTTPException):
    """Raised inside ``receive`` when a streamed body passes the cap.

    An ``HTTPException`` so that FastAPI's body reader passes it on instead of a 400.
    """

    def __init__(self) -> None:
        super().__init__(413, "Payload too large")


class BodyLimitMiddleware:
    """Answer 413 when ``Content-Length`` or the streamed body exceeds ``max_bytes``."""

    def __init__(
        self, app: ASGIApp, max_bytes: int, exceptions: Sequence[tuple[str, int]] = ()
    ) -> None:
        self.app = app
        self.default_max_bytes = max_bytes
        #: ``(path pattern, cap)``: the first pattern that matches the path sets its cap.
        self.exceptions = [(re.compile(pattern), cap) for pattern, cap in exceptions]

    def cap_for(self, path: str) -> int:
        """The body cap of a request to ``path``."""
        for pattern, cap in self.exceptions:
            if pattern.match(path):
                return cap
        return self.default_max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        max_bytes = self.cap_for(scope.get("path", ""))
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                try:
                    too_big = int(value) > max_bytes
                except ValueError:
                    too_big = True
                if too_big:
                    await send_413(scope, receive, send, max_bytes)
                    return
        received = 0
        response_started = False

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > max_bytes:
                    raise BodyTooLarge
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal response_started
            if message["type"] == "http.response.start":
                response_started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except BodyTooLarge:
            if not response_started:
                await send_413(scope, receive, send, max_bytes)


async def send_413(scope: Scope, receive: Receive, send: Send, max_bytes: int) -> None:
    response = problem(
        413,
        "Payload too large",
        f"Request bodies are limited to {max_bytes} bytes.",
        headers={"connection": "close"},
    )
    await response(scope, receive, send)
