"""A link-rule change re-links the store, and the assets whose concepts came through those
links are re-classified in the same job: a campaign's concept follows the campaign's links."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from syncbridge.classification import classify_run
from syncbridge.jobs import HandlerRegistry, Outcome, Worker
from syncbridge.linking.run import link_run
from syncbridge.linking.schemas import LinkRuleCreate
from syncbridge.linking.service import RELINK_JOB, archive_rule, create_rule
from syncbridge.metrics.triggers import KIND
from syncbridge.models import Classification, ClassificationChange, Job, Link, StoredRecord
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


async def _linked_and_classified(store: Store) -> uuid.UUID:
    """An asset used by an email campaign: linked by a link rule, classified by a mapping
    rule over the campaign. The link rule's id."""
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
    return rule_id


async def _last_change(sm: Sessionmaker) -> tuple[str, str]:
    async def reasons(session: AsyncSession) -> list[tuple[str, str]]:
        rows = await session.execute(
            select(ClassificationChange.change, ClassificationChange.reason).order_by(
                ClassificationChange.at
            )
        )
        return [(change, reason) for change, reason in rows]

    return (await in_unit_of_work(sm, reasons, write=False))[-1]


async def test_archiving_a_link_rule_takes_the_campaigns_concept_off_its_assets(
    store: Store,
) -> None:
    sm = store.sm
    rule_id = await _linked_and_classified(store)

    await in_unit_of_work(sm, lambda s: archive_rule(s, rule_id, "test"))
    report = await relink_and_reclassify(sm)

    assert report.diff.removed == 1
    assert await _state(sm) == (set(), set())
    change, reason = await _last_change(sm)
    assert change == "removed"
    assert "no longer linked" in reason
    again = await relink_and_reclassify(sm)
    assert not again.diff.changed


async def test_the_queued_relink_job_re_classifies(store: Store, engine: AsyncEngine) -> None:
    """Archiving queues the relink job; a real worker with the installed handlers runs it,
    and the campaign's concept leaves the asset with the link."""
    rule_id = await _linked_and_classified(store)
    await in_unit_of_work(store.sm, lambda s: archive_rule(s, rule_id, "test"))

    worker = Worker(engine, HandlerRegistry.load(), listen=False)
    outcomes: list[Outcome] = []
    while done := await worker.run_once():
        outcomes += done

    assert set(outcomes) == {Outcome.done}

    async def relinks(session: AsyncSession) -> list[str]:
        return list(await session.scalars(select(Job.status).where(Job.kind == RELINK_JOB)))

    assert "done" in await in_unit_of_work(store.sm, relinks, write=False)
    assert await _state(store.sm) == (set(), set())

    async def computations(session: AsyncSession) -> list[tuple[str, object]]:
        rows = await session.execute(select(Job.status, Job.payload).where(Job.kind == KIND))
        return [(str(status), payload) for status, payload in rows]

    # The facts come from linked records: the re-link queues their recomputation (delayed).
    queued = await in_unit_of_work(store.sm, computations, write=False)
    assert queued
    assert all(job == ("queued", {}) for job in queued)
    change, reason = await _last_change(store.sm)
    assert change == "removed"
    assert "no longer linked" in reason
