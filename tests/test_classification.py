"""Classifying what a sync run changed: provenance, idempotence, rules over linked records,
the winning rule per concept, tombstones, manual classifications left alone, big batches.

The store is seeded through the models and the real mapping and taxonomy services; the
classifier runs on it as the settle step runs it."""

from __future__ import annotations

import asyncio
import hashlib
import json
import uuid
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from syncbridge.classification import classify_run, reclassify
from syncbridge.classification.service import BATCH_SIZE
from syncbridge.mapping.schemas import RuleCreate
from syncbridge.mapping.service import create_rule
from syncbridge.models import (
    Asset,
    Classification,
    ClassificationChange,
    Connection,
    Link,
    StoredRecord,
    utcnow,
)
from syncbridge.store.unit_of_work import in_unit_of_work
from syncbridge.taxonomy.schemas import ConceptIn, SchemeIn
from syncbridge.taxonomy.service import create_concept, create_scheme

pytest_plugins = ["tests.store_fixtures"]

Sessionmaker = async_sessionmaker[AsyncSession]
ACTOR = "key:test (t)"

CONCEPTS = {
    "channel": ["channel:web", "channel:social", "channel:email"],
    "objective": ["objective:awareness", "objective:leads"],
    "asset-type": ["asset-type:image", "asset-type:video"],
}


@dataclass
class Store:
    """A seeded store: concepts by key, a DAM and a CRM connection."""

    sm: Sessionmaker
    concepts: dict[str, uuid.UUID]
    dam: uuid.UUID
    crm: uuid.UUID


async def seed_taxonomy(sm: Sessionmaker) -> dict[str, uuid.UUID]:
    async def work(session: AsyncSession) -> dict[str, uuid.UUID]:
        ids: dict[str, uuid.UUID] = {}
        for scheme, keys in CONCEPTS.items():
            await create_scheme(session, SchemeIn(key=scheme, title=scheme), ACTOR)
            for key in keys:
                label = key.split(":")[1].title()
                body = ConceptIn(scheme=scheme, key=key, pref_label={"en": label})
                ids[key] = (await create_concept(session, body, ACTOR)).id
        return ids

    return await in_unit_of_work(sm, work)


async def add_connection(sm: Sessionmaker, connector_key: str) -> uuid.UUID:
    async def work(session: AsyncSession) -> uuid.UUID:
        connection = Connection(connector_key=connector_key, name=f"{connector_key}-test")
        session.add(connection)
        await session.flush()
        return connection.id

    return await in_unit_of_work(sm, work)


@pytest.fixture
async def store(sessionmaker: Sessionmaker) -> Store:
    concepts = await seed_taxonomy(sessionmaker)
    dam = await add_connection(sessionmaker, "bynder")
    crm = await add_connection(sessionmaker, "hubspot")
    return Store(sessionmaker, concepts, dam, crm)


async def make_rule(sm: Sessionmaker, **fields: Any) -> uuid.UUID:
    """A saved mapping rule (through the mapping service); bynder media by default."""
    body: dict[str, Any] = {
        "connector_key": "bynder",
        "stream": "media",
        "operator": "equals",
        "priority": 100,
    } | fields

    async def work(session: AsyncSession) -> uuid.UUID:
        return (await create_rule(session, RuleCreate(**body), ACTOR)).id

    return await in_unit_of_work(sm, work)


