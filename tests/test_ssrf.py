"""QUALITY R7: connection URLs cannot reach local, private or metadata hosts.

Every case is refused when saved (422 on ``settings.base_url``) and when called (the check
answers ``unreachable``, refused by the SSRF guard), unless the sandbox setting allows local
hosts. Host names resolve through a fixed table (see ``tests/plugins_connections.py``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from syncbridge.app import create_app
from syncbridge.connections.ssrf import SSRFRefused, parse_ip_literal, validate_url
from syncbridge.errors import InvalidInput
from syncbridge.settings import Settings
from tests.plugins_connections import (
    GOOD_TOKEN,
    HOSTS,
    EchoVendor,
    HostTable,
    echo_installed,
    echo_settings,
    vendor_client,
)

#: Hosts refused unless local hosts are allowed: (case id, base URL).
LOCAL_HOSTS = [
    ("loopback", "http://127.0.0.1"),
    ("loopback-other", "http://127.8.9.10:8080"),
    ("loopback-v6", "http://[::1]"),
    ("private-10", "http://10.1.2.3"),
    ("private-172", "http://172.16.0.1"),
    ("private-192", "http://192.168.1.1"),
    ("private-v6", "http://[fc00::1]"),
    ("link-local", "http://169.254.10.10"),
    ("link-local-v6", "http://[fe80::1]"),
    ("metadata", "http://169.254.169.254/latest/meta-data"),
    ("metadata-v6", "http://[fd00:ec2::254]"),
    ("metadata-name", "http://metadata"),
    ("metadata-gcp", "http://metadata.google.internal"),
    ("localhost", "http://localhost:8000"),
    ("unspecified", "http://0.0.0.0"),
    ("unspecified-v6", "http://[::]"),
    ("multicast", "http://224.0.0.1"),
    ("multicast-v6", "http://[ff02::1]"),
    ("reserved", "http://240.0.0.1"),
    ("cgnat", "http://100.64.0.1"),
    ("v4-mapped", "http://[::ffff:127.0.0.1]"),
    ("v4-mapped-private", "http://[::ffff:10.0.0.1]"),
    ("v4-compatible", "http://[::127.0.0.1]"),
    ("nat64-loopback", "http://[64:ff9b::7f00:1]"),
    ("decimal", "http://2130706433"),
    ("octal", "http://0177.0.1"),
    ("octal-single", "http://017700000001"),
    ("hex", "http://0x7f.1"),
    ("hex-single", "http://0x7f000001"),
    ("short", "http://127.1"),
    ("trailing-dot", "http://127.0.0.1."),
    ("name-to-private", "http://internal.example"),
    ("name-with-one-bad-address", "https://split.example"),
]
#: Refused always, sandbox or not: not an http(s) URL a connector should call.
BAD_SHAPES = [
    ("file", "file:///etc/passwd"),
    ("gopher", "gopher://api.vendor.example:70/_x"),
    ("ftp", "ftp://api.vendor.example/"),
    ("userinfo", "http://user:pass@api.vendor.example/"),
    ("userinfo-trick", "http://api.vendor.example@127.0.0.1/"),
    ("octal-dotted", "http://0177.0.0.1"),
]


def _ids(cases: list[tuple[str, str]]) -> list[Any]:
    return [pytest.param(url, id=case) for case, url in cases]


@pytest.fixture
async def vendor(app: FastAPI) -> AsyncIterator[EchoVendor]:
    async with echo_installed(app) as installed:
        yield installed


@pytest.fixture
async def sandbox_app(
    settings: Settings, vendor_transport: httpx.AsyncBaseTransport, vendor_hosts: HostTable
) -> AsyncIterator[FastAPI]:
    """The app with ``allow_local_connections`` on (the sandbox), on the same store."""
    application = create_app(
        settings.model_copy(update={"allow_local_connections": True}),
        transport=vendor_transport,
        resolver=vendor_hosts,
    )
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def sandbox_client(sandbox_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=sandbox_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


async def _save(
    client: httpx.AsyncClient, admin: dict[str, str], base_url: str, name: str = "c"
) -> httpx.Response:
    body = {"connector": "echo", "name": name, "settings": echo_settings(base_url=base_url)}
    return await client.post("/v1/connections", json=body, headers=admin)


async def _check(client: httpx.AsyncClient, admin: dict[str, str], connection_id: str) -> Any:
    response = await client.post(f"/v1/connections/{connection_id}/check", headers=admin)
    assert response.status_code == 200, response.text
    return response.json()


@pytest.mark.usefixtures("vendor")
@pytest.mark.parametrize("base_url", _ids(LOCAL_HOSTS + BAD_SHAPES))
async def test_refused_when_saved(
    client: httpx.AsyncClient, admin: dict[str, str], base_url: str
) -> None:
    response = await _save(client, admin, base_url)
    assert response.status_code == 422, response.text
    error = response.json()["errors"][0]
    assert error["field"] == "settings.base_url"
    assert "SSRF" in error["reason"]
    listed = (await client.get("/v1/connections", headers=admin)).json()
    assert listed["total"] == 0


@pytest.mark.usefixtures("vendor")
async def test_every_marked_url_is_checked_whatever_its_name(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    settings = echo_settings(token_endpoint="http://169.254.169.254/latest/meta-data")
    body = {"connector": "echo", "name": "c", "settings": settings}
    response = await client.post("/v1/connections", json=body, headers=admin)
    assert response.status_code == 422, response.text
    error = response.json()["errors"][0]
    assert error["field"] == "settings.token_endpoint"
    assert "SSRF" in error["reason"]


@pytest.mark.usefixtures("vendor")
@pytest.mark.parametrize("base_url", _ids(LOCAL_HOSTS))
async def test_refused_when_patched_in(
    client: httpx.AsyncClient, admin: dict[str, str], base_url: str
) -> None:
    created = (await _save(client, admin, "http://api.vendor.example")).json()
    response = await client.patch(
        f"/v1/connections/{created['id']}",
        # The secret is re-entered, as a URL change requires, so only the guard can refuse.
        json={"settings": {"base_url": base_url, "api_token": GOOD_TOKEN}},
        headers=admin,
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "settings.base_url"


async def _save_and_check_in_sandbox(
    app: FastAPI, client: httpx.AsyncClient, admin: dict[str, str], base_url: str
) -> Any:
    """Save ``base_url`` where local hosts are allowed, then check it there."""
    async with echo_installed(app):
        saved = await _save(client, admin, base_url)
        assert saved.status_code == 201, saved.text
        return await _check(client, admin, saved.json()["id"])


@pytest.mark.parametrize("base_url", _ids(LOCAL_HOSTS))
async def test_refused_when_called(
    app: FastAPI,
    client: httpx.AsyncClient,
    sandbox_app: FastAPI,
    sandbox_client: httpx.AsyncClient,
    admin: dict[str, str],
    base_url: str,
) -> None:
    # Saved where local hosts were allowed, then called by an app where they are not (the
    # same store): its client's guard refuses the call.
    async with echo_installed(sandbox_app), echo_installed(app):
        saved = await _save(sandbox_client, admin, base_url)
        assert saved.status_code == 201, saved.text
        result = await _check(client, admin, saved.json()["id"])
    assert result["status"] == "unreachable"
    assert "Refused by the SSRF guard" in result["detail"]


@pytest.mark.parametrize("base_url", _ids(LOCAL_HOSTS))
async def test_allowed_in_the_sandbox(
    sandbox_app: FastAPI, sandbox_client: httpx.AsyncClient, admin: dict[str, str], base_url: str
) -> None:
    result = await _save_and_check_in_sandbox(sandbox_app, sandbox_client, admin, base_url)
    assert result["status"] == "ok"


@pytest.mark.parametrize("url", _ids(LOCAL_HOSTS + BAD_SHAPES[:-1]))
async def test_guarded_transport_refuses_every_request(url: str) -> None:
    async with vendor_client(guard=True, hosts=HostTable(HOSTS)) as client:
        with pytest.raises(SSRFRefused, match="Refused by the SSRF guard"):
            await client.get(url)


@pytest.mark.usefixtures("vendor")
async def test_redirect_to_loopback_is_refused_when_followed(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    saved = await _save(client, admin, "http://bounce.vendor.example")
    assert saved.status_code == 201
    result = await _check(client, admin, saved.json()["id"])
    assert result["status"] == "unreachable"
    assert "127.0.0.1 is a loopback address" in result["detail"]


async def test_redirect_to_loopback_is_followed_in_the_sandbox(
    sandbox_app: FastAPI, sandbox_client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    result = await _save_and_check_in_sandbox(
        sandbox_app, sandbox_client, admin, "http://bounce.vendor.example"
    )
    assert result["status"] == "ok"


async def test_dns_changed_since_saving_is_refused_when_called(
    client: httpx.AsyncClient, admin: dict[str, str], vendor: EchoVendor
) -> None:
    vendor.hosts.table["rebind.example"] = ["93.184.216.41"]
    saved = await _save(client, admin, "http://rebind.example")
    assert saved.status_code == 201
    vendor.hosts.table["rebind.example"] = ["169.254.169.254"]
    result = await _check(client, admin, saved.json()["id"])
    assert result["status"] == "unreachable"
    assert "cloud metadata" in result["detail"]


@pytest.mark.usefixtures("vendor")
async def test_public_host_is_saved_and_called(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    saved = await _save(client, admin, "https://api.vendor.example:8443/v5")
    assert saved.status_code == 201
    assert saved.json()["settings"]["base_url"] == "https://api.vendor.example:8443/v5"
    plain = await _save(client, admin, "http://api.vendor.example", name="plain")
    assert (await _check(client, admin, plain.json()["id"]))["status"] == "ok"


@pytest.mark.usefixtures("vendor")
async def test_unresolvable_host_is_refused_when_saved(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    response = await _save(client, admin, "http://no-such-host.example")
    assert response.status_code == 422
    assert "does not resolve" in response.json()["errors"][0]["reason"]


@pytest.mark.parametrize("url", ["file:///etc/passwd", "http://u:p@api.vendor.example/"])
async def test_sandbox_still_refuses_bad_shapes(url: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        await validate_url(url, allow_local=True, field="settings.webhook_url")
    assert caught.value.errors[0]["field"] == "settings.webhook_url"


@pytest.mark.parametrize(
    ("host", "address"),
    [
        ("2130706433", "127.0.0.1"),
        ("0177.0.0.1", "127.0.0.1"),
        ("0x7f.1", "127.0.0.1"),
        ("127.1", "127.0.0.1"),
        ("10.1", "10.0.0.1"),
        ("0xa.0.258", "10.0.1.2"),
        ("[::ffff:7f00:1]", "::ffff:7f00:1"),
        ("fe80::1%25eth0", "fe80::1"),
        ("example.com", None),
        ("1.2.3.4.5", None),
        ("256.1.1.1", None),
        ("08.1.1.1", None),
    ],
)
def test_ip_spellings_are_read_like_inet_aton(host: str, address: str | None) -> None:
    parsed = parse_ip_literal(host)
    assert (None if parsed is None else str(parsed)) == address
