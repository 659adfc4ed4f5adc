"""Answer 401 to admin calls that carry no bearer key at all, before anything reads the body.

FastAPI decodes a JSON body before it resolves dependencies, so without this a keyless call
with a malformed body would get a 422 describing the endpoint's input instead of a 401. The
key itself is still checked by the route's role dependency.
"""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Receive, Scope, Send

PROTECTED_PREFIX = "/v1/"


class RequireBearerMiddleware:
    """Refuse ``/v1/`` requests without an ``Authorization: Bearer`` header with 401."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(PROTECTED_PREFIX):
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", []):
            if name == b"authorization" and value[:7].lower() == b"bearer ":
                await self.app(scope, receive, send)
                return
        body = json.dumps(
            {
                "type": "about:blank",
                "title": "Unauthorized",
                "status": 401,
                "detail": "An API key is required: send 'Authorization: Bearer <key>'.",
            }
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 401,
                "headers": [
                    (b"content-type", b"application/problem+json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"www-authenticate", b"Bearer"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
