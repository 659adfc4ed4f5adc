"""Changing a connection's vendor URL needs its secrets again, so they can't be redirected."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI

from tests.plugins_connections import GOOD_TOKEN, EchoVendor, echo_installed, echo_settings


@pytest.fixture
async def connection_url(
    app: FastAPI, client: httpx.AsyncClient, admin: dict[str, str]
) -> AsyncIterator[str]:
    async with echo_installed(app):
        body = {"connector": "echo", "name": "dam", "settings": echo_settings()}
        created = await client.post("/v1/connections", json=body, headers=admin)
        assert created.status_code == 201, created.text
        yield f"/v1/connections/{created.json()['id']}"


@pytest.mark.parametrize("token", [None, "***"])
async def test_new_url_without_the_secret_is_refused(
    client: httpx.AsyncClient, admin: dict[str, str], connection_url: str, token: str | None
) -> None:
    settings = {"base_url": "http://bounce.vendor.example"}
    if token is not None:
        settings["api_token"] = token
    response = await client.patch(connection_url, json={"settings": settings}, headers=admin)
    assert response.status_code == 422
    assert response.json()["errors"] == [
        {"field": "settings.api_token", "reason": "must be re-entered when a URL changes"}
    ]
    unchanged = (await client.get(connection_url, headers=admin)).json()
    assert unchanged["settings"]["base_url"] == "http://api.vendor.example"


async def test_new_url_with_the_secret_re_entered_is_saved(
    client: httpx.AsyncClient, admin: dict[str, str], connection_url: str
) -> None:
    settings = {"base_url": "http://bounce.vendor.example", "api_token": GOOD_TOKEN}
    response = await client.patch(connection_url, json={"settings": settings}, headers=admin)
    assert response.status_code == 200, response.text
    assert response.json()["settings"]["base_url"] == "http://bounce.vendor.example"


async def test_same_url_keeps_the_stored_secret(
    client: httpx.AsyncClient, admin: dict[str, str], connection_url: str
) -> None:
    settings = {"base_url": "http://api.vendor.example", "region": "us"}
    response = await client.patch(connection_url, json={"settings": settings}, headers=admin)
    assert response.status_code == 200, response.text
    assert response.json()["settings"]["api_token"] == "***"


__all__ = ["EchoVendor"]
