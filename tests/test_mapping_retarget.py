"""The taxonomy's hooks into mapping: rules using a concept, and moving them to another."""

from __future__ import annotations

import uuid

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from syncbridge.mapping.service import retarget_rules, rules_using_concept
from syncbridge.models import AuditEntry, Concept, MappingRuleVersion
from tests.test_mapping_api import concepts, create

__all__ = ["concepts"]  # the fixture, re-used

Headers = dict[str, str]


async def test_rules_using_concept_skips_archived_and_other_rules(
    client: httpx.AsyncClient, editor: Headers, session: AsyncSession, concepts: dict[str, Concept]
) -> None:
    kept = await create(client, editor)
    archived = await create(client, editor)
    await create(client, editor, concept="channel:email")
    await client.delete(f"/v1/mappings/{archived['id']}", headers=editor)
    found = await rules_using_concept(session, concepts["channel:linkedin"].id)
    assert [str(rule.id) for rule in found] == [kept["id"]]
    assert await rules_using_concept(session, concepts["channel:fax"].id) == []


async def test_retarget_moves_rules_as_new_audited_versions(
    client: httpx.AsyncClient,
    editor: Headers,
    viewer: Headers,
    session: AsyncSession,
    concepts: dict[str, Concept],
) -> None:
    first = await create(client, editor)
    second = await create(client, editor, priority=5)
    untouched = await create(client, editor, concept="channel:email")
    linkedin, email = concepts["channel:linkedin"], concepts["channel:email"]

    moved = await retarget_rules(
        session, from_concept_id=linkedin.id, to_concept_id=email.id, actor="key:taxonomy"
    )
    await session.commit()

    assert sorted(str(r.id) for r in moved) == sorted([first["id"], second["id"]])
    for rule in (first, second):
        now = (await client.get(f"/v1/mappings/{rule['id']}", headers=viewer)).json()
        assert (now["concept"], now["version"]) == ("channel:email", 2)
        url = f"/v1/mappings/{rule['id']}/versions"
        versions = (await client.get(url, headers=viewer)).json()["items"]
        assert [(v["concept"], v["created_by"].split(" (")[0]) for v in versions] == [
            ("channel:linkedin", "key:test-editor"),
            ("channel:email", "key:taxonomy"),
        ]
    assert (await client.get(f"/v1/mappings/{untouched['id']}", headers=viewer)).json()[
        "version"
    ] == 1
    entries = (
        await session.scalars(
            select(AuditEntry).where(AuditEntry.action == "mapping_rule.retarget")
        )
    ).all()
    assert sorted(e.entity_id or "" for e in entries) == sorted([first["id"], second["id"]])
    assert {(e.before or {})["concept_id"] for e in entries} == {str(linkedin.id)}
    assert {(e.after or {})["concept_id"] for e in entries} == {str(email.id)}


async def test_retarget_onto_itself_or_from_an_unused_concept_does_nothing(
    client: httpx.AsyncClient, editor: Headers, session: AsyncSession, concepts: dict[str, Concept]
) -> None:
    await create(client, editor)
    linkedin = concepts["channel:linkedin"].id
    same = await retarget_rules(
        session, from_concept_id=linkedin, to_concept_id=linkedin, actor="x"
    )
    unused = await retarget_rules(
        session, from_concept_id=uuid.uuid4(), to_concept_id=linkedin, actor="x"
    )
    assert same == unused == []
    count = len((await session.scalars(select(MappingRuleVersion))).all())
    assert count == 1