def _hash(data: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()


async def add_asset(
    store: Store, data: dict[str, Any], run_id: uuid.UUID | None, stream: str = "media"
) -> uuid.UUID:
    async def work(session: AsyncSession) -> uuid.UUID:
        asset = Asset(
            connection_id=store.dam,
            stream=stream,
            external_id=uuid.uuid4().hex,
            data=data,
            content_hash=_hash(data),
            last_run_id=run_id,
            seen_run_id=run_id,
        )
        session.add(asset)
        await session.flush()
        return asset.id

    return await in_unit_of_work(store.sm, work)


async def add_record(
    store: Store, data: dict[str, Any], run_id: uuid.UUID | None, stream: str = "campaigns"
) -> uuid.UUID:
    async def work(session: AsyncSession) -> uuid.UUID:
        record = StoredRecord(
            connection_id=store.crm,
            stream=stream,
            external_id=uuid.uuid4().hex,
            data=data,
            content_hash=_hash(data),
            last_run_id=run_id,
            seen_run_id=run_id,
        )
        session.add(record)
        await session.flush()
        return record.id

    return await in_unit_of_work(store.sm, work)


async def add_link(store: Store, asset_id: uuid.UUID, record_id: uuid.UUID) -> None:
    async def work(session: AsyncSession) -> None:
        session.add(
            Link(
                asset_id=asset_id, record_id=record_id, field_path="assets", value="x", run_id=None
            )
        )

    await in_unit_of_work(store.sm, work)


async def classifications(sm: Sessionmaker, asset_id: uuid.UUID) -> list[Classification]:
    async def work(session: AsyncSession) -> list[Classification]:
        rows = await session.scalars(
            select(Classification)
            .where(Classification.asset_id == asset_id)
            .order_by(Classification.source, Classification.concept_id)
        )
        return list(rows)

    return await in_unit_of_work(sm, work, write=False)


async def changes(sm: Sessionmaker, asset_id: uuid.UUID) -> list[ClassificationChange]:
    async def work(session: AsyncSession) -> list[ClassificationChange]:
        rows = await session.scalars(
            select(ClassificationChange)
            .where(ClassificationChange.asset_id == asset_id)
            .order_by(ClassificationChange.id)
        )
        return list(rows)

    return await in_unit_of_work(sm, work, write=False)


async def count(sm: Sessionmaker, model: type[Classification] | type[ClassificationChange]) -> int:
    async def work(session: AsyncSession) -> int:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)

    return await in_unit_of_work(sm, work, write=False)


def concepts_of(store: Store, rows: list[Classification]) -> set[tuple[str, str]]:
    keys = {v: k for k, v in store.concepts.items()}
    return {(keys[row.concept_id], row.source) for row in rows}


# --- a run's own assets ---------------------------------------------------------------


async def test_a_run_classifies_the_assets_it_changed_with_provenance(store: Store) -> None:
    run = uuid.uuid4()
    rule = await make_rule(
        store.sm, name="images", field_path="type", values=["image"], concept="asset-type:image"
    )
    image = await add_asset(store, {"type": "image", "tags": ["x"]}, run)
    untouched = await add_asset(store, {"type": "image"}, uuid.uuid4())

    report = await classify_run(store.sm, run)

    assert (report.assets, report.added, report.changed, report.removed) == (1, 1, 0, 0)
    [row] = await classifications(store.sm, image)
    assert row.source == "rule"
    assert row.concept_id == store.concepts["asset-type:image"]
    assert (row.rule_id, row.rule_version) == (rule, 1)
    assert (row.record_id, row.field_path, row.value, row.run_id) == (None, "type", "image", run)
    [change] = await changes(store.sm, image)
    assert (change.change, change.source, change.concept_key) == (
        "added",
        "rule",
        "asset-type:image",
    )
    assert change.reason == "rule 'images' v1 (type = \"image\") matched"
    assert (change.rule_id, change.rule_version, change.run_id) == (rule, 1, run)
    assert await classifications(store.sm, untouched) == []


async def test_classifying_a_run_twice_changes_nothing(store: Store) -> None:
    run = uuid.uuid4()
    await make_rule(
        store.sm, name="images", field_path="type", values=["image"], concept="asset-type:image"
    )
    await make_rule(
        store.sm,
        name="web",
        field_path="property_Channel",
        operator="in",
        values=["website"],
        concept="channel:web",
    )
    assets = [
        await add_asset(store, {"type": "image", "property_Channel": ["website"]}, run)
        for _ in range(3)
    ]
    await classify_run(store.sm, run)
    before = [
        (r.id, r.updated_at, r.rule_version)
        for a in assets
        for r in await classifications(store.sm, a)
    ]
    history = await count(store.sm, ClassificationChange)

    again = await classify_run(store.sm, run)

    assert (again.assets, again.added, again.changed, again.removed) == (3, 0, 0, 0)
    after = [
        (r.id, r.updated_at, r.rule_version)
        for a in assets
        for r in await classifications(store.sm, a)
    ]
    assert after == before
    assert len(before) == 6
    assert await count(store.sm, ClassificationChange) == history


# --- rules over linked records ----------------------------------------------------------


