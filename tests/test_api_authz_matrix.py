"""QUALITY R6: the authorisation matrix over every route the OpenAPI document lists.

Each operation is called without a key, with a bogus key and with a key of each role. The
minimal role each operation needs is written down in ``MINIMAL_ROLE``; an operation missing
from it fails, so every new endpoint forces a decision about who may call it.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from syncbridge.app import create_app
from syncbridge.auth.service import Role, digest
from syncbridge.models import ApiKey
from syncbridge.settings import Settings
from tests.conftest import bearer

#: Operations any caller may use (probes and the API description), and the webhook
#: receivers, whose credential is the vendor's signature (tests/test_inbox_r3.py).
PUBLIC_PATHS = frozenset(
    {
        "/healthz",
        "/readyz",
        "/metrics",
        "/docs",
        "/redoc",
        "/openapi.json",
        "/webhooks/{connection_id}",
        "/webhooks/{connection_id}/{path_secret}",
    }
)

V, E, A = Role.viewer, Role.editor, Role.admin

#: The role table: the least role each (method, path) needs. Reads are for viewers, the
#: taxonomy and mapping rules for editors, keys and connections (with their vendor calls)
#: for admins. A mapping preview writes nothing, so viewers may run one. Uploading an export
#: to a connection feeds it data without configuring it, so editors may. Running a scheduled
#: job out of its schedule is an operator's act: admins.
MINIMAL_ROLE: dict[tuple[str, str], Role] = {
    ("GET", "/v1/taxonomy/schemes"): V,
    ("POST", "/v1/taxonomy/schemes"): E,
    ("GET", "/v1/taxonomy/schemes/{key}"): V,
    ("PATCH", "/v1/taxonomy/schemes/{key}"): E,
    ("DELETE", "/v1/taxonomy/schemes/{key}"): E,
    ("GET", "/v1/taxonomy/concepts"): V,
    ("POST", "/v1/taxonomy/concepts"): E,
    ("GET", "/v1/taxonomy/concepts/{key}"): V,
    ("PATCH", "/v1/taxonomy/concepts/{key}"): E,
    ("DELETE", "/v1/taxonomy/concepts/{key}"): E,
    ("GET", "/v1/taxonomy/concepts/{key}/history"): V,
    ("POST", "/v1/taxonomy/concepts/{key}/deprecate"): E,
    ("POST", "/v1/taxonomy/import"): E,
    ("GET", "/v1/taxonomy/export"): V,
    ("GET", "/v1/mappings"): V,
    ("POST", "/v1/mappings"): E,
    ("POST", "/v1/mappings/preview"): V,
    ("GET", "/v1/mappings/{rule_id}"): V,
    ("PATCH", "/v1/mappings/{rule_id}"): E,
    ("DELETE", "/v1/mappings/{rule_id}"): E,
    ("GET", "/v1/mappings/{rule_id}/versions"): V,
    ("GET", "/v1/mappings/{rule_id}/versions/{version}"): V,
    ("GET", "/v1/link-rules"): V,
    ("POST", "/v1/link-rules"): E,
    ("POST", "/v1/link-rules/preview"): V,
    ("GET", "/v1/link-rules/{rule_id}"): V,
    ("PATCH", "/v1/link-rules/{rule_id}"): E,
    ("DELETE", "/v1/link-rules/{rule_id}"): E,
    ("GET", "/v1/link-rules/{rule_id}/versions"): V,
    ("GET", "/v1/link-rules/{rule_id}/versions/{version}"): V,
    ("GET", "/v1/tag-rules"): V,
    ("POST", "/v1/tag-rules"): E,
    ("GET", "/v1/tag-rules/{rule_id}"): V,
    ("PATCH", "/v1/tag-rules/{rule_id}"): E,
    ("DELETE", "/v1/tag-rules/{rule_id}"): E,
    ("GET", "/v1/tag-rules/{rule_id}/versions"): V,
    ("GET", "/v1/tag-rules/{rule_id}/versions/{version}"): V,
    ("POST", "/v1/tag-rules/preview"): E,
    ("GET", "/v1/connections"): V,
    ("POST", "/v1/connections"): A,
    ("GET", "/v1/connections/{connection_id}"): V,
    ("PATCH", "/v1/connections/{connection_id}"): A,
    ("DELETE", "/v1/connections/{connection_id}"): A,
    ("POST", "/v1/connections/{connection_id}/check"): A,
    ("POST", "/v1/connections/{connection_id}/uploads"): E,
    ("GET", "/v1/keys"): A,
    ("POST", "/v1/keys"): A,
    ("DELETE", "/v1/keys/{key_id}"): A,
    ("GET", "/v1/audit"): V,
    ("GET", "/v1/assets"): V,
    ("GET", "/v1/assets/{asset_id}"): V,
    ("GET", "/v1/assets/{asset_id}/trace"): V,
    ("GET", "/v1/assets/{asset_id}/metrics"): V,
    ("GET", "/v1/assets/{asset_id}/classifications"): V,
    ("POST", "/v1/assets/{asset_id}/classifications"): E,
    ("DELETE", "/v1/assets/{asset_id}/classifications/{classification_id}"): E,
    ("GET", "/v1/assets/{asset_id}/classifications/history"): V,
    ("GET", "/v1/runs"): V,
    ("POST", "/v1/runs"): E,
    ("GET", "/v1/runs/{run_id}"): V,
    ("POST", "/v1/runs/{run_id}/cancel"): E,
    ("GET", "/v1/insights"): V,
    ("GET", "/v1/writebacks"): V,
    ("GET", "/v1/writebacks/{writeback_id}"): V,
    ("GET", "/v1/events"): V,
    ("GET", "/v1/events/{event_id}"): V,
    ("POST", "/v1/events/{event_id}/replay"): E,
    ("POST", "/v1/events/replay"): E,
    ("GET", "/v1/schedules"): V,
    ("POST", "/v1/schedules/{name}/run"): A,
}

#: Syntactically valid values per path-parameter schema, so the auth outcome is not masked
#: by a 422 on the path.
DUMMY_BY_FORMAT = {"uuid": "00000000-0000-4000-8000-000000000000"}
DUMMY_BY_TYPE = {"integer": "1", "number": "1", "string": "paid-social"}


def _openapi() -> dict[str, Any]:
    # Building the app connects nothing (the lifespan does), so collection stays offline.
    document: dict[str, Any] = create_app(Settings(environment="development")).openapi()
    return document


OPENAPI = _openapi()
OPERATIONS = sorted(
    (method.upper(), path)
    for path, item in OPENAPI["paths"].items()
    if path not in PUBLIC_PATHS
    for method in item
    if method in {"get", "post", "put", "patch", "delete"}
)


def _url(path: str, operation: dict[str, Any]) -> str:
    for param in operation.get("parameters", []):
        if param["in"] != "path":
            continue
        schema = param.get("schema", {})
        value = DUMMY_BY_FORMAT.get(schema.get("format", "")) or DUMMY_BY_TYPE[schema["type"]]
        path = path.replace("{" + param["name"] + "}", value)
    return path


def _body(operation: dict[str, Any]) -> dict[str, Any]:
    """Request arguments with an empty body of the operation's first media type."""
    content = operation.get("requestBody", {}).get("content", {})
    if not content:
        return {}
    media_type = next(iter(content))
    if media_type == "application/json":
        return {"json": {}}
    return {"content": b"", "headers": {"content-type": media_type}}


