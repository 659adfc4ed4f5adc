"""Linking on the sandbox world: the links found equal the world's ground truth.

Every sandbox connection (Bynder, Cloudinary and local-folder DAMs; HubSpot, Salesforce,
GA4 and CSV) is synced into a real store with the default link rules, then linked. The
world says which assets each campaign used, which campaign each deal and opportunity came
from, and which asset each analytics row measured; each DAM renders a world asset as one
asset of its own (Bynder by the asset's id, Cloudinary by the id without hyphens, the local
folder by its path). The expected links are those renderings that the record's evidence can
name: ids reach Bynder and Cloudinary assets; file names in URLs reach all three DAMs.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from syncbridge_hubspot.sim_objects import ID_BASE
from syncbridge_salesforce.sim_org import sf_id

from syncbridge.linking.run import link_run, relink
from syncbridge.models import Asset, Connection, Link, StoredRecord
from syncbridge.models.linking import LinkRule
from syncbridge.sandbox.world import World
from syncbridge.store.unit_of_work import in_unit_of_work
from tests.sandbox_support import embedded_world

pytest_plugins = ["tests.store_fixtures"]

Sessionmaker = async_sessionmaker[AsyncSession]
ASSETS = 60
BY_ID = frozenset({"bynder", "cloudinary"})
ALL_DAMS = frozenset({"bynder", "cloudinary", "localfolder"})


@dataclass
class Synced:
    world: World
    sessionmaker: Sessionmaker
    run_id: uuid.UUID
    sync_again: Callable[[], Awaitable[uuid.UUID]]


@pytest.fixture
async def synced(sessionmaker: Sessionmaker, tmp_path: Path) -> AsyncIterator[Synced]:
    """Every sandbox connection synced once, with the default link rules loaded."""
    world = World(assets_count=ASSETS)
    async with embedded_world(sessionmaker, world, tmp_path / "dam") as embedded:
        run = await embedded.sync(full=True)

        async def again() -> uuid.UUID:
            return (await embedded.sync()).id

        yield Synced(world, sessionmaker, run.id, again)


Pair = tuple[uuid.UUID, uuid.UUID]


@dataclass
class Store:
    """The synced store, read back: items keyed the way the world can name them."""

    connector_of: dict[uuid.UUID, str]
    assets: dict[tuple[str, str], uuid.UUID]  # (connector, external id) -> asset row
    records: list[tuple[uuid.UUID, str, str, str, dict[str, object]]]
    links: list[Link]


async def read_store(sessionmaker: Sessionmaker) -> Store:
    async def work(session: AsyncSession) -> Store:
        keys = {c.id: c.connector_key for c in await session.scalars(select(Connection))}
        assets = {
            (keys[cid], ext): aid
            for aid, cid, ext in await session.execute(
                select(Asset.id, Asset.connection_id, Asset.external_id)
            )
        }
        rows = await session.execute(
            select(
                StoredRecord.id,
                StoredRecord.connection_id,
                StoredRecord.stream,
                StoredRecord.external_id,
                StoredRecord.data,
            )
        )
        records = [(r.id, keys[r.connection_id], r.stream, r.external_id, r.data) for r in rows]
        links = list(await session.scalars(select(Link)))
        return Store(keys, assets, records, links)

    return await in_unit_of_work(sessionmaker, work, write=False)


def expected_links(world: World, store: Store) -> tuple[set[Pair], Counter[str]]:
    """The (asset, record) pairs the world says exist, and how many records of each kind."""
    assets = {a.id: a for a in world.assets()}
    rendering = {
        "bynder": lambda a: a.id,
        "cloudinary": lambda a: a.id.replace("-", ""),
        "localfolder": lambda a: a.path,
    }

    def rows_of(world_ids: list[str], dams: frozenset[str]) -> set[uuid.UUID]:
        return {store.assets[(d, rendering[d](assets[w]))] for w in world_ids for d in dams}

    campaigns_by_guid = {c.id: c for c in world.campaigns}
    sf_campaigns = {sf_id("Campaign", c.index): c for c in world.campaigns}
    hubspot_deals = {str(ID_BASE["deals"] + d.index + 1): d for d in world.deals}
    sf_opportunities = {sf_id("Opportunity", d.index): d for d in world.deals}
    ga4_rows = {
        (day.isoformat(), row.page_path): row
        for day in {date.fromisoformat(str(r[4]["date"])) for r in store.records if r[1] == "ga4"}
        for row in world.analytics_rows(day)
    }

    def used(key: str) -> list[str]:
        return [a.id for a in world.campaign_assets(key)]

    pairs: set[Pair] = set()
    kinds: Counter[str] = Counter()
    for record_id, connector, stream, external_id, data in store.records:
        match (connector, stream):
            case ("hubspot", "campaigns"):
                linked = rows_of(used(campaigns_by_guid[external_id].key), ALL_DAMS)
            case ("hubspot", "deals"):
                linked = rows_of(used(hubspot_deals[external_id].campaign_key), ALL_DAMS)
            case ("salesforce", "Campaign"):
                linked = rows_of(used(sf_campaigns[external_id].key), BY_ID)
            case ("salesforce", "Opportunity"):
                linked = rows_of(used(sf_opportunities[external_id].campaign_key), BY_ID)
            case ("ga4", _):
                row = ga4_rows[(str(data["date"]), str(data["pagePath"]))]
                linked = rows_of([row.asset_id], ALL_DAMS)
            case _:
                linked = set()
        kinds[f"{connector}/{stream}"] += 1
        pairs |= {(asset_id, record_id) for asset_id in linked}
    return pairs, kinds


def evidence(links: list[Link]) -> dict[uuid.UUID, tuple[object, ...]]:
    return {
        link.id: (link.asset_id, link.record_id, link.rule_id, link.rule_version, link.value)
        for link in links
    }


async def test_links_equal_the_worlds_ground_truth(synced: Synced) -> None:
    world = synced.world
    before = await read_store(synced.sessionmaker)
    expected, kinds = expected_links(world, before)
    assert kinds["hubspot/campaigns"] == kinds["salesforce/Campaign"] == len(world.campaigns)
    assert kinds["hubspot/deals"] == kinds["salesforce/Opportunity"] == len(world.deals)
    assert kinds["ga4/asset_performance"] > 0

    # (A run that settles itself has linked already; linking again is then a no-op.)
    await link_run(synced.sessionmaker, synced.run_id)

    after = await read_store(synced.sessionmaker)
    found = {(link.asset_id, link.record_id) for link in after.links}
    missing, spurious = expected - found, found - expected
    assert (len(missing), len(spurious)) == (0, 0), (sorted(missing)[:3], sorted(spurious)[:3])


async def test_each_link_keeps_its_evidence(synced: Synced) -> None:
    await link_run(synced.sessionmaker, synced.run_id)

    async def rules(session: AsyncSession) -> dict[uuid.UUID, LinkRule]:
        return {rule.id: rule for rule in await session.scalars(select(LinkRule))}

    by_id = await in_unit_of_work(synced.sessionmaker, rules, write=False)
    store = await read_store(synced.sessionmaker)
    data = {record_id: d for record_id, _c, _s, _e, d in store.records}
    used: Counter[str] = Counter()
    for link in store.links:
        assert link.rule_id is not None
        rule = by_id[link.rule_id]
        assert (link.rule_version, link.field_path, link.run_id) == (
            1,
            rule.field_path,
            synced.run_id,
        )
        assert link.value
        if rule.field_path in ("customEvent:asset_id", "pagePath", "DAM_Asset_Ids__c"):
            assert data[link.record_id][rule.field_path] == link.value
        used[str(rule.default_key)] += 1
    # Every default rule that the sandbox has evidence for found links.
    assert set(used) == {
        "ga4-asset-id-dimension",
        "ga4-page-path-file-name",
        "hubspot-campaign-assets",
        "hubspot-campaign-utm-content",
        "hubspot-campaign-landing-page",
        "hubspot-deal-campaign",
        "salesforce-campaign-asset-ids",
        "salesforce-opportunity-campaign",
    }


async def test_linking_again_or_after_a_quiet_sync_changes_nothing(synced: Synced) -> None:
    await link_run(synced.sessionmaker, synced.run_id)
    first = evidence((await read_store(synced.sessionmaker)).links)

    again = await link_run(synced.sessionmaker, synced.run_id)
    relinked = await relink(synced.sessionmaker)
    quiet_run = await synced.sync_again()
    quiet = await link_run(synced.sessionmaker, quiet_run)

    for report in (again, relinked, quiet):
        assert (report.diff.added, report.diff.removed, report.diff.updated) == (0, 0, 0)
    assert evidence((await read_store(synced.sessionmaker)).links) == first