async def test_a_campaigns_objective_flows_to_the_assets_it_used(store: Store) -> None:
    run = uuid.uuid4()
    rule = await make_rule(
        store.sm,
        name="awareness campaigns",
        connector_key="hubspot",
        stream="campaigns",
        field_path="objective",
        values=["Awareness"],
        concept="objective:awareness",
    )
    # The asset did not change in this run; the campaign linked to it did.
    asset = await add_asset(store, {"type": "video"}, uuid.uuid4())
    campaign = await add_record(store, {"objective": "awareness", "name": "Spring"}, run)
    await add_link(store, asset, campaign)
    unlinked = await add_asset(store, {"type": "video"}, run)

    await classify_run(store.sm, run)

    [row] = await classifications(store.sm, asset)
    assert row.concept_id == store.concepts["objective:awareness"]
    assert (row.rule_id, row.record_id, row.field_path, row.value) == (
        rule,
        campaign,
        "objective",
        "awareness",
    )
    assert row.run_id == run  # the run that brought the campaign's data
    [change] = await changes(store.sm, asset)
    assert f"on linked record {campaign}" in change.reason
    assert change.record_id == campaign
    assert await classifications(store.sm, unlinked) == []


async def test_rules_of_another_stream_do_not_read_a_record(store: Store) -> None:
    run = uuid.uuid4()
    await make_rule(
        store.sm,
        name="deals",
        connector_key="hubspot",
        stream="deals",
        field_path="objective",
        values=["awareness"],
        concept="objective:awareness",
    )
    asset = await add_asset(store, {}, run)
    await add_link(store, asset, await add_record(store, {"objective": "awareness"}, run))
    await classify_run(store.sm, run)
    assert await classifications(store.sm, asset) == []


async def test_a_concept_reached_by_several_rules_keeps_the_highest_priority_one(
    store: Store,
) -> None:
    run = uuid.uuid4()
    low = await make_rule(
        store.sm,
        name="tag social",
        field_path="tags",
        operator="in",
        values=["social-square"],
        concept="channel:social",
        priority=10,
    )
    high = await make_rule(
        store.sm,
        name="campaign social",
        connector_key="hubspot",
        stream="campaigns",
        field_path="channel",
        values=["social"],
        concept="channel:social",
        priority=90,
    )
    asset = await add_asset(store, {"tags": ["social-square"]}, run)
    campaigns = sorted(
        [await add_record(store, {"channel": "social"}, run) for _ in range(2)], key=str
    )
    for campaign in campaigns:
        await add_link(store, asset, campaign)

    await classify_run(store.sm, run)

    [row] = await classifications(store.sm, asset)
    # Higher priority wins over the asset's own data; between two records, the lower id.
    assert (row.rule_id, row.record_id) == (high, campaigns[0])
    assert low != high


async def test_equal_priorities_go_to_the_lower_rule_id(store: Store) -> None:
    run = uuid.uuid4()
    rules = [
        await make_rule(
            store.sm,
            name=f"web {n}",
            field_path="type",
            values=["image"],
            concept="channel:web",
            priority=50,
        )
        for n in range(3)
    ]
    asset = await add_asset(store, {"type": "image"}, run)
    await classify_run(store.sm, run)
    [row] = await classifications(store.sm, asset)
    assert row.rule_id == min(rules, key=str)


# --- tombstones and manual classifications ------------------------------------------------


async def test_a_tombstoned_asset_loses_its_rule_classifications_only(store: Store) -> None:
    first, second = uuid.uuid4(), uuid.uuid4()
    await make_rule(
        store.sm, name="images", field_path="type", values=["image"], concept="asset-type:image"
    )
    asset = await add_asset(store, {"type": "image"}, first)
    await classify_run(store.sm, first)

    async def manual_and_tombstone(session: AsyncSession) -> None:
        session.add(
            Classification(
                asset_id=asset,
                concept_id=store.concepts["channel:email"],
                source="manual",
                created_by=ACTOR,
            )
        )
        await session.execute(
            update(Asset).where(Asset.id == asset).values(deleted_at=utcnow(), last_run_id=second)
        )

    await in_unit_of_work(store.sm, manual_and_tombstone)
    report = await classify_run(store.sm, second)

    assert report.removed == 1
    assert concepts_of(store, await classifications(store.sm, asset)) == {
        ("channel:email", "manual")
    }
    last = (await changes(store.sm, asset))[-1]
    assert (last.change, last.reason, last.run_id) == ("removed", "asset deleted", second)


