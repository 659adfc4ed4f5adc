"""Health, keys, audit and the error format: the plumbing every endpoint shares."""

from __future__ import annotations

import httpx

from tests.conftest import bearer


async def test_healthz_answers_without_a_key(client: httpx.AsyncClient) -> None:
    response = await client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_readyz_reports_the_database(client: httpx.AsyncClient) -> None:
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
    assert audit["items"][0]["actor"] == "key:test-admin"
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
    async def chunks():  # type: ignore[no-untyped-def]
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
