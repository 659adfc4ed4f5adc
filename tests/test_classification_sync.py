"""Classification on data the real sync wrote: the sandbox world's connections synced and
linked (default link rules), then classified by rules over the assets' own data and over
the campaigns linked to them; the result is checked against what the store's data and links
say, and classifying again, or after an incremental sync that changed nothing, changes
nothing."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from syncbridge.classification import classify_run
from syncbridge.linking.run import link_run
from syncbridge.models import Asset, Classification, Connection, Link, StoredRecord
from syncbridge.sandbox.world import World
from syncbridge.store.unit_of_work import in_unit_of_work
from tests.sandbox_support import embedded_world
from tests.test_classification import Sessionmaker, make_rule, seed_taxonomy

pytest_plugins = ["tests.store_fixtures"]

ASSETS = 30


@dataclass
class Synced:
    sm: Sessionmaker
    run_id: uuid.UUID
    sync_again: Callable[[], Awaitable[uuid.UUID]]


@pytest.fixture
async def synced(sessionmaker: Sessionmaker, tmp_path: Path) -> AsyncIterator[Synced]:
    """Every sandbox connection synced once and linked with the default link rules."""
    async with embedded_world(
        sessionmaker, World(assets_count=ASSETS), tmp_path / "dam"
    ) as embedded:
        run = await embedded.sync(full=True)
        await link_run(sessionmaker, run.id)

        async def again() -> uuid.UUID:
            second = await embedded.sync()
            await link_run(sessionmaker, second.id)
            return second.id

        yield Synced(sessionmaker, run.id, again)


Expected = dict[tuple[uuid.UUID, str], tuple[uuid.UUID, uuid.UUID | None]]


async def expected(sm: Sessionmaker, rules: dict[str, uuid.UUID]) -> Expected:
    """(asset, concept key) -> (winning rule, record), worked out from the stored data and
    links by the rules' meaning: a Bynder video is a video; an asset a Salesforce campaign
    of type Email used is on email by the Salesforce rule (priority 70, lowest record id
    first), else, if a HubSpot campaign with medium email used it, by the HubSpot rule
    (priority 60)."""

    async def work(session: AsyncSession) -> Expected:
        keys = {c.id: c.connector_key for c in await session.scalars(select(Connection))}
        found: Expected = {}
        for asset in await session.scalars(select(Asset).where(Asset.deleted_at.is_(None))):
            if keys[asset.connection_id] == "bynder" and asset.stream == "media":
                if asset.data.get("type") == "video":
                    found[(asset.id, "asset-type:video")] = (rules["video"], None)
        records = {
            r.id: r
            for r in await session.scalars(
                select(StoredRecord).where(StoredRecord.deleted_at.is_(None))
            )
        }
        by_asset: dict[uuid.UUID, list[tuple[str, uuid.UUID, dict[str, Any]]]] = {}
        for link in await session.scalars(select(Link)):
            record = records.get(link.record_id)
            if record is not None:
                kind = f"{keys[record.connection_id]}/{record.stream}"
                by_asset.setdefault(link.asset_id, []).append((kind, record.id, record.data))
        for asset_id, linked in by_asset.items():
            hubspot = sorted(
                (str(r), r)
                for kind, r, d in linked
                if kind == "hubspot/campaigns"
                and str((d.get("utm") or {}).get("utm_medium", "")).lower() == "email"
            )
            salesforce = sorted(
                (str(r), r)
                for kind, r, d in linked
                if kind == "salesforce/Campaign" and str(d.get("Type", "")).lower() == "email"
            )
            if salesforce:
                found[(asset_id, "channel:email")] = (rules["salesforce"], salesforce[0][1])
            elif hubspot:
                found[(asset_id, "channel:email")] = (rules["hubspot"], hubspot[0][1])
        return found

    return await in_unit_of_work(sm, work, write=False)


async def stored(sm: Sessionmaker, concepts: dict[str, uuid.UUID]) -> Expected:
    keys = {v: k for k, v in concepts.items()}

    async def work(session: AsyncSession) -> Expected:
        rows = await session.scalars(select(Classification).where(Classification.source == "rule"))
        found: Expected = {}
        for row in rows:
            assert row.rule_id is not None
            found[(row.asset_id, keys[row.concept_id])] = (row.rule_id, row.record_id)
        return found

    return await in_unit_of_work(sm, work, write=False)


async def test_synced_assets_are_classified_by_their_data_and_their_campaigns(
    synced: Synced,
) -> None:
    sm = synced.sm
    concepts = await seed_taxonomy(sm)
    rules = {
        "video": await make_rule(
            sm, name="videos", field_path="type", values=["video"], concept="asset-type:video"
        ),
        "hubspot": await make_rule(
            sm,
            name="hubspot email campaigns",
            connector_key="hubspot",
            stream="campaigns",
            field_path="utm.utm_medium",
            values=["email"],
            concept="channel:email",
            priority=60,
        ),
        "salesforce": await make_rule(
            sm,
            name="salesforce email campaigns",
            connector_key="salesforce",
            stream="Campaign",
            field_path="Type",
            values=["Email"],
            concept="channel:email",
            priority=70,
        ),
    }

    report = await classify_run(sm, synced.run_id)

    want = await expected(sm, rules)
    # Every path is taken: own data, and each campaign rule winning somewhere.
    assert {rule for rule, _record in want.values()} == set(rules.values())
    assert await stored(sm, concepts) == want
    assert report.added == len(want)

    again = await classify_run(sm, synced.run_id)
    assert (again.added, again.changed, again.removed) == (0, 0, 0)

    second = await synced.sync_again()
    quiet = await classify_run(sm, second)
    assert (quiet.added, quiet.changed, quiet.removed) == (0, 0, 0)
    assert await stored(sm, concepts) == want
