"""``/v1/link-rules``: CRUD, versions, ETags, archive, audit, roles, errors and preview."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from syncbridge.models import Asset, Connection, Job, Link, StoredRecord

Headers = dict[str, str]
NO_SUCH = "00000000-0000-0000-0000-000000000000"
ASSET_ID = "5b75b141-bc64-4572-b742-22005f9846d4"


def rule_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": "asset id dimension",
        "connector_key": "ga4",
        "field_path": "customEvent:asset_id",
        "match": "equals",
        "asset_key": "id",
    }
    return body | overrides


async def create(client: httpx.AsyncClient, headers: Headers, **overrides: Any) -> dict[str, Any]:
    response = await client.post("/v1/link-rules", json=rule_body(**overrides), headers=headers)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def audit(client: httpx.AsyncClient, headers: Headers, rule_id: str) -> list[str]:
    response = await client.get(
        f"/v1/audit?entity_type=link_rule&entity_id={rule_id}", headers=headers
    )
    return [entry["action"] for entry in response.json()["items"]]


async def relink_jobs(session: AsyncSession) -> int:
    stmt = select(func.count()).select_from(Job).where(Job.kind == "linking.relink")
    return int((await session.execute(stmt)).scalar_one())


async def test_create_is_version_one_audited_and_queues_a_relink(
    client: httpx.AsyncClient, editor: Headers, admin: Headers, session: AsyncSession
) -> None:
    response = await client.post("/v1/link-rules", json=rule_body(), headers=editor)

    assert response.status_code == 201
    rule = response.json()
    assert (rule["version"], rule["revision"], rule["enabled"]) == (1, 1, True)
    assert response.headers["ETag"] == '"1"'
    assert await audit(client, admin, rule["id"]) == ["link_rule.create"]
    assert await relink_jobs(session) == 1


async def test_create_without_a_name_gets_a_readable_one(
    client: httpx.AsyncClient, editor: Headers
) -> None:
    rule = await create(client, editor, name=None, stream="asset_performance")
    assert rule["name"] == "ga4:asset_performance customEvent:asset_id equals -> asset id"


async def test_list_filters_and_pages(
    client: httpx.AsyncClient, editor: Headers, viewer: Headers
) -> None:
    await create(client, editor, name="a")
    await create(client, editor, name="b", connector_key="hubspot", enabled=False)
    await create(client, editor, name="c", connector_key="hubspot")

    hubspot = (await client.get("/v1/link-rules?connector_key=hubspot", headers=viewer)).json()
    assert [r["name"] for r in hubspot["items"]] == ["b", "c"]
    enabled = (await client.get("/v1/link-rules?enabled=true", headers=viewer)).json()
    assert [r["name"] for r in enabled["items"]] == ["a", "c"]
    page = (await client.get("/v1/link-rules?limit=2&offset=2", headers=viewer)).json()
    assert ([r["name"] for r in page["items"]], page["total"]) == (["c"], 3)


async def test_each_real_change_is_a_new_version(
    client: httpx.AsyncClient, editor: Headers, viewer: Headers, admin: Headers
) -> None:
    rule = await create(client, editor)
    url = f"/v1/link-rules/{rule['id']}"
    changed = await client.patch(
        url,
        json={"field_path": "pagePath", "match": "path_segment", "asset_key": "file_name"},
        headers=editor,
    )
    same = await client.patch(url, json={"field_path": "pagePath"}, headers=editor)

    assert changed.status_code == 200
    assert (changed.json()["version"], changed.headers["ETag"]) == (2, '"2"')
    assert same.json()["version"] == 2
    versions = (await client.get(f"{url}/versions", headers=viewer)).json()
    assert [(v["version"], v["field_path"]) for v in versions["items"]] == [
        (1, "customEvent:asset_id"),
        (2, "pagePath"),
    ]
    first = (await client.get(f"{url}/versions/1", headers=viewer)).json()
    assert (first["match"], first["created_by"].startswith("key:")) == ("equals", True)
    assert (await client.get(f"{url}/versions/3", headers=viewer)).status_code == 404
    assert await audit(client, admin, rule["id"]) == ["link_rule.update", "link_rule.create"]


async def test_a_stale_if_match_is_refused_and_changes_nothing(
    client: httpx.AsyncClient, editor: Headers, viewer: Headers
) -> None:
    rule = await create(client, editor)
    url = f"/v1/link-rules/{rule['id']}"
    fresh = await client.patch(url, json={"enabled": False}, headers=editor | {"If-Match": '"1"'})
    stale = await client.patch(url, json={"name": "late"}, headers=editor | {"If-Match": '"1"'})
    stale_archive = await client.delete(url, headers=editor | {"If-Match": '"1"'})

    assert fresh.status_code == 200
    assert (stale.status_code, stale_archive.status_code) == (412, 412)
    assert stale.headers["content-type"] == "application/problem+json"
    now = await client.get(url, headers=viewer)
    assert (now.json()["name"], now.json()["archived_at"], now.headers["ETag"]) == (
        "asset id dimension",
        None,
        '"2"',
    )


async def test_delete_archives_and_keeps_versions(
    client: httpx.AsyncClient, editor: Headers, viewer: Headers, session: AsyncSession
) -> None:
    rule = await create(client, editor)
    url = f"/v1/link-rules/{rule['id']}"

    assert (await client.delete(url, headers=editor)).status_code == 204
    assert (await client.delete(url, headers=editor)).status_code == 204
    assert (await client.get("/v1/link-rules", headers=viewer)).json()["total"] == 0
    listed = (await client.get("/v1/link-rules?include_archived=true", headers=viewer)).json()
    assert listed["items"][0]["archived_at"] is not None
    assert (await client.get(f"{url}/versions", headers=viewer)).json()["total"] == 1
    assert (await client.patch(url, json={"name": "x"}, headers=editor)).status_code == 409
    assert await relink_jobs(session) == 2  # the create and the archive


async def test_viewers_read_but_do_not_write(
    client: httpx.AsyncClient, editor: Headers, viewer: Headers
) -> None:
    rule = await create(client, editor)
    url = f"/v1/link-rules/{rule['id']}"
    assert (await client.get(url, headers=viewer)).status_code == 200
    assert (
        await client.post("/v1/link-rules", json=rule_body(), headers=viewer)
    ).status_code == 403
    assert (await client.patch(url, json={"name": "x"}, headers=viewer)).status_code == 403
    assert (await client.delete(url, headers=viewer)).status_code == 403
    assert (await client.get(f"/v1/link-rules/{NO_SUCH}", headers=viewer)).status_code == 404


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"field_path": "a..b"}, "field_path"),
        ({"match": "query_parameter"}, "parameter"),
        ({"parameter": "utm_content"}, "parameter"),
        ({"asset_key": "record"}, "via_stream"),
        ({"via_stream": "campaigns"}, "via_stream"),
        ({"match": "fuzzy"}, "match"),
        ({"asset_key": "colour"}, "asset_key"),
        ({"connection_id": NO_SUCH}, "connection_id"),
        ({"surprise": 1}, "surprise"),
        ({"enabled": "yes"}, "enabled"),
    ],
)
async def test_bad_rules_are_422_with_the_field_and_why(
    client: httpx.AsyncClient, editor: Headers, overrides: dict[str, Any], field: str
) -> None:
    response = await client.post("/v1/link-rules", json=rule_body(**overrides), headers=editor)

    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    errors = response.json()["errors"]
    assert field in [e["field"].rsplit(".", 1)[-1] for e in errors], errors
    assert all(e["reason"] for e in errors)


async def test_a_patch_to_null_or_to_an_inconsistent_rule_is_422(
    client: httpx.AsyncClient, editor: Headers
) -> None:
    rule = await create(client, editor)
    url = f"/v1/link-rules/{rule['id']}"
    null = await client.patch(url, json={"field_path": None}, headers=editor)
    inconsistent = await client.patch(url, json={"asset_key": "record"}, headers=editor)
    assert null.status_code == inconsistent.status_code == 422
    assert inconsistent.json()["errors"] == [
        {"field": "via_stream", "reason": "asset_key 'record' needs a via_stream"}
    ]


# --- preview -------------------------------------------------------------------------------


@pytest.fixture
async def stored(session: AsyncSession) -> dict[str, uuid.UUID]:
    """A Bynder asset and two GA4 rows, one naming the asset."""
    dam = Connection(connector_key="bynder", name="dam", settings={})
    ga4 = Connection(connector_key="ga4", name="ga4", settings={})
    session.add_all([dam, ga4])
    await session.flush()
    asset = Asset(
        connection_id=dam.id,
        stream="media",
        external_id=ASSET_ID,
        data={"id": ASSET_ID, "name": "hero", "extension": ["jpg"]},
        content_hash="-",
    )
    hit = StoredRecord(
        connection_id=ga4.id,
        stream="rows",
        external_id="row-1",
        data={"customEvent:asset_id": ASSET_ID, "pagePath": "/lp/hero.jpg"},
        content_hash="-",
    )
    miss = StoredRecord(
        connection_id=ga4.id,
        stream="rows",
        external_id="row-2",
        data={"customEvent:asset_id": "(not set)", "pagePath": "/"},
        content_hash="-",
    )
    session.add_all([asset, hit, miss])
    await session.commit()
    return {"asset": asset.id, "hit": hit.id, "dam": dam.id}


async def test_preview_of_a_draft_counts_and_shows_links_and_writes_nothing(
    client: httpx.AsyncClient, editor: Headers, session: AsyncSession, stored: dict[str, Any]
) -> None:
    body = {
        "draft_rules": [
            rule_body(),
            rule_body(field_path="pagePath", match="path_segment", asset_key="file_name"),
            rule_body(field_path="pagePath", match="url_path", asset_key="cdn_path"),
        ]
    }
    response = await client.post("/v1/link-rules/preview", json=body, headers=editor)

    assert response.status_code == 200, response.text
    result = response.json()
    assert (result["records_read"], result["assets_indexed"], result["truncated"]) == (2, 1, False)
    counts = [(r["rule"]["id"], r["links"], r["records"], r["assets"]) for r in result["rules"]]
    assert counts == [("draft-0", 1, 1, 1), ("draft-1", 1, 1, 1), ("draft-2", 0, 0, 0)]
    example = result["rules"][1]["examples"][0]
    assert example == {
        "asset_id": str(stored["asset"]),
        "asset_external_id": ASSET_ID,
        "asset_connection_id": str(stored["dam"]),
        "record_id": str(stored["hit"]),
        "record_external_id": "row-1",
        "record_connection_id": example["record_connection_id"],
        "record_stream": "rows",
        "field_path": "pagePath",
        "value": "/lp/hero.jpg",
    }
    assert (await session.execute(select(func.count()).select_from(Link))).scalar_one() == 0


async def test_viewers_preview_saved_rules_but_not_drafts(
    client: httpx.AsyncClient, editor: Headers, viewer: Headers, stored: dict[str, Any]
) -> None:
    del stored
    saved = await create(client, editor)
    await create(client, editor, name="off", enabled=False)

    every = await client.post("/v1/link-rules/preview", json={}, headers=viewer)
    by_id = await client.post(
        "/v1/link-rules/preview", json={"rule_ids": [saved["id"]], "max_records": 1}, headers=viewer
    )
    drafts = await client.post(
        "/v1/link-rules/preview", json={"draft_rules": [rule_body()]}, headers=viewer
    )

    assert [(r["rule"]["id"], r["links"]) for r in every.json()["rules"]] == [(saved["id"], 1)]
    assert (by_id.json()["records_read"], by_id.json()["truncated"]) == (1, True)
    assert by_id.json()["rules"][0]["rule"]["version"] == 1
    assert drafts.status_code == 403


async def test_preview_input_errors_name_the_draft_field(
    client: httpx.AsyncClient, editor: Headers
) -> None:
    bad = await client.post(
        "/v1/link-rules/preview",
        json={"draft_rules": [rule_body(), rule_body(match="query_parameter")]},
        headers=editor,
    )
    unknown = await client.post(
        "/v1/link-rules/preview", json={"rule_ids": [NO_SUCH]}, headers=editor
    )
    too_many = await client.post(
        "/v1/link-rules/preview", json={"max_records": 1_000_000}, headers=editor
    )
    assert bad.status_code == unknown.status_code == too_many.status_code == 422
    assert bad.json()["errors"] == [
        {"field": "draft_rules.1.parameter", "reason": "'query_parameter' needs a parameter"}
    ]
    assert unknown.json()["errors"] == [{"field": "rule_ids.0", "reason": "no such link rule"}]
