"""The default link rules: a reviewed data file, loaded at first start, never twice."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from syncbridge.bootstrap import bootstrap_store
from syncbridge.db import open_store
from syncbridge.linking.defaults import (
    default_rules_file,
    load_default_link_rules,
    read_default_rules,
)
from syncbridge.linking.service import archive_rule
from syncbridge.models import Job
from syncbridge.models.linking import LinkRule
from syncbridge.settings import Settings
from syncbridge.store.unit_of_work import in_unit_of_work

BUNDLED = default_rules_file()


def test_the_bundled_file_is_valid_with_unique_keys() -> None:
    assert BUNDLED is not None
    rules = read_default_rules(BUNDLED)
    keys = {rule.key for rule in rules}
    assert len(keys) == len(rules) == 11
    # What a marketer expects, by evidence: ids in UTM content or a GA4 dimension, file
    # names in page paths and landing pages, CDN paths, campaign asset lists, campaigns.
    assert {(r.connector_key, r.field_path, r.asset_key) for r in rules} >= {
        ("ga4", "customEvent:asset_id", "id"),
        ("ga4", "sessionManualAdContent", "id"),
        ("ga4", "pagePath", "file_name"),
        ("ga4", "landingPage", "file_name"),
        ("ga4", "pagePath", "cdn_path"),
        ("hubspot", "assets[*].id", "id"),
        ("hubspot", "assets[*].name", "id"),
        ("salesforce", "DAM_Asset_Ids__c", "id"),
        ("hubspot", "associations.campaigns[*]", "record"),
        ("salesforce", "CampaignId", "record"),
    }


def test_a_broken_file_names_each_bad_rule(tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(
        "rules:\n"
        "  - {key: a, connector_key: ga4, field_path: 'x[', asset_key: id}\n"
        "  - {key: b, connector_key: ga4, field_path: x, asset_key: record}\n"
        "  - {key: b, connector_key: ga4, field_path: x, asset_key: id, colour: red}\n",
        encoding="utf-8",
    )
    with pytest.raises(ValueError, match="rules\\[0\\]") as raised:
        read_default_rules(path)
    message = str(raised.value)
    assert "rules[1].via_stream" in message
    assert "rules[2]" in message


async def count_rules(settings: Settings) -> tuple[int, int]:
    async def work(session: AsyncSession) -> tuple[int, int]:
        rules = await session.scalar(select(func.count()).select_from(LinkRule))
        jobs = await session.scalar(
            select(func.count()).select_from(Job).where(Job.kind == "linking.relink")
        )
        return int(rules or 0), int(jobs or 0)

    async with open_store(settings.database_url) as sessionmaker:
        return await in_unit_of_work(sessionmaker, work, write=False)


async def test_first_start_loads_the_defaults_once(settings: Settings) -> None:
    await bootstrap_store(settings)
    assert await count_rules(settings) == (11, 1)  # one relink for all of them

    await bootstrap_store(settings)
    assert await count_rules(settings) == (11, 1)


async def test_an_archived_default_is_not_loaded_again(settings: Settings) -> None:
    async with open_store(settings.database_url) as sessionmaker:
        assert await in_unit_of_work(sessionmaker, lambda s: load_default_link_rules(s, "t")) == 11

        async def archive_one(session: AsyncSession) -> None:
            rule = await session.scalar(
                select(LinkRule).where(LinkRule.default_key == "ga4-utm-content")
            )
            assert rule is not None
            await archive_rule(session, rule.id, "admin")

        await in_unit_of_work(sessionmaker, archive_one)
        again = await in_unit_of_work(sessionmaker, lambda s: load_default_link_rules(s, "t"))
    assert again == 0
