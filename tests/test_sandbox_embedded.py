"""`syncbridge serve --sandbox`: simulators mounted in the API with working connections."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from starlette.types import Receive, Scope, Send

from syncbridge.app import create_app
from syncbridge.cli.serve import sandbox_settings
from syncbridge.connector.registry import ConnectorRegistry
from syncbridge.sandbox.embedded import EmbeddedSandbox, prepare_sandbox_connections
from syncbridge.sandbox.spec import SandboxRegistry
from syncbridge.sandbox.world import World
from syncbridge.settings import Settings

PUBLIC_URL = "http://127.0.0.1:8000"


@pytest.fixture
def sandbox(tmp_path: Path) -> EmbeddedSandbox:
    return EmbeddedSandbox.build(
        SandboxRegistry.from_entry_points(),
        ConnectorRegistry.from_entry_points(),
        world=World(assets_count=30),
        public_url=PUBLIC_URL,
        folder=tmp_path / "sandbox-dam",
    )


@pytest.fixture
async def sandbox_client(
    settings: Settings, sandbox: EmbeddedSandbox
) -> AsyncIterator[httpx.AsyncClient]:
    # As `serve --sandbox` does it: only the sandbox's own origin is let past the SSRF guard.
    local = sandbox_settings(settings, PUBLIC_URL, sandbox.folder)
    await prepare_sandbox_connections(local, sandbox, ConnectorRegistry.from_entry_points())
    # The API calls its own mounted simulators at PUBLIC_URL; in-process, that traffic goes
    # straight into the app (through its SSRF guard) instead of over a socket.
    built: list[FastAPI] = []

    async def into_the_app(scope: Scope, receive: Receive, send: Send) -> None:
        await built[0](scope, receive, send)

    app: FastAPI = create_app(local, sandbox, transport=httpx.ASGITransport(app=into_the_app))
    built.append(app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=PUBLIC_URL) as client,
    ):
        yield client


HTTP_VENDORS = {"bynder", "cloudinary", "hubspot", "salesforce", "ga4"}
FILE_BASED = {"localfolder", "csv"}


def test_every_installed_connector_gets_a_sandbox(sandbox: EmbeddedSandbox) -> None:
    assert set(sandbox.connection_settings) == HTTP_VENDORS | FILE_BASED
    assert set(sandbox.simulators) == HTTP_VENDORS
    for key in FILE_BASED:
        assert any(p.is_file() for p in (sandbox.folder / key).rglob("*")), key


async def test_sandbox_connections_check_ok(
    sandbox_client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    listed = (await sandbox_client.get("/v1/connections", headers=admin)).json()["items"]
    assert {c["name"] for c in listed} == {f"sandbox-{k}" for k in HTTP_VENDORS | FILE_BASED}
    for connection in listed:
        result = await sandbox_client.post(
            f"/v1/connections/{connection['id']}/check", headers=admin
        )
        assert result.status_code == 200
        assert result.json()["status"] == "ok", (connection["name"], result.json())


async def test_restarting_the_sandbox_keeps_one_connection_each(
    settings: Settings, sandbox: EmbeddedSandbox
) -> None:
    # As `serve --sandbox` does it: only the sandbox's own origin is let past the SSRF guard.
    local = sandbox_settings(settings, PUBLIC_URL, sandbox.folder)
    registry = ConnectorRegistry.from_entry_points()
    first = await prepare_sandbox_connections(local, sandbox, registry)
    again = EmbeddedSandbox.build(
        SandboxRegistry.from_entry_points(),
        registry,
        world=World(assets_count=30),
        public_url=PUBLIC_URL,
        folder=sandbox.folder,
    )
    second = await prepare_sandbox_connections(local, again, registry)
    assert sorted(first) == sorted(second)


async def test_simulators_answer_under_their_mount(sandbox_client: httpx.AsyncClient) -> None:
    response = await sandbox_client.get("/sandbox/bynder/api/v4/media/", params={"limit": 5})
    assert response.status_code == 401  # the simulator wants its token, like Bynder does


@pytest.mark.parametrize(
    "base_url",
    ["http://127.0.0.1:8001/sandbox/bynder", "http://10.0.0.5", "http://localhost:8000"],
)
async def test_the_sandbox_lets_only_its_own_origin_past_the_ssrf_guard(
    sandbox_client: httpx.AsyncClient, admin: dict[str, str], base_url: str
) -> None:
    # `serve --sandbox` used to lift the guard for every connection; now only the sandbox's
    # simulators (PUBLIC_URL) are reachable on local addresses.
    listed = (await sandbox_client.get("/v1/connections", headers=admin)).json()["items"]
    bynder = next(c for c in listed if c["connector"] == "bynder")
    response = await sandbox_client.patch(
        f"/v1/connections/{bynder['id']}",
        json={"settings": {"base_url": base_url, "permanent_token": "tok-other"}},
        headers=admin,
    )
    assert response.status_code == 422, response.text
    assert "SSRF" in response.text
