"""Deprecating and deleting concepts that mapping rules and other concepts depend on."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from syncbridge.models import AuditEntry, Concept, MappingRule, MappingRuleVersion

FIXTURES = Path(__file__).parent / "fixtures" / "taxonomy"
BASE = "/v1/taxonomy"


@pytest.fixture
async def loaded(client: httpx.AsyncClient, editor: dict[str, str]) -> None:
    response = await client.post(
        f"{BASE}/import",
        content=(FIXTURES / "topic.yaml").read_bytes(),
        headers={**editor, "content-type": "application/yaml"},
    )
    assert response.status_code == 200, response.text


async def add_rule(
    session: AsyncSession, concept_key: str, name: str, *, archived: bool = False
) -> MappingRule:
    """A mapping rule (version 1) targeting ``concept_key``, made through the models."""
    concept = (
        await session.execute(select(Concept).where(Concept.key == concept_key))
    ).scalar_one()
    content = {
        "name": name,
        "connector_key": "hubspot",
        "field_path": "properties.utm_source",
        "operator": "equals",
        "values": [name],
        "concept_id": concept.id,
    }
    rule = MappingRule(**content, archived_at=datetime.now(UTC) if archived else None)
    session.add(rule)
    await session.flush()
    session.add(MappingRuleVersion(rule_id=rule.id, version=1, created_by="test", **content))
    await session.commit()
    return rule


async def rule_state(session: AsyncSession, rule: MappingRule) -> tuple[str, int, int]:
    """The rule's current concept key, version and number of stored versions."""
    await session.refresh(rule)
    key = (
        await session.execute(select(Concept.key).where(Concept.id == rule.concept_id))
    ).scalar_one()
    versions = (
        await session.execute(select(func.count()).where(MappingRuleVersion.rule_id == rule.id))
    ).scalar_one()
    return key, rule.version, versions


@pytest.mark.usefixtures("loaded")
async def test_unused_concept_is_deprecated_without_replacement(
    client: httpx.AsyncClient, editor: dict[str, str]
) -> None:
    response = await client.post(
        f"{BASE}/concepts/topic:e-sport/deprecate", json={"replacement": None}, headers=editor
    )
    assert response.status_code == 200, response.text
    concept = response.json()["concept"]
    assert (concept["status"], concept["replaced_by"], concept["revision"]) == (
        "deprecated",
        None,
        2,
    )
    history = (await client.get(f"{BASE}/concepts/topic:e-sport/history", headers=editor)).json()
    assert history["items"][0]["action"] == "concept.deprecate"
    assert history["items"][0]["before"]["status"] == "draft"


@pytest.mark.usefixtures("loaded")
async def test_deprecating_a_used_concept_without_replacement_lists_the_rules(
    client: httpx.AsyncClient, editor: dict[str, str], session: AsyncSession
) -> None:
    rule = await add_rule(session, "topic:running", "utm running")
    await add_rule(session, "topic:running", "old running rule", archived=True)
    response = await client.post(
        f"{BASE}/concepts/topic:running/deprecate", json={}, headers=editor
    )
    assert response.status_code == 409
    assert response.json()["mappings"] == [{"id": str(rule.id), "name": "utm running"}]
    got = (await client.get(f"{BASE}/concepts/topic:running", headers=editor)).json()
    assert (got["status"], got["revision"]) == ("approved", 1)


