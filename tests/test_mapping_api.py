"""``/v1/mappings``: CRUD, versions, archive, preview, errors and audit."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from syncbridge.models import AuditEntry, Concept, ConceptLabel, ConceptScheme, MappingRuleVersion

pytestmark = pytest.mark.usefixtures("concepts")

Headers = dict[str, str]
NO_SUCH = "00000000-0000-0000-0000-000000000000"


@pytest.fixture
async def concepts(session: AsyncSession) -> dict[str, Concept]:
    """A small channel scheme: LinkedIn (with labels), email, and two deprecated concepts."""
    scheme = ConceptScheme(key="channel", title="Channel")
    session.add(scheme)
    await session.flush()
    linkedin = Concept(scheme_id=scheme.id, key="channel:linkedin")
    email = Concept(scheme_id=scheme.id, key="channel:email")
    session.add_all([linkedin, email])
    await session.flush()
    old = Concept(
        scheme_id=scheme.id, key="channel:li-old", status="deprecated", replaced_by_id=linkedin.id
    )
    retired = Concept(scheme_id=scheme.id, key="channel:fax", status="deprecated")
    session.add_all([old, retired])
    await session.flush()
    for concept, kind, text in [
        (linkedin, "pref", "LinkedIn Ads"),
        (linkedin, "alt", "linkedin"),
        (linkedin, "alt", "LI"),
        (email, "pref", "Email"),
    ]:
        session.add(
            ConceptLabel(
                concept_id=concept.id,
                scheme_id=scheme.id,
                kind=kind,
                lang="en",
                text=text,
                norm=text.casefold(),
            )
        )
    await session.commit()
    return {c.key: c for c in (linkedin, email, old, retired)}


def rule_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": "utm source linkedin",
        "connector_key": "hubspot",
        "stream": "deals",
        "field_path": "properties.utm_source",
        "operator": "in",
        "values": ["lnkd"],
        "match_labels": True,
        "concept": "channel:linkedin",
        "priority": 50,
    }
    return body | overrides


async def create(client: httpx.AsyncClient, headers: Headers, **overrides: Any) -> dict[str, Any]:
    response = await client.post("/v1/mappings", json=rule_body(**overrides), headers=headers)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def audit(client: httpx.AsyncClient, headers: Headers, rule_id: str) -> list[dict[str, Any]]:
    response = await client.get(
        f"/v1/audit?entity_type=mapping_rule&entity_id={rule_id}", headers=headers
    )
    items: list[dict[str, Any]] = response.json()["items"]
    return items


async def test_create_returns_version_one_and_is_audited(
    client: httpx.AsyncClient, editor: Headers, viewer: Headers, concepts: dict[str, Concept]
) -> None:
    rule = await create(client, editor)
    assert rule["version"] == 1
    assert rule["concept"] == "channel:linkedin"
    assert rule["concept_id"] == str(concepts["channel:linkedin"].id)
    fetched = await client.get(f"/v1/mappings/{rule['id']}", headers=viewer)
    assert fetched.json() == rule
    entries = await audit(client, viewer, rule["id"])
    assert [e["action"] for e in entries] == ["mapping_rule.create"]
    assert entries[0]["actor"].startswith("key:test-editor (")
    assert entries[0]["before"] is None
    assert entries[0]["after"]["values"] == ["lnkd"]


async def test_create_without_a_name_gets_a_readable_one(
    client: httpx.AsyncClient, editor: Headers
) -> None:
    body = rule_body()
    del body["name"]
    response = await client.post("/v1/mappings", json=body, headers=editor)
    assert response.json()["name"] == ("hubspot:deals properties.utm_source in -> channel:linkedin")


async def test_list_filters_and_paginates(
    client: httpx.AsyncClient, editor: Headers, viewer: Headers
) -> None:
    await create(client, editor, priority=10)
    await create(client, editor, priority=90, concept="channel:email", stream=None)
    await create(client, editor, connector_key="salesforce", enabled=False)
    listed = (await client.get("/v1/mappings?limit=2", headers=viewer)).json()
    assert listed["total"] == 3
    assert listed["next_offset"] == 2
    assert [r["priority"] for r in listed["items"]] == [90, 50]

    async def ids(query: str) -> list[str]:
        page = (await client.get(f"/v1/mappings?{query}", headers=viewer)).json()
        return [r["concept"] + "/" + r["connector_key"] for r in page["items"]]

    assert await ids("connector_key=hubspot") == [
        "channel:email/hubspot",
        "channel:linkedin/hubspot",
    ]
    assert await ids("concept=channel:email") == ["channel:email/hubspot"]
    assert await ids("stream=deals") == ["channel:linkedin/salesforce", "channel:linkedin/hubspot"]
    assert await ids("enabled=false") == ["channel:linkedin/salesforce"]
    assert await ids("concept=channel:nope") == []


async def test_patch_creates_a_new_version_each_time(
    client: httpx.AsyncClient, editor: Headers, viewer: Headers
) -> None:
    rule = await create(client, editor)
    url = f"/v1/mappings/{rule['id']}"
    first = await client.patch(url, json={"priority": 70}, headers=editor)
    assert first.status_code == 200
    assert first.json()["version"] == 2
    second = await client.patch(
        url, json={"operator": "equals", "values": ["li"], "stream": None}, headers=editor
    )
    assert second.json()["version"] == 3
    assert second.json()["stream"] is None
    versions = (await client.get(f"{url}/versions", headers=viewer)).json()["items"]
    assert [(v["version"], v["priority"], v["operator"]) for v in versions] == [
        (1, 50, "in"),
        (2, 70, "in"),
        (3, 70, "equals"),
    ]
    assert all(v["created_by"].startswith("key:test-editor (") for v in versions)
    page = (await client.get(f"{url}/versions?limit=2&offset=1", headers=viewer)).json()
    assert ([v["version"] for v in page["items"]], page["total"]) == ([2, 3], 3)
    v1 = (await client.get(f"{url}/versions/1", headers=viewer)).json()
    assert v1["values"] == ["lnkd"]
    assert v1["concept"] == "channel:linkedin"
    entries = await audit(client, viewer, rule["id"])
    update = next(e for e in entries if e["after"]["version"] == 2)
    assert update["action"] == "mapping_rule.update"
    assert (update["before"]["priority"], update["after"]["priority"]) == (50, 70)


async def test_patch_that_changes_nothing_writes_nothing(
    client: httpx.AsyncClient,
    editor: Headers,
    viewer: Headers,
    session: AsyncSession,
) -> None:
    rule = await create(client, editor)
    same = {"priority": 50, "values": ["lnkd"], "concept": "channel:linkedin", "stream": "deals"}
    response = await client.patch(f"/v1/mappings/{rule['id']}", json=same, headers=editor)
    assert response.json()["version"] == 1
    versions = await session.scalar(
        select(func.count()).where(MappingRuleVersion.rule_id == uuid.UUID(rule["id"]))
    )
    assert versions == 1
    assert len(await audit(client, viewer, rule["id"])) == 1


async def test_patch_can_retarget_to_another_concept(
    client: httpx.AsyncClient, editor: Headers
) -> None:
    rule = await create(client, editor)
    response = await client.patch(
        f"/v1/mappings/{rule['id']}", json={"concept": "channel:email"}, headers=editor
    )
    assert response.json()["concept"] == "channel:email"
    assert response.json()["version"] == 2


async def test_delete_archives_but_keeps_versions(
    client: httpx.AsyncClient, editor: Headers, viewer: Headers
) -> None:
    rule = await create(client, editor)
    url = f"/v1/mappings/{rule['id']}"
    assert (await client.delete(url, headers=editor)).status_code == 204
    assert (await client.delete(url, headers=editor)).status_code == 204
    assert (await client.get("/v1/mappings", headers=viewer)).json()["total"] == 0
    archived = (await client.get("/v1/mappings?include_archived=true", headers=viewer)).json()
    assert archived["items"][0]["archived_at"] is not None
    assert (await client.get(url, headers=viewer)).json()["archived_at"] is not None
    assert (await client.get(f"{url}/versions", headers=viewer)).json()["total"] == 1
    actions = [e["action"] for e in await audit(client, viewer, rule["id"])]
    assert actions == ["mapping_rule.archive", "mapping_rule.create"]
    edit = await client.patch(url, json={"priority": 1}, headers=editor)
    assert edit.status_code == 409


async def test_archived_rules_are_not_evaluated(
    client: httpx.AsyncClient, editor: Headers, viewer: Headers
) -> None:
    rule = await create(client, editor)
    body = {
        "record": {"properties": {"utm_source": "LI"}},
        "connector_key": "hubspot",
        "stream": "deals",
    }
    before = (await client.post("/v1/mappings/preview", json=body, headers=viewer)).json()
    assert [m["concept"]["key"] for m in before["matches"]] == ["channel:linkedin"]
    await client.delete(f"/v1/mappings/{rule['id']}", headers=editor)
    after = (await client.post("/v1/mappings/preview", json=body, headers=viewer)).json()
    assert after["matches"] == []


@pytest.mark.parametrize("value", ["LinkedIn Ads", "linkedin", "LI", "lnkd"])
async def test_preview_explains_which_rule_matched(
    client: httpx.AsyncClient,
    editor: Headers,
    viewer: Headers,
    value: str,
) -> None:
    rule = await create(client, editor)
    body = {
        "record": {"properties": {"utm_source": value}},
        "connector_key": "hubspot",
        "stream": "deals",
    }
    response = await client.post("/v1/mappings/preview", json=body, headers=viewer)
    assert response.status_code == 200
    assert response.json() == {
        "matches": [
            {
                "concept": {
                    "key": "channel:linkedin",
                    "pref_label": "LinkedIn Ads",
                    "scheme": "channel",
                },
                "rule": {"id": rule["id"], "version": 1, "draft": False},
                "field_path": "properties.utm_source",
                "matched_value": value,
                "priority": 50,
            }
        ],
        "rules_evaluated": 1,
    }


async def test_preview_tries_draft_rules_without_saving_them(
    client: httpx.AsyncClient,
    editor: Headers,
    viewer: Headers,
    session: AsyncSession,
) -> None:
    await create(client, editor)
    body = {
        "record": {"properties": {"utm_source": "LI"}, "tags": ["newsletter", "Q3"]},
        "connector_key": "hubspot",
        "stream": "deals",
        "draft_rules": [
            {
                "field_path": "tags[*]",
                "operator": "equals",
                "values": ["newsletter"],
                "concept": "channel:email",
                "priority": 80,
            },
            {"field_path": "tags[*]", "operator": "exists", "concept": "channel:linkedin"},
        ],
    }
    response = await client.post("/v1/mappings/preview", json=body, headers=editor)
    matches = response.json()["matches"]
    assert [(m["concept"]["key"], m["rule"]["id"], m["matched_value"]) for m in matches] == [
        ("channel:linkedin", "draft-1", "newsletter"),  # priority 100 beats the saved 50
        ("channel:email", "draft-0", "newsletter"),
    ]
    assert (await client.get("/v1/mappings", headers=viewer)).json()["total"] == 1
    assert (
        await session.scalar(select(AuditEntry.id).where(AuditEntry.action.like("%preview%")))
    ) is None


async def test_preview_can_leave_saved_rules_out(
    client: httpx.AsyncClient, editor: Headers
) -> None:
    await create(client, editor)
    body = {
        "record": {"properties": {"utm_source": "LI"}},
        "connector_key": "hubspot",
        "include_saved": False,
        "draft_rules": [
            {
                "field_path": "properties.utm_source",
                "operator": "prefix",
                "values": ["l"],
                "concept": "channel:email",
            }
        ],
    }
    response = await client.post("/v1/mappings/preview", json=body, headers=editor)
    assert [m["rule"] for m in response.json()["matches"]] == [
        {"id": "draft-0", "version": None, "draft": True}
    ]


@pytest.mark.usefixtures("concepts")
async def test_viewers_preview_saved_rules_but_not_drafts(
    client: httpx.AsyncClient, viewer: Headers
) -> None:
    record = {"connector_key": "hubspot", "record": {"properties": {"utm_source": "x"}}}
    assert (
        await client.post("/v1/mappings/preview", json=record, headers=viewer)
    ).status_code == 200
    draft = {
        **record,
        "draft_rules": [
            {
                "connector_key": "hubspot",
                "field_path": "properties.utm_source",
                "operator": "regex",
                "values": ["x"],
                "concept": "channel:linkedin",
            }
        ],
    }
    refused = await client.post("/v1/mappings/preview", json=draft, headers=viewer)
    assert refused.status_code == 403
    assert "editor" in refused.json()["detail"]
