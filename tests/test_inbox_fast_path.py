"""The receiver's lean path: which requests it answers before the middleware stack, and
that the application built for serving uses it. What it answers (2xx after commit, 401, 404,
413 on streamed bytes, 503) is shown through HTTP by the receiver tests (R3, R4 and
``test_inbox_receive``), which all pass through it."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.datastructures import URL
from starlette.types import Receive, Scope, Send

from syncbridge.app import SyncbridgeAPI
from syncbridge.inbox import fast_path
from syncbridge.inbox.endpoints import called_url
from syncbridge.inbox.fast_path import delivery_target
from syncbridge.settings import Settings
from tests.inbox_support import sandboxed_app

ID = uuid.UUID("0b6f3c2e-3f4a-4d53-9d43-7a2f0e6b1c11")


def http(method: str, path: str) -> dict[str, object]:
    return {"type": "http", "method": method, "path": path, "headers": []}


@pytest.mark.parametrize(
    "path", [f"/webhooks/{ID}", f"/webhooks/{ID}/an-outbound-secret", f"/webhooks/{ID.hex}"]
)
def test_a_post_to_a_receiver_path_is_a_delivery_for_its_connection(path: str) -> None:
    assert delivery_target(http("POST", path)) == ID


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", f"/webhooks/{ID}"),
        ("PUT", f"/webhooks/{ID}"),
        ("POST", "/webhooks/not-a-connection"),
        ("POST", f"/webhooks/{ID}/a/b"),
        ("POST", f"/webhooks/{ID}/"),
        ("POST", f"/v1/webhooks/{ID}"),
        ("POST", "/v1/runs"),
    ],
)
def test_anything_else_goes_on_to_the_middleware_stack(method: str, path: str) -> None:
    assert delivery_target(http(method, path)) is None
    assert delivery_target({"type": "websocket", "path": f"/webhooks/{ID}"}) is None


async def test_the_application_answers_deliveries_before_its_middleware_stack(
    settings: Settings, tmp_path: Path
) -> None:
    """A delivery never reaches the middleware stack (where it would pass the key check and
    the body limit's wrapping); any other request does."""
    async with sandboxed_app(settings, tmp_path / "dam") as world:
        app = world.app
        assert isinstance(app, SyncbridgeAPI)
        stack = app.build_middleware_stack()
        reached: list[str] = []

        async def recorder(scope: Scope, receive: Receive, send: Send) -> None:
            reached.append(f"{scope['method']} {scope['path']}")
            await stack(scope, receive, send)

        app.middleware_stack = recorder
        sim = world.simulator("hubspot")
        url = world.webhook_url("hubspot")
        headers, body, _ = sim.notification("deals", sorted(sim.ids("deals"))[0], url=url)
        answer = await world.client.post(url, content=body, headers=headers)
        assert answer.status_code == 200, answer.text
        assert reached == []
        assert (await world.client.get(url)).status_code == 405
        assert reached == [f"GET {httpx.URL(url).path}"]


async def test_other_methods_and_bad_ids_get_the_routers_answers(
    settings: Settings, tmp_path: Path
) -> None:
    async with sandboxed_app(settings, tmp_path / "dam") as world:
        url = world.webhook_url("hubspot")
        assert (await world.client.get(url)).status_code == 405
        assert (
            await world.client.post("/webhooks/not-a-connection", content=b"[]")
        ).status_code == 404
        unknown = await world.client.post(f"/webhooks/{ID}", content=b"[]")
        assert unknown.status_code == 404
        assert unknown.headers["content-type"].startswith("application/problem+json")


def _scope(**changes: Any) -> dict[str, Any]:
    scope: dict[str, Any] = {
        "type": "http",
        "method": "POST",
        "scheme": "http",
        "server": ("127.0.0.1", 8000),
        "path": f"/webhooks/{ID}",
        "query_string": b"",
        "headers": [(b"host", b"hooks.example.com")],
    }
    return scope | changes


#: Requests that differ from the first in one thing the called URL is built from.
VARIANTS: list[dict[str, Any]] = [
    {},
    {"scheme": "https"},
    {"server": ("10.0.0.2", 9000), "headers": []},
    {"server": ["10.0.0.3", 9000], "headers": []},  # ASGI allows any iterable
    {"path": f"/webhooks/{ID}/an-outbound-secret"},
    {"path": f"/webhooks/{ID}/a?b#c"},
    {"query_string": b"portal=1"},
    {"query_string": b"portal=2"},
    {"headers": [(b"x-other", b"1"), (b"host", b"other.example.com:8443")]},
]


@pytest.mark.parametrize("public_url", [None, "https://syncbridge.example.com/"])
def test_the_called_url_is_what_the_request_says_every_time(
    public_url: str | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The receiver remembers the URL each request was called at (building it cost a few
    per cent of a delivery): asked again, in any order, each request still gets its own."""
    monkeypatch.setattr(fast_path, "_CALLED", {})
    settings = Settings(public_url=public_url)
    expected = [called_url(URL(scope=_scope(**v)), settings) for v in VARIANTS]
    assert len(set(expected)) == (len(VARIANTS) if public_url is None else 5)
    for _ in range(2):
        for variant, url in zip(reversed(VARIANTS), reversed(expected), strict=True):
            assert fast_path._called_url(_scope(**variant), settings) == url
    other = Settings(public_url="https://other.example.com")
    assert fast_path._called_url(_scope(), other) == called_url(URL(scope=_scope()), other)


def test_the_remembered_urls_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    """At most ``MAX_CALLED`` of them, none from a long request line or ``Host``."""
    monkeypatch.setattr(fast_path, "_CALLED", {})
    settings = Settings()
    for n in range(fast_path.MAX_CALLED + 10):
        scope = _scope(query_string=f"n={n}".encode())
        assert fast_path._called_url(scope, settings).endswith(f"?n={n}")
    assert 0 < len(fast_path._CALLED) <= fast_path.MAX_CALLED
    fast_path._CALLED.clear()
    long = "x" * fast_path.MAX_CALLED_CHARS
    for scope in (
        _scope(query_string=long.encode()),
        _scope(path=f"/webhooks/{ID}/{long}"),
        _scope(headers=[(b"host", long.encode())]),
    ):
        assert fast_path._called_url(scope, settings) == called_url(URL(scope=scope), settings)
    assert fast_path._CALLED == {}
