"""Fault knobs every vendor simulator takes: 429s, 5xx, latency, timeouts, dropped connections.

The knobs are applied by :class:`FaultMiddleware` before the simulator sees the request,
from a seeded random generator, so a run with the same seed fails the same way.
"""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import NoReturn

import httpx
from starlette.types import ASGIApp, Receive, Scope, Send


@dataclass
class FaultKnobs:
    """Probabilities (0..1) and delays for injected faults."""

    rate_429: float = 0.0
    rate_5xx: float = 0.0
    rate_drop: float = 0.0
    #: Share of requests that time out: the simulator stalls ``timeout_stall_s``, then cuts
    #: the connection (in-process the client sees ``httpx.ReadTimeout``).
    rate_timeout: float = 0.0
    latency_s: float = 0.0
    #: ``Retry-After`` seconds sent with injected 429s (0 is legal and seen in the wild).
    retry_after_s: int = 1
    #: How long a timed-out request hangs first: set it above the client's read timeout
    #: (30 s for the shared client) when serving for real; 0 in-process.
    timeout_stall_s: float = 0.0
    seed: int = 7

    @property
    def active(self) -> bool:
        return any(
            (self.rate_429, self.rate_5xx, self.rate_drop, self.rate_timeout, self.latency_s)
        )


#: Builds the body of an injected 429/5xx in the vendor's own error shape.
ErrorBody = Callable[[int], Mapping[str, object]]


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
        self.injected: dict[str, int] = {"429": 0, "5xx": 0, "drop": 0, "timeout": 0}

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
            await _drop_connection(send, httpx.RemoteProtocolError("simulated dropped connection"))
        roll -= k.rate_drop
        if roll < k.rate_timeout:
            self.injected["timeout"] += 1
            await asyncio.sleep(k.timeout_stall_s)
            await _drop_connection(send, httpx.ReadTimeout("simulated timeout"))
        roll -= k.rate_timeout
        if roll < k.rate_429:
            self.injected["429"] += 1
            await _send_json(send, 429, self.error_body(429), {"retry-after": str(k.retry_after_s)})
            return
        if roll < k.rate_429 + k.rate_5xx:
            self.injected["5xx"] += 1
            await _send_json(send, 503, self.error_body(503), {})
            return
        await self.app(scope, receive, send)


async def _drop_connection(send: Send, seen_in_process: httpx.TransportError) -> NoReturn:
    """Cut the connection mid-response, as a crashed server or a broken network does.

    ASGI has no "close the connection" message, but a server closes it when the app fails
    after the response has started: so start one that promises a body, then fail. Under
    uvicorn the client sees the connection close early (not a 500, which a server sends when
    the app fails *before* starting); in-process, ``httpx.ASGITransport`` re-raises
    ``seen_in_process``, the error a real client would see.
    """
    await send(
        {"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"64")]}
    )
    raise seen_in_process


async def _send_json(
    send: Send, status: int, body: Mapping[str, object], extra: dict[str, str]
) -> None:
    raw = json.dumps(body).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(raw)).encode())]
    headers += [(k.encode(), v.encode()) for k, v in extra.items()]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": raw})
