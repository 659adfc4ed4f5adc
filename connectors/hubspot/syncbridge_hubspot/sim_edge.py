"""What stands in front of the simulated HubSpot API: bearer auth, rate limits, error shapes.

* Every call needs ``Authorization: Bearer <private app token>``; otherwise 401 with
  HubSpot's error JSON (``category: INVALID_AUTHENTICATION``).
* The burst limit is a rolling 10-second window per token (190 calls: a Pro private app),
  plus a daily budget; every non-search answer carries ``X-HubSpot-RateLimit-Max``,
  ``-Remaining``, ``-Interval-Milliseconds``, ``-Daily`` and ``-Daily-Remaining``.
* Search calls have their own limit (4 per second per token) and carry no such headers.
* Over a limit: 429 with ``{"status": "error", "errorType": "RATE_LIMIT", "category":
  "RATE_LIMITS", "policyName": "TEN_SECONDLY_ROLLING" | "SECONDLY" | "DAILY", ...}`` and a
  ``Retry-After`` (HubSpot's is UNVERIFIED; clients must cope without it).
"""

from __future__ import annotations

import hmac
import json
import math
import time
import uuid
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

POLICY_MESSAGES = {
    "TEN_SECONDLY_ROLLING": "You have reached your ten_secondly_rolling limit.",
    "SECONDLY": "You have reached your secondly limit.",
    "DAILY": "You have reached your daily limit.",
}


def correlation_id() -> str:
    return str(uuid.uuid4())


def error_body(
    status: int, message: str | None = None, category: str | None = None, **extra: Any
) -> dict[str, Any]:
    """HubSpot's error JSON: ``status``, ``message``, ``correlationId``, ``category``."""
    default_category = {
        400: "VALIDATION_ERROR",
        401: "INVALID_AUTHENTICATION",
        403: "MISSING_SCOPES",
        404: "OBJECT_NOT_FOUND",
        405: "VALIDATION_ERROR",
        429: "RATE_LIMITS",
    }.get(status, "INTERNAL_ERROR")
    body: dict[str, Any] = {
        "status": "error",
        "message": message or "internal error",
        "correlationId": correlation_id(),
        "category": category or default_category,
    }
    body.update(extra)
    return body


def rate_limit_body(policy: str) -> dict[str, Any]:
    """The 429 body of a rate-limit policy."""
    return error_body(
        429,
        POLICY_MESSAGES.get(policy, "You have reached a rate limit."),
        errorType="RATE_LIMIT",
        policyName=policy,
        requestId=correlation_id(),
    )


def fault_body(status: int) -> Mapping[str, object]:
    """Bodies of injected faults (``FaultMiddleware``): HubSpot's shapes."""
    if status == 429:
        return rate_limit_body("TEN_SECONDLY_ROLLING")
    return error_body(status, "An internal error occurred (simulated fault)")


def hubspot_error(
    status: int, message: str, category: str | None = None, **extra: Any
) -> JSONResponse:
    return JSONResponse(error_body(status, message, category, **extra), status_code=status)


@dataclass
class TokenLimits:
    """Per-token limits: the rolling burst window, the daily budget and search's own limit."""

    burst_max: int = 190
    window_s: float = 10.0
    daily_max: int = 1_000_000
    search_per_s: int = 4
    clock: Callable[[], float] = time.monotonic
    daily_used: int = 0
    _burst: deque[float] = field(default_factory=deque)
    _search: deque[float] = field(default_factory=deque)

    def take(self, *, search: bool) -> tuple[str | None, float]:
        """Count one call: ``(None, 0)`` if allowed, else the policy hit and a wait in s."""
        now = self.clock()
        if self.daily_used >= self.daily_max:
            return "DAILY", 3600.0
        if search:
            policy, wait = self._take(self._search, self.search_per_s, 1.0, now, "SECONDLY")
        else:
            policy, wait = self._take(
                self._burst, self.burst_max, self.window_s, now, "TEN_SECONDLY_ROLLING"
            )
        if policy is None:
            self.daily_used += 1
        return policy, wait

    @staticmethod
    def _take(
        seen: deque[float], limit: int, window: float, now: float, policy: str
    ) -> tuple[str | None, float]:
        while seen and seen[0] <= now - window:
            seen.popleft()
        if len(seen) >= limit:
            return policy, seen[0] + window - now
        seen.append(now)
        return None, 0.0

    def headers(self) -> list[tuple[bytes, bytes]]:
        """The ``X-HubSpot-RateLimit-*`` headers after the current call."""
        values = {
            "x-hubspot-ratelimit-daily": self.daily_max,
            "x-hubspot-ratelimit-daily-remaining": max(0, self.daily_max - self.daily_used),
            "x-hubspot-ratelimit-interval-milliseconds": int(self.window_s * 1000),
            "x-hubspot-ratelimit-max": self.burst_max,
            "x-hubspot-ratelimit-remaining": max(0, self.burst_max - len(self._burst)),
        }
        return [(k.encode(), str(v).encode()) for k, v in values.items()]


class Edge:
    """Auth, then limits, then the app; counts calls by kind for tests."""

    def __init__(self, app: ASGIApp, token: str, limits: TokenLimits) -> None:
        self.app = app
        self.token = token.encode()
        self.limits = limits
        self.calls: dict[str, int] = {"total": 0, "search": 0, "rate_limited": 0}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        self.calls["total"] += 1
        auth = dict(scope["headers"]).get(b"authorization", b"")
        if not hmac.compare_digest(auth, b"Bearer " + self.token):
            response = hubspot_error(
                401,
                "Authentication credentials not found. This API supports OAuth 2.0 "
                "authentication and you can find more details at "
                "https://developers.hubspot.com/docs/methods/auth/oauth-overview",
            )
            await response(scope, receive, send)
            return
        search = scope["method"] == "POST" and route_path(scope).endswith("/search")
        self.calls["search"] += search
        policy, wait = self.limits.take(search=search)
        if policy is not None:
            self.calls["rate_limited"] += 1
            response = JSONResponse(
                rate_limit_body(policy),
                status_code=429,
                headers={"Retry-After": str(max(1, math.ceil(wait)))},
            )
            await response(scope, receive, send)
            return
        if search:
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message["headers"], *self.limits.headers()]}
            await send(message)

        await self.app(scope, receive, with_headers)


def route_path(scope: Scope) -> str:
    """The request path below the simulator's mount point (the ASGI ``root_path``)."""
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    return path[len(root) :] if root and path.startswith(root) else path


def parse_json_body(raw: bytes) -> tuple[Any, str | None]:
    """The JSON of a request body, or an error message in HubSpot's words."""
    try:
        return json.loads(raw or b"null"), None
    except (ValueError, RecursionError) as exc:
        return None, f"Invalid input JSON on line 1: {type(exc).__name__}"


__all__ = [
    "Edge",
    "TokenLimits",
    "error_body",
    "fault_body",
    "hubspot_error",
    "parse_json_body",
    "rate_limit_body",
    "route_path",
]