async def test_rules_add_beside_a_manual_classification_and_never_touch_it(store: Store) -> None:
    run = uuid.uuid4()
    await make_rule(
        store.sm, name="images", field_path="type", values=["image"], concept="asset-type:image"
    )
    asset = await add_asset(store, {"type": "image"}, run)

    async def manual(session: AsyncSession) -> uuid.UUID:
        row = Classification(
            asset_id=asset,
            concept_id=store.concepts["asset-type:image"],
            source="manual",
            created_by=ACTOR,
            note="checked by hand",
        )
        session.add(row)
        await session.flush()
        return row.id

    manual_id = await in_unit_of_work(store.sm, manual)
    await classify_run(store.sm, run)

    rows = await classifications(store.sm, asset)
    assert concepts_of(store, rows) == {
        ("asset-type:image", "manual"),
        ("asset-type:image", "rule"),
    }
    kept = next(r for r in rows if r.source == "manual")
    assert (kept.id, kept.note, kept.rule_id) == (manual_id, "checked by hand", None)


# --- batches -------------------------------------------------------------------------------


async def test_a_run_larger_than_a_batch_is_classified_whole(store: Store) -> None:
    run = uuid.uuid4()
    await make_rule(
        store.sm, name="video", field_path="type", values=["video"], concept="asset-type:video"
    )
    total = BATCH_SIZE + 150

    async def many(session: AsyncSession) -> None:
        session.add_all(
            Asset(
                connection_id=store.dam,
                stream="media",
                external_id=f"a{n:05d}",
                data={"type": "video" if n % 2 else "image"},
                content_hash="h",
                last_run_id=run,
            )
            for n in range(total)
        )

    await in_unit_of_work(store.sm, many)
    report = await classify_run(store.sm, run)
    assert (report.assets, report.added) == (total, total // 2)
    assert await count(store.sm, Classification) == total // 2
    again = await classify_run(store.sm, run)
    assert (again.added, again.changed, again.removed) == (0, 0, 0)


async def test_an_asset_loses_what_a_record_gave_once_the_link_or_the_record_goes(
    store: Store,
) -> None:
    first, second = uuid.uuid4(), uuid.uuid4()
    await make_rule(
        store.sm,
        name="awareness campaigns",
        connector_key="hubspot",
        stream="campaigns",
        field_path="objective",
        values=["awareness"],
        concept="objective:awareness",
    )
    unlinked = await add_asset(store, {}, None)
    deleted = await add_asset(store, {}, None)
    campaign = await add_record(store, {"objective": "awareness"}, first)
    gone = await add_record(store, {"objective": "awareness"}, first)
    await add_link(store, unlinked, campaign)
    await add_link(store, deleted, gone)
    await classify_run(store.sm, first)
    assert len(await classifications(store.sm, unlinked)) == 1

    # The next run changes the campaign so it no longer names the asset (linking drops the
    # link), and tombstones the other campaign.
    async def next_run(session: AsyncSession) -> None:
        await session.execute(delete(Link).where(Link.asset_id == unlinked))
        await session.execute(
            update(StoredRecord)
            .where(StoredRecord.id == campaign)
            .values(data={"objective": "awareness", "assets": []}, last_run_id=second)
        )
        await session.execute(
            update(StoredRecord)
            .where(StoredRecord.id == gone)
            .values(deleted_at=utcnow(), last_run_id=second)
        )

    await in_unit_of_work(store.sm, next_run)
    report = await classify_run(store.sm, second)

    assert report.removed == 2
    assert await classifications(store.sm, unlinked) == []
    assert await classifications(store.sm, deleted) == []
    assert (await changes(store.sm, unlinked))[-1].reason == (
        f"record {campaign} no longer linked to the asset (or deleted)"
    )
    assert (await changes(store.sm, deleted))[-1].reason == (
        f"record {gone} no longer linked to the asset (or deleted)"
    )


async def test_classifiers_running_at_once_classify_each_asset_once(store: Store) -> None:
    run = uuid.uuid4()
    await make_rule(
        store.sm, name="video", field_path="type", values=["video"], concept="asset-type:video"
    )
    assets = [await add_asset(store, {"type": "video"}, run) for _ in range(40)]

    reports = await asyncio.gather(
        classify_run(store.sm, run),
        classify_run(store.sm, run),
        reclassify(store.sm, asset_ids=assets, actor=ACTOR),
    )

    # The asset locks queue the classifiers: one adds, the others find nothing to do.
    assert sum(r.added for r in reports) == 40
    assert await count(store.sm, Classification) == 40
    assert await count(store.sm, ClassificationChange) == 40
