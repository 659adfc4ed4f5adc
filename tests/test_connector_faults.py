"""The fault knobs every simulator takes: what a client sees, in-process and over a socket."""

from __future__ import annotations

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from syncbridge.sandbox.faults import FaultKnobs, FaultMiddleware
from tests.connectors.serving import serving

#: How long a simulated timeout stalls in the real-server test.
STALL_S = 5.0


async def _ok(_request: Request) -> PlainTextResponse:
    return PlainTextResponse("ok")


def faulty(knobs: FaultKnobs) -> FaultMiddleware:
    body = {429: {"error": "slow down"}, 503: {"error": "down"}}
    return FaultMiddleware(
        Starlette(routes=[Route("/", _ok)]), knobs, error_body=lambda status: body[status]
    )


async def _statuses(app: FaultMiddleware, calls: int) -> list[int | str]:
    out: list[int | str] = []
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://sim") as client:
        for _ in range(calls):
            try:
                out.append((await client.get("/")).status_code)
            except httpx.RemoteProtocolError:
                out.append("drop")
            except httpx.ReadTimeout:
                out.append("timeout")
    return out


async def test_injected_429_carries_retry_after_and_the_vendor_body() -> None:
    transport = httpx.ASGITransport(app=faulty(FaultKnobs(rate_429=1.0, retry_after_s=0)))
    async with httpx.AsyncClient(transport=transport, base_url="http://sim") as client:
        response = await client.get("/")
    assert response.status_code == 429
    assert response.headers["retry-after"] == "0"
    assert response.json() == {"error": "slow down"}


async def test_injected_5xx_uses_the_vendor_body() -> None:
    transport = httpx.ASGITransport(app=faulty(FaultKnobs(rate_5xx=1.0)))
    async with httpx.AsyncClient(transport=transport, base_url="http://sim") as client:
        response = await client.get("/")
    assert (response.status_code, response.json()) == (503, {"error": "down"})


async def test_the_same_seed_fails_the_same_way_and_counts_what_it_injected() -> None:
    knobs = FaultKnobs(rate_429=0.2, rate_5xx=0.2, rate_drop=0.15, rate_timeout=0.15, seed=5)
    first, second = faulty(knobs), faulty(knobs)
    seen = await _statuses(first, 40)
    assert seen == await _statuses(second, 40)
    assert first.injected == {
        "429": seen.count(429),
        "5xx": seen.count(503),
        "drop": seen.count("drop"),
        "timeout": seen.count("timeout"),
    }
    assert all(first.injected.values())
    assert seen.count(200) == 40 - sum(first.injected.values())


def test_a_dropped_connection_is_cut_under_a_real_server_not_a_500() -> None:
    app = faulty(FaultKnobs(rate_drop=1.0))
    with serving(app) as origin, pytest.raises(httpx.TransportError):
        httpx.get(origin + "/", timeout=5)
    assert app.injected["drop"] == 1


def test_a_timeout_stalls_past_the_client_read_timeout_under_a_real_server() -> None:
    # A stall 25 times the read timeout: no scheduling hiccup on a loaded machine closes that
    # gap. The test does not sit out the stall: the server is stopped once the client gives
    # up, abandoning the stalled request.
    app = faulty(FaultKnobs(rate_timeout=1.0, timeout_stall_s=STALL_S))
    with serving(app) as origin, pytest.raises(httpx.ReadTimeout):
        httpx.get(origin + "/", timeout=httpx.Timeout(5.0, read=STALL_S / 25))
    assert app.injected["timeout"] == 1
