"""Retiring a `perf:*` concept that an enabled tag rule gives: deprecating (by its own call
or by an import) and deleting are refused with 409, naming the rule; once the rule is
disabled, the concept may go. (A PATCH cannot deprecate: its status is draft or approved.)"""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from syncbridge.bootstrap import load_default_taxonomy
from syncbridge.models import Concept, TagRule
from syncbridge.store.unit_of_work import in_unit_of_work
from syncbridge.tagging.defaults import load_default_tag_rules

TAXONOMY = Path(__file__).parents[1] / "taxonomy"
BASE = "/v1/taxonomy/concepts"


@pytest.fixture
async def rule(app: FastAPI) -> TagRule:
    """The default taxonomy and its default tag rule (tiers top-10 to bottom-25)."""

    async def defaults(session: AsyncSession) -> TagRule:
        await load_default_taxonomy(session)
        await load_default_tag_rules(session, "test")
        return (await session.scalars(select(TagRule))).one()

    return await in_unit_of_work(app.state.sessionmaker, defaults)


async def status_of(session: AsyncSession, key: str) -> str | None:
    concept = await session.scalar(select(Concept).where(Concept.key == key))
    return None if concept is None else concept.status


def assert_names_the_rule(response: httpx.Response, rule: TagRule) -> None:
    assert response.status_code == 409, response.text
    body = response.json()
    assert rule.name in body["detail"]
    assert str(rule.id) in body["detail"]
    assert body["tag_rules"] == [{"id": str(rule.id), "name": rule.name, "version": 1}]


@pytest.mark.parametrize("replacement", [None, "perf:top-10"])
async def test_deprecating_a_tier_an_enabled_rule_gives_is_refused(
    client: httpx.AsyncClient,
    editor: dict[str, str],
    session: AsyncSession,
    rule: TagRule,
    replacement: str | None,
) -> None:
    response = await client.post(
        f"{BASE}/perf:top-25/deprecate", json={"replacement": replacement}, headers=editor
    )
    assert_names_the_rule(response, rule)
    assert await status_of(session, "perf:top-25") == "approved"


async def test_deleting_it_is_refused_too(
    client: httpx.AsyncClient, editor: dict[str, str], session: AsyncSession, rule: TagRule
) -> None:
    key = "perf:insufficient-data"  # the rule's insufficient concept counts as well
    deprecated = await client.post(f"{BASE}/{key}/deprecate", json={}, headers=editor)
    assert_names_the_rule(deprecated, rule)
    deleted = await client.delete(f"{BASE}/{key}", headers=editor)
    assert_names_the_rule(deleted, rule)
    assert await status_of(session, key) == "approved"
    # Other edits of the concept go on as before.
    relabelled = await client.patch(
        f"{BASE}/{key}", json={"definition": "Below the rule's minimum sample."}, headers=editor
    )
    assert relabelled.status_code == 200, relabelled.text


async def test_an_import_that_deprecates_it_is_refused(
    client: httpx.AsyncClient, editor: dict[str, str], session: AsyncSession, rule: TagRule
) -> None:
    text = (TAXONOMY / "performance-tier.yaml").read_text()
    marker = "  - key: perf:middle\n"
    assert marker in text
    deprecated = text.replace(marker, marker + "    status: deprecated\n")
    headers = {**editor, "content-type": "application/yaml"}
    response = await client.post("/v1/taxonomy/import", content=deprecated, headers=headers)
    assert response.status_code in (409, 422), response.text
    (error,) = response.json()["errors"]
    assert error["field"] == "perf:middle"
    assert rule.name in error["reason"]
    assert await status_of(session, "perf:middle") == "approved"


async def test_once_the_rule_is_disabled_the_concept_may_be_deprecated(
    client: httpx.AsyncClient, editor: dict[str, str], session: AsyncSession, rule: TagRule
) -> None:
    disabled = await client.patch(
        f"/v1/tag-rules/{rule.id}", json={"enabled": False}, headers=editor
    )
    assert disabled.status_code == 200, disabled.text
    response = await client.post(f"{BASE}/perf:top-25/deprecate", json={}, headers=editor)
    assert response.status_code == 200, response.text
    assert await status_of(session, "perf:top-25") == "deprecated"