async def _call(
    client: httpx.AsyncClient, method: str, path: str, headers: dict[str, str]
) -> httpx.Response:
    operation = OPENAPI["paths"][path][method.lower()]
    arguments = _body(operation)
    merged = {**arguments.pop("headers", {}), **headers}
    return await client.request(method, _url(path, operation), headers=merged, **arguments)


def _assert_refused(response: httpx.Response, status: int, secrets: list[str]) -> None:
    """A refusal is problem+json with the right status and no key material in it."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["status"] == status
    assert set(body) <= {"type", "title", "status", "detail", "errors"}
    for secret in secrets:
        assert secret not in response.text
        assert secret not in str(response.headers)
    if status == 401:
        assert response.headers["www-authenticate"] == "Bearer"


def test_role_table_lists_exactly_the_routes() -> None:
    """New endpoints must be added to MINIMAL_ROLE; removed ones taken out of it."""
    assert set(OPERATIONS) - set(MINIMAL_ROLE) == set(), "decide the role of these routes"
    assert set(MINIMAL_ROLE) - set(OPERATIONS) == set(), "these routes no longer exist"


def test_every_operation_declares_bearer_auth() -> None:
    """So generated clients and fuzzers know to send the key."""
    for method, path in OPERATIONS:
        security = OPENAPI["paths"][path][method.lower()].get("security")
        assert security == [{"HTTPBearer": []}], (method, path)


def test_reads_are_for_viewers_and_writes_need_more() -> None:
    """The table follows the role design: every GET but the key list is open to viewers."""
    for (method, path), role in MINIMAL_ROLE.items():
        if method == "GET":
            assert role is (A if path.startswith("/v1/keys") else V), path
        elif path.endswith("/uploads"):
            assert role is E, (method, path)
        elif path.startswith(("/v1/keys", "/v1/connections", "/v1/schedules")):
            assert role is A, (method, path)
        elif path not in ("/v1/mappings/preview", "/v1/link-rules/preview"):
            assert role is E, (method, path)


async def _key_material(session: AsyncSession, keys: dict[Role, str]) -> list[str]:
    rows = (await session.execute(select(ApiKey))).scalars()
    return [*keys.values(), *(digest(k) for k in keys.values()), *(r.digest for r in rows)]


@pytest.mark.parametrize(("method", "path"), OPERATIONS, ids=[f"{m} {p}" for m, p in OPERATIONS])
async def test_authorisation(
    client: httpx.AsyncClient,
    session: AsyncSession,
    api_keys: dict[Role, str],
    method: str,
    path: str,
) -> None:
    needed = MINIMAL_ROLE.get((method, path))
    assert needed is not None, f"{method} {path} is missing from MINIMAL_ROLE"
    bogus = "sbk_" + "A" * 43
    secrets = [bogus, *await _key_material(session, api_keys)]

    _assert_refused(await _call(client, method, path, {}), 401, secrets)
    _assert_refused(await _call(client, method, path, bearer(bogus)), 401, secrets)
    _assert_refused(await _call(client, method, path, {"Authorization": "Basic eDp5"}), 401, [])
    for role, key in api_keys.items():
        response = await _call(client, method, path, bearer(key))
        if role.allows(needed):
            assert response.status_code not in (401, 403), (role, response.text)
            assert response.status_code < 500, (role, response.text)
        else:
            _assert_refused(response, 403, secrets)
