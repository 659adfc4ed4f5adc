"""Fault knobs every vendor simulator takes: 429s, 5xx, latency and dropped connections.

The knobs are applied by :class:`FaultMiddleware` before the simulator sees the request,
from a seeded random generator, so a run with the same seed fails the same way.
"""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import Callable
from dataclasses import dataclass

import httpx
from starlette.types import ASGIApp, Receive, Scope, Send


@dataclass
class FaultKnobs:
    """Probabilities (0..1) and delays for injected faults."""

    rate_429: float = 0.0
    rate_5xx: float = 0.0
    rate_drop: float = 0.0
    latency_s: float = 0.0
    #: ``Retry-After`` seconds sent with injected 429s (0 is legal and seen in the wild).
    retry_after_s: int = 1
    seed: int = 7

    @property
    def active(self) -> bool:
        return any((self.rate_429, self.rate_5xx, self.rate_drop, self.latency_s))


#: Builds the body of an injected 429/5xx in the vendor's own error shape.
ErrorBody = Callable[[int], dict[str, object]]


def _default_error(status: int) -> dict[str, object]:
    return {"message": "simulated fault", "status": status}


class FaultMiddleware:
    """Inject faults in front of a simulator app. Counts what it injected in ``injected``."""

    def __init__(
        self, app: ASGIApp, knobs: FaultKnobs, error_body: ErrorBody = _default_error
    ) -> None:
        self.app = app
        self.knobs = knobs
        self.error_body = error_body
        self.rng = random.Random(knobs.seed)
        self.injected: dict[str, int] = {"429": 0, "5xx": 0, "drop": 0}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self.knobs.active:
            await self.app(scope, receive, send)
            return
        k = self.knobs
        if k.latency_s:
            await asyncio.sleep(k.latency_s)
        roll = self.rng.random()
        if roll < k.rate_drop:
            self.injected["drop"] += 1
            # In-process (httpx.ASGITransport) this surfaces exactly as a dropped connection
            # does to a real client; under a real server the connection is cut.
            raise httpx.RemoteProtocolError("simulated dropped connection")
        if roll < k.rate_drop + k.rate_429:
            self.injected["429"] += 1
            await _send_json(send, 429, self.error_body(429), {"retry-after": str(k.retry_after_s)})
            return
        if roll < k.rate_drop + k.rate_429 + k.rate_5xx:
            self.injected["5xx"] += 1
            await _send_json(send, 503, self.error_body(503), {})
            return
        await self.app(scope, receive, send)


async def _send_json(
    send: Send, status: int, body: dict[str, object], extra: dict[str, str]
) -> None:
    raw = json.dumps(body).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(raw)).encode())]
    headers += [(k.encode(), v.encode()) for k, v in extra.items()]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": raw})
