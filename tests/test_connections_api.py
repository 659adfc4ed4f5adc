"""``/v1/connections``: CRUD with write-only secrets, validation, roles, audit and checks."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession

from syncbridge.connections import repository
from syncbridge.connections.checks import check_connection
from syncbridge.connections.endpoints import app_context
from tests.plugins_connections import (
    GOOD_TOKEN,
    EchoConnector,
    EchoVendor,
    echo_installed,
    echo_settings,
)


@pytest.fixture
async def vendor(app: FastAPI) -> AsyncIterator[EchoVendor]:
    async with echo_installed(app) as installed:
        yield installed


async def _create(
    client: httpx.AsyncClient, headers: dict[str, str], name: str = "dam", **settings: Any
) -> dict[str, Any]:
    body = {"connector": "echo", "name": name, "settings": echo_settings(**settings)}
    response = await client.post("/v1/connections", json=body, headers=headers)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


@pytest.mark.usefixtures("vendor")
async def test_create_masks_secrets_and_stores_them_encrypted(
    client: httpx.AsyncClient, admin: dict[str, str], session: AsyncSession
) -> None:
    created = await _create(client, admin)
    assert created["connector"] == "echo"
    assert created["settings"] == {
        "base_url": "http://api.vendor.example",
        "token_endpoint": None,
        "region": "eu",
        "api_token": "***",
        "webhook_secret": None,
    }
    assert created["secrets_readable"] is True
    row = await repository.get(session, uuid.UUID(created["id"]))
    assert "api_token" not in row.settings
    assert row.secrets
    assert GOOD_TOKEN not in row.secrets


@pytest.mark.usefixtures("vendor")
async def test_get_and_list_mask_secrets_and_filter_by_connector(
    client: httpx.AsyncClient, admin: dict[str, str], viewer: dict[str, str]
) -> None:
    created = await _create(client, admin, webhook_secret="whsec-1")
    got = (await client.get(f"/v1/connections/{created['id']}", headers=viewer)).json()
    assert got["settings"]["api_token"] == "***"
    assert got["settings"]["webhook_secret"] == "***"
    listed = (await client.get("/v1/connections?connector=echo", headers=viewer)).json()
    assert [item["name"] for item in listed["items"]] == ["dam"]
    other = (await client.get("/v1/connections?connector=bynder", headers=viewer)).json()
    assert other["total"] == 0


@pytest.mark.usefixtures("vendor")
async def test_unknown_connector_is_422_naming_installed_ones(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    body = {"connector": "nope", "name": "x", "settings": {}}
    response = await client.post("/v1/connections", json=body, headers=admin)
    assert response.status_code == 422
    error = response.json()["errors"][0]
    assert error["field"] == "connector"
    assert "echo" in error["reason"]


@pytest.mark.usefixtures("vendor")
async def test_invalid_settings_name_the_field_and_never_echo_secrets(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    body = {
        "connector": "echo",
        "name": "x",
        "settings": {"api_token": "tok-should-not-echo-91", "colour": "blue"},
    }
    response = await client.post("/v1/connections", json=body, headers=admin)
    assert response.status_code == 422
    fields = {e["field"] for e in response.json()["errors"]}
    assert fields == {"settings.base_url", "settings.colour"}
    assert "tok-should-not-echo-91" not in response.text


@pytest.mark.usefixtures("vendor")
async def test_the_mask_is_not_accepted_as_a_new_secret(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    body = {"connector": "echo", "name": "x", "settings": echo_settings(api_token="***")}
    response = await client.post("/v1/connections", json=body, headers=admin)
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "settings.api_token"


@pytest.mark.usefixtures("vendor")
async def test_check_of_settings_the_connector_no_longer_accepts_is_error(
    client: httpx.AsyncClient, admin: dict[str, str], session: AsyncSession
) -> None:
    created = await _create(client, admin)
    row = await repository.get(session, uuid.UUID(created["id"]))
    row.settings = {**row.settings, "legacy_option": "secret-ish-value-31"}
    await session.commit()
    response = await client.post(f"/v1/connections/{created['id']}/check", headers=admin)
    result = response.json()
    assert result["status"] == "error"
    assert "legacy_option" in result["detail"]
    assert "secret-ish-value-31" not in response.text


@pytest.mark.usefixtures("vendor")
async def test_duplicate_name_is_409(client: httpx.AsyncClient, admin: dict[str, str]) -> None:
    await _create(client, admin, name="same")
    body = {"connector": "echo", "name": "same", "settings": echo_settings()}
    response = await client.post("/v1/connections", json=body, headers=admin)
    assert response.status_code == 409
    assert response.headers["content-type"] == "application/problem+json"


@pytest.mark.usefixtures("vendor")
async def test_viewer_and_editor_cannot_write(
    client: httpx.AsyncClient, admin: dict[str, str], viewer: dict[str, str], editor: dict[str, str]
) -> None:
    created = await _create(client, admin)
    url = f"/v1/connections/{created['id']}"
    body = {"connector": "echo", "name": "n", "settings": echo_settings()}
    for headers in (viewer, editor):
        assert (await client.post("/v1/connections", json=body, headers=headers)).status_code == 403
        assert (
            await client.patch(url, json={"enabled": False}, headers=headers)
        ).status_code == 403
        assert (await client.delete(url, headers=headers)).status_code == 403
        assert (await client.post(f"{url}/check", headers=headers)).status_code == 403
    assert (await client.get(url)).status_code == 401


@pytest.mark.usefixtures("vendor")
async def test_patch_keeps_secret_left_out_or_masked_and_revalidates(
    client: httpx.AsyncClient, admin: dict[str, str], app: FastAPI, session: AsyncSession
) -> None:
    created = await _create(client, admin, webhook_secret="whsec-keep")
    url = f"/v1/connections/{created['id']}"
    patched = await client.patch(
        url, json={"settings": {"region": "us", "api_token": "***"}}, headers=admin
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["settings"]["region"] == "us"
    ctx = app_context(app)
    row = await repository.get(session, uuid.UUID(created["id"]))
    await session.refresh(row)
    assert ctx.box.decrypt(row.secrets) == {"api_token": GOOD_TOKEN, "webhook_secret": "whsec-keep"}
    bad = await client.patch(url, json={"settings": {"base_url": None}}, headers=admin)
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["field"] == "settings.base_url"


@pytest.mark.usefixtures("vendor")
async def test_patch_replaces_and_unsets_secrets(
    client: httpx.AsyncClient, admin: dict[str, str], app: FastAPI, session: AsyncSession
) -> None:
    created = await _create(client, admin, webhook_secret="whsec-old")
    url = f"/v1/connections/{created['id']}"
    body = {"settings": {"api_token": "tok-new-2", "webhook_secret": None}, "enabled": False}
    patched = (await client.patch(url, json=body, headers=admin)).json()
    assert patched["settings"]["webhook_secret"] is None
    assert patched["enabled"] is False
    row = await repository.get(session, uuid.UUID(created["id"]))
    await session.refresh(row)
    assert app_context(app).box.decrypt(row.secrets) == {"api_token": "tok-new-2"}


@pytest.mark.usefixtures("vendor")
async def test_rename_to_a_taken_name_is_409(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    await _create(client, admin, name="a")
    second = await _create(client, admin, name="b")
    response = await client.patch(
        f"/v1/connections/{second['id']}", json={"name": "a"}, headers=admin
    )
    assert response.status_code == 409


@pytest.mark.usefixtures("vendor")
async def test_delete_then_404(client: httpx.AsyncClient, admin: dict[str, str]) -> None:
    created = await _create(client, admin)
    url = f"/v1/connections/{created['id']}"
    assert (await client.delete(url, headers=admin)).status_code == 204
    assert (await client.get(url, headers=admin)).status_code == 404
    assert (await client.delete(url, headers=admin)).status_code == 404


@pytest.mark.usefixtures("vendor")
async def test_writes_are_audited_with_masked_secrets(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    created = await _create(client, admin)
    url = f"/v1/connections/{created['id']}"
    await client.patch(url, json={"settings": {"api_token": "tok-rotated-77"}}, headers=admin)
    await client.post(f"{url}/check", headers=admin)
    await client.delete(url, headers=admin)
    audit = (
        await client.get(
            f"/v1/audit?entity_type=connection&entity_id={created['id']}", headers=admin
        )
    ).json()
    actions = [entry["action"] for entry in audit["items"]]
    assert actions == [
        "connection.delete",
        "connection.check",
        "connection.update",
        "connection.create",
    ]
    update = audit["items"][2]
    assert update["before"]["settings"]["api_token"] == "***"
    assert update["after"]["settings"]["api_token"] == "***"
    assert update["actor"].startswith("key:test-admin (")
    assert GOOD_TOKEN not in str(audit)
    assert "tok-rotated-77" not in str(audit)


async def _check(client: httpx.AsyncClient, admin: dict[str, str], **settings: Any) -> Any:
    created = await _create(client, admin, **settings)
    response = await client.post(f"/v1/connections/{created['id']}/check", headers=admin)
    assert response.status_code == 200, response.text
    return response.json()


@pytest.mark.usefixtures("vendor")
async def test_check_ok_reports_the_account_and_closes_the_instance(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    closed_before = len(EchoConnector.closed)
    result = await _check(client, admin)
    assert result == {"status": "ok", "detail": "reachable", "account": {"account": "acme"}}
    assert len(EchoConnector.closed) == closed_before + 1


@pytest.mark.usefixtures("vendor")
async def test_check_with_a_wrong_token_is_auth_failed(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    result = await _check(client, admin, api_token="tok-wrong-5521")
    assert result["status"] == "auth_failed"
    assert "401" in result["detail"]
    assert "tok-wrong-5521" not in str(result)


@pytest.mark.usefixtures("vendor")
async def test_check_of_a_failing_vendor_is_unreachable(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    result = await _check(client, admin, base_url="http://down.vendor.example")
    assert result["status"] == "unreachable"
    assert "503" in result["detail"]


async def test_check_of_a_host_that_stopped_resolving_is_unreachable(
    client: httpx.AsyncClient, admin: dict[str, str], vendor: EchoVendor
) -> None:
    vendor.hosts.table["gone.vendor.example"] = ["93.184.216.40"]
    created = await _create(client, admin, base_url="http://gone.vendor.example")
    del vendor.hosts.table["gone.vendor.example"]
    response = await client.post(f"/v1/connections/{created['id']}/check", headers=admin)
    result = response.json()
    assert result["status"] == "unreachable"
    assert "ConnectError" in result["detail"]
    assert "SSRF" not in result["detail"]


@pytest.mark.usefixtures("vendor")
async def test_check_of_a_garbage_answer_is_error(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    result = await _check(client, admin, base_url="http://garbage.vendor.example")
    assert result["status"] == "error"
    assert "garbage" in result["detail"]


async def test_check_past_its_time_limit_is_unreachable_and_closes(
    client: httpx.AsyncClient,
    admin: dict[str, str],
    app: FastAPI,
    vendor: EchoVendor,
    session: AsyncSession,
) -> None:
    created = await _create(client, admin, base_url="http://slow.vendor.example")
    row = await repository.get(session, uuid.UUID(created["id"]))
    closed_before = len(EchoConnector.closed)
    outcome = await check_connection(app_context(app), row, vendor.client, timeout_s=0.05)
    assert outcome.status == "unreachable"
    assert "no answer within 0.05 s" in outcome.detail
    assert len(EchoConnector.closed) == closed_before + 1
