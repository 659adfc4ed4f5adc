"""Issue 7, item 5: small faults that lost information or let data dangle."""

from __future__ import annotations

import uuid

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text

from syncbridge.api.problems import install_problem_handlers
from syncbridge.logs import configure_logging
from tests.plugins_connections import echo_installed, echo_settings


async def test_revoking_a_revoked_key_changes_nothing(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    created = (
        await client.post("/v1/keys", json={"name": "temp", "role": "viewer"}, headers=admin)
    ).json()
    for _ in range(2):
        response = await client.delete(f"/v1/keys/{created['id']}", headers=admin)
        assert response.status_code == 204
    keys = (await client.get("/v1/keys", headers=admin)).json()["items"]
    revoked = [k["revoked_at"] for k in keys if k["id"] == created["id"]]
    audit = await client.get(
        "/v1/audit", params={"action": "key.revoke", "entity_id": created["id"]}, headers=admin
    )
    assert audit.json()["total"] == 1
    assert audit.json()["items"][0]["after"]["revoked_at"] == revoked[0].replace("Z", "+00:00")


async def test_the_audit_names_the_key_id_so_keys_of_one_name_differ(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    raws = []
    for _ in range(2):
        made = await client.post("/v1/keys", json={"name": "ops", "role": "editor"}, headers=admin)
        raws.append(made.json())
    for n, made in enumerate(raws):
        headers = {"Authorization": f"Bearer {made['key']}"}
        body = {"key": f"s{n}", "title": f"S {n}"}
        assert (await client.post("/v1/taxonomy/schemes", json=body, headers=headers)).is_success
    audit = await client.get("/v1/audit", params={"action": "scheme.create"}, headers=admin)
    actors = {e["actor"] for e in audit.json()["items"]}
    assert actors == {f"key:ops ({made['id']})" for made in raws}


async def test_a_long_key_name_still_fits_the_audit_log(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    made = await client.post("/v1/keys", json={"name": "n" * 200, "role": "editor"}, headers=admin)
    headers = {"Authorization": f"Bearer {made.json()['key']}"}
    body = {"key": "long", "title": "Long"}
    response = await client.post("/v1/taxonomy/schemes", json=body, headers=headers)
    assert response.status_code == 201, response.text


async def test_a_rule_cannot_name_a_connection_that_does_not_exist(
    client: httpx.AsyncClient, editor: dict[str, str]
) -> None:
    body = {
        "connector_key": "echo",
        "connection_id": str(uuid.uuid4()),
        "field_path": "utm_source",
        "operator": "equals",
        "values": ["x"],
        "concept": "channel:email",
    }
    await _channel_email(client, editor)
    response = await client.post("/v1/mappings", json=body, headers=editor)
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["field"] == "connection_id"


async def _channel_email(client: httpx.AsyncClient, editor: dict[str, str]) -> None:
    await client.post("/v1/taxonomy/schemes", json={"key": "channel", "title": "C"}, headers=editor)
    concept = {"scheme": "channel", "key": "channel:email", "pref_label": {"en": "Email"}}
    await client.post("/v1/taxonomy/concepts", json=concept, headers=editor)


async def test_a_connection_with_live_rules_cannot_be_deleted(
    app: FastAPI, client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    await _channel_email(client, admin)
    async with echo_installed(app):
        conn = {"connector": "echo", "name": "scoped", "settings": echo_settings()}
        connection = (await client.post("/v1/connections", json=conn, headers=admin)).json()
    rule = {
        "connector_key": "echo",
        "connection_id": connection["id"],
        "field_path": "utm_source",
        "operator": "equals",
        "values": ["x"],
        "concept": "channel:email",
        "name": "scoped rule",
    }
    made = (await client.post("/v1/mappings", json=rule, headers=admin)).json()
    refused = await client.delete(f"/v1/connections/{connection['id']}", headers=admin)
    assert refused.status_code == 409, refused.text
    assert refused.json()["mappings"] == [{"id": made["id"], "name": "scoped rule"}]
    assert (await client.delete(f"/v1/mappings/{made['id']}", headers=admin)).status_code == 204
    deleted = await client.delete(f"/v1/connections/{connection['id']}", headers=admin)
    assert deleted.status_code == 204


async def test_a_database_error_is_logged_with_its_traceback_and_no_parameters(
    app: FastAPI, capsys: pytest.CaptureFixture[str]
) -> None:
    configure_logging("INFO", json=True)
    handler = FastAPI()
    install_problem_handlers(handler)

    secret = uuid.uuid4().hex  # made at run time, so no source line in a traceback shows it

    @handler.get("/boom")
    async def boom() -> None:
        async with app.state.engine.connect() as conn:
            await conn.execute(text("SELECT * FROM no_such_table WHERE x = :p"), {"p": secret})

    transport = httpx.ASGITransport(app=handler, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
        response = await c.get("/boom")
    assert response.status_code == 500
    logged = capsys.readouterr().err
    assert "api.unhandled_error" in logged
    assert "Traceback" in logged
    assert "no_such_table" in logged
    assert secret not in logged


def test_the_installed_pyyaml_has_no_merge_key_blowup() -> None:
    # PyYAML before 6.0.4 spends minutes and gigabytes expanding a merge-key bomb; the
    # dependency is pinned to >=6.0.4 and this checks the environment honours the pin.
    from importlib.metadata import version

    parts = tuple(int(p) for p in version("pyyaml").split(".")[:3])
    assert parts >= (6, 0, 4)


def test_http_libraries_do_not_log_every_request_url() -> None:
    # httpx logs each request's URL, query included (cursors, signatures), at INFO.
    import logging

    from syncbridge.logs import configure_logging

    configure_logging(level="INFO", json=True)
    for name in ("httpx", "httpcore", "alembic"):
        assert logging.getLogger(name).getEffectiveLevel() >= logging.WARNING, name
