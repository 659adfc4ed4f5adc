"""A link-rule change re-links the store, and the assets whose concepts came through those
links are re-classified in the same job: a campaign's concept follows the campaign's links."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from syncbridge.classification import classify_run
from syncbridge.jobs import HandlerRegistry
from syncbridge.linking.jobs import relink_store
from syncbridge.linking.run import link_run
from syncbridge.linking.schemas import LinkRuleCreate
from syncbridge.linking.service import RELINK_JOB, archive_rule, create_rule
from syncbridge.models import Classification, ClassificationChange, Link, StoredRecord
from syncbridge.store.unit_of_work import in_unit_of_work
from syncbridge.sync.settle import relink_and_reclassify
from tests.test_classification import Store, add_asset, add_connection, make_rule, seed_taxonomy

pytest_plugins = ["tests.store_fixtures"]

Sessionmaker = async_sessionmaker[AsyncSession]
ASSET = "5b75b141-bc64-4572-b742-22005f9846d4"


@pytest.fixture
async def store(sessionmaker: Sessionmaker) -> Store:
    concepts = await seed_taxonomy(sessionmaker)
    dam = await add_connection(sessionmaker, "bynder")
    crm = await add_connection(sessionmaker, "hubspot")
    return Store(sessionmaker, concepts, dam, crm)


async def _campaign(store: Store, data: dict[str, Any], run_id: uuid.UUID) -> uuid.UUID:
    async def work(session: AsyncSession) -> uuid.UUID:
        record = StoredRecord(
            connection_id=store.crm,
            stream="campaigns",
            external_id="campaign-1",
            data=data,
            content_hash="-",
            last_run_id=run_id,
            seen_run_id=run_id,
        )
        session.add(record)
        await session.flush()
        return record.id

    return await in_unit_of_work(store.sm, work)


async def _state(sm: Sessionmaker) -> tuple[set[uuid.UUID], set[tuple[uuid.UUID, str]]]:
    async def read(session: AsyncSession) -> tuple[set[uuid.UUID], set[tuple[uuid.UUID, str]]]:
        links = set(await session.scalars(select(Link.record_id)))
        rows = await session.execute(select(Classification.concept_id, Classification.source))
        return links, {(concept, source) for concept, source in rows}

    return await in_unit_of_work(sm, read, write=False)


async def test_archiving_a_link_rule_takes_the_campaigns_concept_off_its_assets(
    store: Store,
) -> None:
    sm = store.sm
    run = uuid.uuid4()

    async def link_rule(session: AsyncSession) -> uuid.UUID:
        body = LinkRuleCreate(
            name="campaign asset ids",
            connector_key="hubspot",
            stream="campaigns",
            field_path="asset_ids",
            match="contains",
            asset_key="id",
        )
        return (await create_rule(session, body, "test")).id

    rule_id = await in_unit_of_work(sm, link_rule)
    await make_rule(
        sm,
        connector_key="hubspot",
        stream="campaigns",
        field_path="medium",
        values=["email"],
        concept="channel:email",
    )
    await add_asset(store, {"id": ASSET, "name": "hero"}, run)
    campaign = await _campaign(store, {"asset_ids": ASSET, "medium": "email"}, run)
    await link_run(sm, run)
    await classify_run(sm, run)
    email = store.concepts["channel:email"]
    assert await _state(sm) == ({campaign}, {(email, "rule")})

    await in_unit_of_work(sm, lambda s: archive_rule(s, rule_id, "test"))
    report = await relink_and_reclassify(sm)

    assert report.diff.removed == 1
    assert await _state(sm) == (set(), set())

    async def reasons(session: AsyncSession) -> list[tuple[str, str]]:
        rows = await session.execute(
            select(ClassificationChange.change, ClassificationChange.reason).order_by(
                ClassificationChange.at
            )
        )
        return [(change, reason) for change, reason in rows]

    history = await in_unit_of_work(sm, reasons, write=False)
    assert history[-1][0] == "removed"
    assert "no longer linked" in history[-1][1]
    again = await relink_and_reclassify(sm)
    assert not again.diff.changed


def test_the_relink_job_re_classifies() -> None:
    """The registered relink handler is the one that re-classifies after re-linking."""
    loaded = HandlerRegistry.load()
    assert loaded.get(RELINK_JOB) is relink_store
    assert "relink_and_reclassify" in relink_store.__code__.co_names
