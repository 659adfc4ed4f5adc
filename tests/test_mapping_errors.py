"""``/v1/mappings`` error paths: 401, 403, 404, 409 and 422 with field-level reasons."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.conftest import bearer
from tests.test_mapping_api import NO_SUCH, concepts, create, rule_body

__all__ = ["concepts"]  # the fixture, re-used

Headers = dict[str, str]

ENDPOINTS = [
    ("GET", "/v1/mappings", None),
    ("POST", "/v1/mappings", rule_body()),
    ("POST", "/v1/mappings/preview", {"record": {}, "connector_key": "hubspot"}),
    ("GET", f"/v1/mappings/{NO_SUCH}", None),
    ("PATCH", f"/v1/mappings/{NO_SUCH}", {"priority": 1}),
    ("DELETE", f"/v1/mappings/{NO_SUCH}", None),
    ("GET", f"/v1/mappings/{NO_SUCH}/versions", None),
    ("GET", f"/v1/mappings/{NO_SUCH}/versions/1", None),
]
WRITES = [e for e in ENDPOINTS if e[0] in ("POST", "PATCH", "DELETE") and "preview" not in e[1]]


@pytest.mark.parametrize(("method", "url", "body"), ENDPOINTS)
@pytest.mark.parametrize("headers", [{}, bearer("sbk_not-a-real-key")])
async def test_every_endpoint_needs_a_valid_key(
    client: httpx.AsyncClient, method: str, url: str, body: Any, headers: Headers
) -> None:
    response = await client.request(method, url, json=body, headers=headers)
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"


@pytest.mark.parametrize(("method", "url", "body"), WRITES)
async def test_viewers_cannot_write(
    client: httpx.AsyncClient, viewer: Headers, method: str, url: str, body: Any
) -> None:
    response = await client.request(method, url, json=body, headers=viewer)
    assert response.status_code == 403


@pytest.mark.parametrize(("method", "url", "body"), [e for e in ENDPOINTS if NO_SUCH in e[1]])
async def test_unknown_rule_is_404(
    client: httpx.AsyncClient, editor: Headers, method: str, url: str, body: Any
) -> None:
    response = await client.request(method, url, json=body, headers=editor)
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"


@pytest.mark.usefixtures("concepts")
async def test_unknown_version_is_404(client: httpx.AsyncClient, editor: Headers) -> None:
    rule = await create(client, editor)
    response = await client.get(f"/v1/mappings/{rule['id']}/versions/2", headers=editor)
    assert response.status_code == 404


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"operator": "like"}, "operator"),
        ({"field_path": "properties..x"}, "field_path"),
        ({"field_path": "tags[x]"}, "field_path"),
        ({"operator": "regex", "values": ["(unclosed"]}, "values.0"),
        ({"operator": "regex", "values": ["a" * 501]}, "values.0"),
        ({"operator": "regex", "values": ["a", "b"]}, "values"),
        ({"operator": "equals", "values": ["a", "b"], "match_labels": False}, "values"),
        ({"operator": "equals", "values": [], "match_labels": False}, "values"),
        ({"operator": "in", "values": [], "match_labels": False}, "values"),
        ({"operator": "in", "values": [["nested"]]}, "values.0"),
        ({"operator": "contains", "values": ["  "]}, "values.0"),
        ({"operator": "range", "values": [5]}, "values"),
        ({"operator": "range", "values": [5, 1]}, "values"),
        ({"operator": "range", "values": ["a", 1]}, "values.0"),
        ({"operator": "range", "values": [True, None]}, "values.0"),
        ({"operator": "exists", "values": ["x"]}, "values"),
        ({"concept": "channel:nope"}, "concept"),
        ({"priority": 10**9}, "priority"),
        ({"unknown": 1}, "unknown"),
    ],
)
@pytest.mark.usefixtures("concepts")
async def test_invalid_rule_is_422_naming_the_field(
    client: httpx.AsyncClient,
    editor: Headers,
    overrides: dict[str, Any],
    field: str,
) -> None:
    response = await client.post("/v1/mappings", json=rule_body(**overrides), headers=editor)
    assert response.status_code == 422, response.text
    assert field in [e["field"] for e in response.json()["errors"]]
    listed = await client.get("/v1/mappings", headers=editor)
    assert listed.json()["total"] == 0


@pytest.mark.parametrize(
    ("patch", "field"),
    [
        ({"operator": "exists"}, "values"),  # the merged rule is checked, not just the patch
        ({"values": ["(bad"], "operator": "regex"}, "values.0"),
        ({"field_path": ""}, "field_path"),
        ({"concept": "channel:nope"}, "concept"),
        ({"name": None}, "name"),
        ({"operator": None}, "operator"),
    ],
)
@pytest.mark.usefixtures("concepts")
async def test_invalid_patch_is_422_and_changes_nothing(
    client: httpx.AsyncClient,
    editor: Headers,
    patch: dict[str, Any],
    field: str,
) -> None:
    rule = await create(client, editor)
    url = f"/v1/mappings/{rule['id']}"
    response = await client.patch(url, json=patch, headers=editor)
    assert response.status_code == 422, response.text
    assert field in [e["field"] for e in response.json()["errors"]]
    assert (await client.get(url, headers=editor)).json() == rule


@pytest.mark.parametrize("key", ["channel:li-old", "channel:fax"])
@pytest.mark.usefixtures("concepts")
async def test_deprecated_target_is_409(
    client: httpx.AsyncClient, editor: Headers, key: str
) -> None:
    response = await client.post("/v1/mappings", json=rule_body(concept=key), headers=editor)
    assert response.status_code == 409
    expected = "channel:linkedin" if key == "channel:li-old" else None
    assert response.json()["replaced_by"] == expected
    rule = await create(client, editor)
    patched = await client.patch(
        f"/v1/mappings/{rule['id']}", json={"concept": key}, headers=editor
    )
    assert patched.status_code == 409


@pytest.mark.usefixtures("concepts")
async def test_preview_validates_drafts(client: httpx.AsyncClient, editor: Headers) -> None:
    def body(**draft: Any) -> dict[str, Any]:
        rule = {
            "field_path": "a",
            "operator": "equals",
            "values": ["x"],
            "concept": "channel:email",
        }
        return {"record": {"a": "x"}, "connector_key": "hubspot", "draft_rules": [rule | draft]}

    bad_regex = await client.post(
        "/v1/mappings/preview", json=body(operator="regex", values=["("]), headers=editor
    )
    assert bad_regex.status_code == 422
    assert bad_regex.json()["errors"][0]["field"] == "draft_rules.0.values.0"
    unknown = await client.post("/v1/mappings/preview", json=body(concept="x:y"), headers=editor)
    assert unknown.json()["errors"][0]["field"] == "draft_rules.0.concept"
    deprecated = await client.post(
        "/v1/mappings/preview", json=body(concept="channel:fax"), headers=editor
    )
    assert deprecated.status_code == 409
    missing = await client.post("/v1/mappings/preview", json={"record": {}}, headers=editor)
    assert missing.status_code == 422


async def test_page_size_cap_is_422(client: httpx.AsyncClient, viewer: Headers) -> None:
    response = await client.get("/v1/mappings?limit=100000", headers=viewer)
    assert response.status_code == 422
