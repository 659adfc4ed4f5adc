"""Health, keys, audit and the error format: the plumbing every endpoint shares."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession

from syncbridge.models.base import utcnow
from syncbridge.schedule.repository import beat
from tests.conftest import BACKEND, bearer


async def test_healthz_answers_without_a_key(client: httpx.AsyncClient) -> None:
    response = await client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_readyz_reports_the_database(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    # A worker is alive (on SQLite the app's own worker beat already).
    await beat(session, "a-worker", utcnow())
    await session.commit()
    response = await client.get("/readyz")
    assert response.status_code == 200
    assert response.json()["status"] == "ready"


async def test_missing_key_is_401_problem(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/audit")
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.json()["status"] == 401


async def test_unknown_key_is_401(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/audit", headers=bearer("sbk_not-a-real-key"))
    assert response.status_code == 401


async def test_viewer_cannot_create_keys(
    client: httpx.AsyncClient, viewer: dict[str, str], editor: dict[str, str]
) -> None:
    for headers in (viewer, editor):
        response = await client.post(
            "/v1/keys", json={"name": "x", "role": "viewer"}, headers=headers
        )
        assert response.status_code == 403
        assert response.headers["content-type"] == "application/problem+json"


async def test_admin_creates_key_that_works_and_is_audited(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    created = await client.post("/v1/keys", json={"name": "bi", "role": "viewer"}, headers=admin)
    assert created.status_code == 201
    raw = created.json()["key"]
    assert raw.startswith("sbk_")
    assert (await client.get("/v1/audit", headers=bearer(raw))).status_code == 200
    listed = await client.get("/v1/keys", headers=admin)
    assert all("key" not in item for item in listed.json()["items"])
    audit = (await client.get("/v1/audit?action=key.create", headers=admin)).json()
    assert audit["items"][0]["actor"].startswith("key:test-admin (")
    assert audit["items"][0]["after"]["name"] == "bi"
    assert raw not in str(audit)


async def test_revoked_key_stops_working(client: httpx.AsyncClient, admin: dict[str, str]) -> None:
    created = await client.post("/v1/keys", json={"name": "t", "role": "viewer"}, headers=admin)
    key_id, raw = created.json()["id"], created.json()["key"]
    assert (await client.delete(f"/v1/keys/{key_id}", headers=admin)).status_code == 204
    assert (await client.get("/v1/audit", headers=bearer(raw))).status_code == 401


async def test_revoking_unknown_key_is_404(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    response = await client.delete("/v1/keys/00000000-0000-0000-0000-000000000000", headers=admin)
    assert response.status_code == 404


async def test_validation_error_names_the_field(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    response = await client.post("/v1/keys", json={"name": "x", "role": "owner"}, headers=admin)
    assert response.status_code == 422
    body = response.json()
    assert body["errors"][0]["field"] == "role"


async def test_page_size_above_cap_is_422(client: httpx.AsyncClient, admin: dict[str, str]) -> None:
    response = await client.get("/v1/audit?limit=100000", headers=admin)
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "limit"


async def test_body_over_cap_is_413(client: httpx.AsyncClient, admin: dict[str, str]) -> None:
    response = await client.post(
        "/v1/keys",
        content=b"x" * (2 * 1024 * 1024),
        headers={**admin, "content-type": "application/json"},
    )
    assert response.status_code == 413


async def test_chunked_body_over_cap_is_413(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(40):
            yield b"x" * 65536

    response = await client.post(
        "/v1/keys", content=chunks(), headers={**admin, "content-type": "application/json"}
    )
    assert response.status_code == 413


async def test_metrics_expose_vendor_call_counters(client: httpx.AsyncClient) -> None:
    response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    assert "syncbridge_vendor_calls_total" in response.text


async def test_wrong_method_is_405_naming_every_allowed_method(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    # Starlette names only the first route's methods; some paths have several routes.
    for path, allow in [
        ("/v1/taxonomy/schemes", "GET, POST"),
        ("/v1/mappings/preview", "POST"),
        ("/v1/mappings/00000000-0000-4000-8000-000000000000", "DELETE, GET, PATCH"),
    ]:
        response = await client.put(path, json={}, headers=admin)
        assert response.status_code == 405, response.text
        assert response.headers["allow"] == allow
        assert response.headers["content-type"] == "application/problem+json"


def test_every_error_status_is_documented_as_problem_json(app: FastAPI) -> None:
    document = app.openapi()
    for path, item in document["paths"].items():
        for method, operation in item.items():
            responses = operation["responses"]
            if operation.get("security"):
                assert {"401", "403"} <= set(responses), (method, path)
            for status, response in responses.items():
                if int(status) >= 400:
                    assert list(response["content"]) == ["application/problem+json"], status
    assert "HTTPValidationError" not in str(document)


async def test_nul_in_text_is_never_a_server_error(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    # Found by fuzzing (R5): PostgreSQL cannot store NUL in text, SQLite can.
    created = await client.post(
        "/v1/keys", json={"name": "a\u0000b", "role": "viewer"}, headers=admin
    )
    # A search runs over the concept read model on both stores: it simply finds nothing.
    searched = await client.get("/v1/taxonomy/concepts?q=%00", headers=admin)
    assert searched.status_code == 200, searched.text
    assert searched.json()["total"] == 0
    if BACKEND == "postgresql":
        assert created.status_code == 422, created.text
        assert created.headers["content-type"] == "application/problem+json"
        assert "NUL" in created.json()["detail"]
    else:
        assert created.status_code == 201


class AuditTrail:
    """Checks that each write added the expected entries to ``/v1/audit``."""

    def __init__(self, client: httpx.AsyncClient, headers: dict[str, str]) -> None:
        self.client, self.headers, self.seen = client, headers, 0

    async def write(self, action: str, method: str, url: str, **arguments: Any) -> Any:
        headers = {**self.headers, **arguments.pop("headers", {})}
        response = await self.client.request(method, url, headers=headers, **arguments)
        assert response.status_code < 300, (method, url, response.text)
        log = (await self.client.get("/v1/audit?limit=200", headers=self.headers)).json()
        added = [entry["action"] for entry in log["items"][: log["total"] - self.seen]]
        assert action in added, (method, url, added)
        self.seen = log["total"]
        return response.json() if response.content else None


async def test_every_admin_write_is_in_the_audit_log(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    """Issue 2: /v1/audit covers every write (connections have their own audit tests)."""
    trail = AuditTrail(client, admin)
    tax = "/v1/taxonomy"
    await trail.write("scheme.create", "POST", f"{tax}/schemes", json={"key": "t", "title": "T"})
    await trail.write("scheme.update", "PATCH", f"{tax}/schemes/t", json={"title": "Topic"})
    for key in ("t:a", "t:b", "t:c"):
        body = {"scheme": "t", "key": key, "pref_label": {"en": key.upper()}}
        await trail.write("concept.create", "POST", f"{tax}/concepts", json=body)
    await trail.write("concept.update", "PATCH", f"{tax}/concepts/t:a", json={"definition": "A"})
    rule = {"connector_key": "hubspot", "field_path": "source", "operator": "equals"}
    rule_id = (
        await trail.write(
            "mapping_rule.create",
            "POST",
            "/v1/mappings",
            json={**rule, "values": ["a"], "concept": "t:a"},
        )
    )["id"]
    await trail.write(
        "mapping_rule.update", "PATCH", f"/v1/mappings/{rule_id}", json={"priority": 5}
    )
    deprecate = f"{tax}/concepts/t:a/deprecate"
    await trail.write("mapping_rule.retarget", "POST", deprecate, json={"replacement": "t:b"})
    await trail.write("concept.deprecate", "POST", f"{tax}/concepts/t:c/deprecate", json={})
    await trail.write("mapping_rule.archive", "DELETE", f"/v1/mappings/{rule_id}")
    await trail.write("concept.delete", "DELETE", f"{tax}/concepts/t:c")
    yaml_file = b"scheme: {key: u, title: U}\nconcepts:\n- {key: 'u:a', pref_label: A}\n"
    media = {"content-type": "application/yaml"}
    await trail.write("scheme.create", "POST", f"{tax}/import", content=yaml_file, headers=media)
    await trail.write("concept.delete", "DELETE", f"{tax}/concepts/u:a")
    await trail.write("scheme.delete", "DELETE", f"{tax}/schemes/u")
    key = await trail.write("key.create", "POST", "/v1/keys", json={"name": "bi", "role": "viewer"})
    await trail.write("key.revoke", "DELETE", f"/v1/keys/{key['id']}")


async def test_keyless_call_with_a_malformed_body_is_401_not_422(
    client: httpx.AsyncClient,
) -> None:
    for headers in ({}, {"Authorization": "Basic dXNlcjpwYXNz"}):
        response = await client.post(
            "/v1/taxonomy/concepts",
            content=b"{not json",
            headers={**headers, "content-type": "application/json"},
        )
        assert response.status_code == 401
        assert response.headers["content-type"] == "application/problem+json"
        assert response.headers["www-authenticate"] == "Bearer"
