"""`syncbridge serve --sandbox`: simulators mounted in the API with working connections."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from starlette.types import Receive, Scope, Send

from syncbridge.app import create_app
from syncbridge.connector.registry import ConnectorRegistry
from syncbridge.sandbox.embedded import EmbeddedSandbox, prepare_sandbox_connections
from syncbridge.sandbox.world import World
from syncbridge.settings import Settings

PUBLIC_URL = "http://127.0.0.1:8000"


@pytest.fixture
def sandbox(tmp_path: Path) -> EmbeddedSandbox:
    return EmbeddedSandbox.build(
        ConnectorRegistry.from_entry_points(),
        world=World(assets_count=30),
        public_url=PUBLIC_URL,
        folder=tmp_path / "sandbox-dam",
    )


@pytest.fixture
async def sandbox_client(
    settings: Settings, sandbox: EmbeddedSandbox
) -> AsyncIterator[httpx.AsyncClient]:
    local = settings.model_copy(update={"allow_local_connections": True})
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


def test_every_installed_dam_gets_a_sandbox(sandbox: EmbeddedSandbox) -> None:
    assert set(sandbox.connection_settings) == {"bynder", "cloudinary", "localfolder"}
    assert set(sandbox.simulators) == {"bynder", "cloudinary"}
    assert any(p.is_file() for p in sandbox.folder.rglob("*"))


async def test_sandbox_connections_check_ok(
    sandbox_client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    listed = (await sandbox_client.get("/v1/connections", headers=admin)).json()["items"]
    assert {c["name"] for c in listed} == {
        "sandbox-bynder",
        "sandbox-cloudinary",
        "sandbox-localfolder",
    }
    for connection in listed:
        result = await sandbox_client.post(
            f"/v1/connections/{connection['id']}/check", headers=admin
        )
        assert result.status_code == 200
        assert result.json()["status"] == "ok", (connection["name"], result.json())


async def test_restarting_the_sandbox_keeps_one_connection_each(
    settings: Settings, sandbox: EmbeddedSandbox
) -> None:
    local = settings.model_copy(update={"allow_local_connections": True})
    registry = ConnectorRegistry.from_entry_points()
    first = await prepare_sandbox_connections(local, sandbox, registry)
    again = EmbeddedSandbox.build(
        registry, world=World(assets_count=30), public_url=PUBLIC_URL, folder=sandbox.folder
    )
    second = await prepare_sandbox_connections(local, again, registry)
    assert sorted(first) == sorted(second)


async def test_simulators_answer_under_their_mount(sandbox_client: httpx.AsyncClient) -> None:
    response = await sandbox_client.get("/sandbox/bynder/api/v4/media/", params={"limit": 5})
    assert response.status_code == 401  # the simulator wants its token, like Bynder does