@pytest.mark.usefixtures("loaded")
async def test_deprecating_with_a_replacement_moves_the_rules(
    client: httpx.AsyncClient, editor: dict[str, str], session: AsyncSession
) -> None:
    rule = await add_rule(session, "topic:trail-running", "utm trail")
    response = await client.post(
        f"{BASE}/concepts/topic:trail-running/deprecate",
        json={"replacement": "topic:running"},
        headers=editor,
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["moved_rules"] == [{"id": str(rule.id), "name": "utm trail"}]
    assert body["concept"]["replaced_by"] == "topic:running"
    assert await rule_state(session, rule) == ("topic:running", 2, 2)
    audited = (
        (
            await session.execute(
                select(AuditEntry.action).where(AuditEntry.entity_id == str(rule.id))
            )
        )
        .scalars()
        .all()
    )
    assert [a.rsplit(".", 1)[-1] for a in audited] == ["retarget"]


@pytest.mark.parametrize(
    ("replacement", "reason"),
    [
        ("topic:nope", "unknown concept"),
        ("topic:running", "a concept cannot replace itself"),
        ("topic:jogging-old", "replacement 'topic:jogging-old' is deprecated too"),
    ],
)
@pytest.mark.usefixtures("loaded")
async def test_bad_replacement_is_422(
    client: httpx.AsyncClient, editor: dict[str, str], replacement: str, reason: str
) -> None:
    response = await client.post(
        f"{BASE}/concepts/topic:running/deprecate",
        json={"replacement": replacement},
        headers=editor,
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["reason"] == reason


@pytest.mark.usefixtures("loaded")
async def test_setting_status_back_undeprecates_and_drops_the_replacement(
    client: httpx.AsyncClient, editor: dict[str, str]
) -> None:
    response = await client.patch(
        f"{BASE}/concepts/topic:jogging-old", json={"status": "approved"}, headers=editor
    )
    assert response.status_code == 200
    assert (response.json()["status"], response.json()["replaced_by"]) == ("approved", None)


@pytest.mark.usefixtures("loaded")
async def test_concept_with_narrower_cannot_be_deleted(
    client: httpx.AsyncClient, editor: dict[str, str]
) -> None:
    response = await client.delete(f"{BASE}/concepts/topic:sport", headers=editor)
    assert response.status_code == 409
    assert response.json()["narrower"] == ["topic:e-sport", "topic:running"]


@pytest.mark.usefixtures("loaded")
async def test_concept_that_rules_use_or_used_cannot_be_deleted(
    client: httpx.AsyncClient, editor: dict[str, str], session: AsyncSession
) -> None:
    rule = await add_rule(session, "topic:e-sport", "archived esports", archived=True)
    response = await client.delete(f"{BASE}/concepts/topic:e-sport", headers=editor)
    assert response.status_code == 409
    assert response.json()["mappings"] == [{"id": str(rule.id), "name": "archived esports"}]


@pytest.mark.usefixtures("loaded")
async def test_unused_leaf_is_deleted_and_audited(
    client: httpx.AsyncClient, editor: dict[str, str], admin: dict[str, str]
) -> None:
    # topic:running replaces topic:jogging-old; deleting it clears that link, audited.
    await client.delete(f"{BASE}/concepts/topic:trail-running", headers=editor)
    response = await client.delete(f"{BASE}/concepts/topic:running", headers=editor)
    assert response.status_code == 204
    assert (await client.get(f"{BASE}/concepts/topic:running", headers=editor)).status_code == 404
    old = (await client.get(f"{BASE}/concepts/topic:jogging-old", headers=editor)).json()
    assert (old["replaced_by"], old["revision"]) == (None, 2)
    audit = (await client.get("/v1/audit?action=concept.delete", headers=admin)).json()
    assert [e["before"]["key"] for e in audit["items"]] == ["topic:running", "topic:trail-running"]
    assert audit["items"][0]["after"] is None
    # Labels went with it: the label is free again.
    recreated = await client.post(
        f"{BASE}/concepts",
        json={"scheme": "topic", "key": "topic:run", "pref_label": {"en": "Running"}},
        headers=editor,
    )
    assert recreated.status_code == 201


@pytest.mark.usefixtures("loaded")
async def test_import_that_deprecates_a_used_concept_needs_a_replacement(
    client: httpx.AsyncClient, editor: dict[str, str], session: AsyncSession
) -> None:
    rule = await add_rule(session, "topic:outdoor", "utm outdoor")
    text = (FIXTURES / "topic.yaml").read_text()
    deprecated = text.replace(
        "    alt_labels: [Outdoors, Open air]\n",
        "    alt_labels: [Outdoors, Open air]\n    status: deprecated\n",
    )
    headers = {**editor, "content-type": "application/yaml"}
    refused = await client.post(f"{BASE}/import", content=deprecated, headers=headers)
    assert refused.status_code == 422
    (error,) = refused.json()["errors"]
    assert error["field"] == "topic:outdoor"
    assert "utm outdoor" in error["reason"]
    assert await rule_state(session, rule) == ("topic:outdoor", 1, 1)

    replaced = deprecated.replace(
        "    status: deprecated\n", "    status: deprecated\n    replaced_by: topic:sport\n", 1
    )
    dry = await client.post(f"{BASE}/import?dry_run=true", content=replaced, headers=headers)
    assert dry.json()["moved_rules"] == [{"id": str(rule.id), "name": "utm outdoor"}]
    assert await rule_state(session, rule) == ("topic:outdoor", 1, 1)
    response = await client.post(f"{BASE}/import", content=replaced, headers=headers)
    assert response.status_code == 200, response.text
    assert response.json()["moved_rules"] == [{"id": str(rule.id), "name": "utm outdoor"}]
    assert await rule_state(session, rule) == ("topic:sport", 2, 2)
