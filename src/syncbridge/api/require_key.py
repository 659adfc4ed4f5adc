"""Answer 401 to admin calls that carry no bearer key at all, before anything reads the body.

FastAPI decodes a JSON body before it resolves dependencies, so without this a keyless call
with a malformed body would get a 422 describing the endpoint's input instead of a 401. The
key itself is still checked by the route's role dependency.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

from syncbridge.api.deps import MISSING_KEY_DETAIL
from syncbridge.api.problems import problem

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
        response = problem(
            401, "Unauthorized", MISSING_KEY_DETAIL, headers={"WWW-Authenticate": "Bearer"}
        )
        await response(scope, receive, send)
