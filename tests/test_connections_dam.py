"""``/v1/connections`` with the real DAM connectors against their simulators.

The simulators sit behind the app's shared, SSRF-guarded client under a public-looking host
(names resolve through the guard's injectable resolver), each mounted under a path prefix
and configured from its own ``connection_settings``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.routing import Mount
from syncbridge_bynder.simulator import BynderSimulator
from syncbridge_cloudinary.simulator import CloudinarySimulator, SimulatorOptions
from syncbridge_localfolder.simulator import materialize

from syncbridge.connector.folders import ROOTS_ENV
from syncbridge.sandbox.world import World
from tests.connectors.bynder.support import identity
from tests.plugins_connections import HostTable

HOST = "dam.vendor.example"
BYNDER_URL = f"https://{HOST}/bynder"
CLOUDINARY_URL = f"https://{HOST}/cloudinary"


class Vendors:
    """The two simulated vendors the app's shared client reaches."""

    def __init__(self) -> None:
        world = World(seed=42, assets_count=8)
        self.bynder = BynderSimulator(world, identity=identity())
        self.cloudinary = CloudinarySimulator(world, SimulatorOptions())
        self.app = Starlette(
            routes=[
                Mount("/bynder", app=self.bynder),
                Mount("/cloudinary", app=self.cloudinary),
            ]
        )


@pytest.fixture
def vendors() -> Vendors:
    return Vendors()


@pytest.fixture
def vendor_transport(vendors: Vendors) -> httpx.AsyncBaseTransport:
    """The app's vendor calls reach the simulators (behind the app's own SSRF guard)."""
    return httpx.ASGITransport(app=vendors.app)


@pytest.fixture
def vendor_hosts() -> HostTable:
    return HostTable({HOST: ["93.184.216.50"]})


async def _create(
    client: httpx.AsyncClient, admin: dict[str, str], connector: str, settings: dict[str, Any]
) -> dict[str, Any]:
    body = {"connector": connector, "name": f"{connector}-dam", "settings": settings}
    response = await client.post("/v1/connections", json=body, headers=admin)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def _check(client: httpx.AsyncClient, admin: dict[str, str], created: dict[str, Any]) -> Any:
    response = await client.post(f"/v1/connections/{created['id']}/check", headers=admin)
    assert response.status_code == 200, response.text
    return response.json()


async def _check_with_a_wrong_secret(
    client: httpx.AsyncClient, admin: dict[str, str], created: dict[str, Any], field: str
) -> Any:
    """Replace the secret ``field`` with a wrong one, check, and show it is not echoed."""
    wrong = f"{field}-wrong-value-8812"
    url = f"/v1/connections/{created['id']}"
    response = await client.patch(url, json={"settings": {field: wrong}}, headers=admin)
    assert response.status_code == 200, response.text
    result = await _check(client, admin, created)
    assert wrong not in str(result)
    return result


async def test_bynder_connection_checks_ok_then_auth_failed(
    client: httpx.AsyncClient, admin: dict[str, str], vendors: Vendors
) -> None:
    settings = vendors.bynder.connection_settings(BYNDER_URL)
    created = await _create(client, admin, "bynder", settings)
    assert created["settings"]["permanent_token"] == "***"
    assert created["settings"]["base_url"] == BYNDER_URL

    result = await _check(client, admin, created)
    assert result["status"] == "ok", result
    assert result["account"]["name"] == vendors.bynder.account["name"]

    result = await _check_with_a_wrong_secret(client, admin, created, "permanent_token")
    assert result["status"] == "auth_failed", result
    assert "401" in result["detail"]


async def test_cloudinary_connection_checks_ok_then_auth_failed(
    client: httpx.AsyncClient, admin: dict[str, str], vendors: Vendors
) -> None:
    settings = vendors.cloudinary.connection_settings(CLOUDINARY_URL)
    created = await _create(client, admin, "cloudinary", settings)
    assert created["settings"]["api_secret"] == "***"
    assert settings["api_secret"] not in str(created)

    result = await _check(client, admin, created)
    assert result == {
        "status": "ok",
        "detail": f"cloud {settings['cloud_name']} reachable",
        "account": {"cloud_name": settings["cloud_name"], "plan": "Free"},
    }

    result = await _check_with_a_wrong_secret(client, admin, created, "api_secret")
    assert result["status"] == "auth_failed", result


async def test_checks_are_audited_without_secrets(
    client: httpx.AsyncClient, admin: dict[str, str], vendors: Vendors
) -> None:
    settings = vendors.bynder.connection_settings(BYNDER_URL)
    created = await _create(client, admin, "bynder", settings)
    await _check(client, admin, created)
    response = await client.get(
        f"/v1/audit?entity_type=connection&entity_id={created['id']}", headers=admin
    )
    audit = response.json()["items"]
    assert [entry["action"] for entry in audit] == ["connection.check", "connection.create"]
    assert audit[0]["after"]["status"] == "ok"
    assert settings["permanent_token"] not in response.text


async def test_a_bynder_portal_on_a_private_address_is_refused(
    client: httpx.AsyncClient, admin: dict[str, str], vendors: Vendors
) -> None:
    settings = vendors.bynder.connection_settings("http://10.0.0.7/bynder")
    body = {"connector": "bynder", "name": "private", "settings": settings}
    response = await client.post("/v1/connections", json=body, headers=admin)
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "settings.base_url"


async def test_localfolder_root_outside_the_permitted_directories_is_422(
    client: httpx.AsyncClient,
    admin: dict[str, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    permitted = tmp_path / "dams"
    permitted.mkdir()
    monkeypatch.setenv(ROOTS_ENV, str(permitted))
    body = {"connector": "localfolder", "name": "everything", "settings": {"root": "/"}}
    response = await client.post("/v1/connections", json=body, headers=admin)
    assert response.status_code == 422
    error = response.json()["errors"][0]
    assert error["field"] == "settings.root"
    assert ROOTS_ENV in error["reason"]

    dam = permitted / "brand"
    dam.mkdir()
    materialize(World(seed=42, assets_count=3), dam)
    created = await _create(client, admin, "localfolder", {"root": str(dam)})
    result = await _check(client, admin, created)
    assert result["status"] == "ok", result
