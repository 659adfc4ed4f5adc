"""QUALITY R14 at its rates: a sandbox world whose Bynder and Cloudinary hold enough assets
for the percentages to mean something, with 1 % of each DAM's assets missing locally (added
at the DAM), 1 % stale (edited at the DAM after the sync), 0.5 % extra (deleted at the DAM)
and owned tags removed by hand on 1 %. The first reconciliation reports exactly what was
injected and repairs all of it (the store equals the DAMs, every owned tag is back, people's
tags untouched); a second run right after reports nothing, queues nothing, plans nothing
and makes only the list-page calls."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from syncbridge_bynder.sim_params import iso

from syncbridge.bootstrap import load_default_taxonomy
from syncbridge.connector.spec import Connector
from syncbridge.models import Asset, Connection, InboxEvent, RunStream, WriteBack
from syncbridge.reconcile import repository
from syncbridge.reconcile.compare import OwnedFields, unowned
from syncbridge.sandbox.world import World
from syncbridge.store.unit_of_work import in_unit_of_work
from syncbridge.sync import pages
from syncbridge.sync.encoding import Encoded
from syncbridge.sync.service import build_connector
from syncbridge.tagging.defaults import load_default_tag_rules
from tests.reconcile_support import (
    add_bynder_medium,
    age_confirmations,
    drain,
    events_of,
    reconcile,
    rows_of,
)
from tests.sandbox_support import embedded_world
from tests.writeback_support import (
    PREFIX,
    Sessionmaker,
    StoredAsset,
    WritebackWorld,
    bynder_tags,
    cloudinary_tags,
    score,
    send_all,
    stored_assets,
)

pytest_plugins = ["tests.store_fixtures"]

#: Assets per DAM: 0.5 % of them is five.
ASSETS = 1000
STREAMS = {"bynder": "media", "cloudinary": "resources"}
ZERO = {"new": 0, "changed": 0, "missing": 0, "tag_drift": 0}


@asynccontextmanager
async def dam_world(
    engine: AsyncEngine, sessionmaker: Sessionmaker, folder: Path, assets: int
) -> AsyncIterator[WritebackWorld]:
    """A sandbox world in its steady state with only its Bynder and Cloudinary connections
    enabled (R14 is about the DAMs; the CRMs, analytics and the folder would only make the
    world slower to build): synced, scored (no facts: every asset gets its insufficient-data
    tier), the tags written and read back, the confirmations an hour old."""
    async with embedded_world(sessionmaker, World(assets_count=assets), folder) as embedded:

        async def setup(session: AsyncSession) -> None:
            await load_default_taxonomy(session)
            await load_default_tag_rules(session, "test")
            await session.execute(
                update(Connection)
                .where(Connection.connector_key.not_in(list(STREAMS)))
                .values(enabled=False)
            )

        await in_unit_of_work(sessionmaker, setup)
        await embedded.sync(full=True)
        world = WritebackWorld(embedded, engine, sessionmaker)
        await score(world)
        await send_all(world)
        world.bynder.apply_pending()
        await embedded.sync(full=True)
        await drain(world)
        await age_confirmations(world)
        yield world


@pytest.fixture
async def world(
    engine: AsyncEngine, sessionmaker: Sessionmaker, tmp_path: Path
) -> AsyncIterator[WritebackWorld]:
    async with dam_world(engine, sessionmaker, tmp_path / "dam", ASSETS) as built:
        yield built


@dataclass
class Injected:
    """The drift injected into one DAM, by external id."""

    added: list[str] = field(default_factory=list)
    stale: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    #: Stripped asset -> the tags it was left with (its people's tags).
    stripped: dict[str, list[str]] = field(default_factory=dict)


def share(total: int, percent: float) -> int:
    return max(1, round(total * percent / 100))


def _add_cloudinary(world: WritebackWorld, like: str, index: int) -> str:
    """A person uploads a resource (a copy of ``like`` without syncbridge's tier)."""
    store = world.cloudinary.store
    source = store.by_asset_id[like]
    asset_id = f"{index:032x}"
    store.add(
        dataclasses.replace(
            source,
            asset_id=asset_id,
            public_id=f"{source.public_id}-copy-{index}",
            tags=[t for t in source.tags if not t.startswith(PREFIX)],
            context=dict(source.context),
            metadata={},
        )
    )
    return asset_id


def inject(world: WritebackWorld, assets: Mapping[uuid.UUID, StoredAsset]) -> dict[str, Injected]:
    """1 % added, 1 % edited, 0.5 % deleted and 1 % stripped of their owned tags, in each of
    Bynder and Cloudinary, on distinct assets."""
    out: dict[str, Injected] = {}
    for connector in STREAMS:
        mine = sorted(
            (a for a in assets.values() if a.connector == connector), key=lambda a: a.external_id
        )
        tagged = [a for a in mine if a.concepts]
        untagged = [a for a in mine if not a.concepts]
        n = len(mine)
        one, half = share(n, 1), share(n, 0.5)
        assert len(tagged) >= 2 * one, (connector, n)
        assert len(mine) >= 3 * one + half, (connector, n)
        injected = out[connector] = Injected()
        stripped = tagged[:one]
        rest = [*untagged, *tagged[one:]]
        stale, deleted = rest[:one], rest[one : one + half]
        for index, a in enumerate(mine[:one]):
            if connector == "bynder":
                media_id = f"00000000-R14A-DDED-0000-{index:012d}"
                add_bynder_medium(world, a.external_id, media_id)
                injected.added.append(media_id)
            else:
                injected.added.append(_add_cloudinary(world, a.external_id, index + 1))
        for a in stale:
            if connector == "bynder":
                portal = world.bynder.portal
                portal.edit(
                    a.external_id, description="Retouched by hand", dateModified=iso(portal.now())
                )
            else:
                resource = world.cloudinary.store.by_asset_id[a.external_id]
                world.cloudinary.store.set_context(
                    resource, {**resource.context, "alt": "Retouched by hand"}
                )
            injected.stale.append(a.external_id)
        for a in deleted:
            if connector == "bynder":
                world.bynder.portal.delete(a.external_id)
            else:
                world.cloudinary.store.delete(a.external_id)
            injected.deleted.append(a.external_id)
        for a in stripped:
            if connector == "bynder":
                kept = [t for t in bynder_tags(world, a.external_id) if not t.startswith(PREFIX)]
                world.bynder.edit_tags(a.external_id, kept)
            else:
                kept = [
                    t for t in cloudinary_tags(world, a.external_id) if not t.startswith(PREFIX)
                ]
                world.cloudinary.set_tags(a.external_id, kept)
            injected.stripped[a.external_id] = kept
    return out


async def _connection(world: WritebackWorld, connector_key: str) -> Connection:
    async def load(session: AsyncSession) -> Connection:
        found = await session.scalar(
            select(Connection).where(Connection.connector_key == connector_key)
        )
        assert found is not None
        return found

    return await in_unit_of_work(world.sessionmaker, load, write=False)


async def dam_read(
    world: WritebackWorld, connector_key: str
) -> tuple[dict[str, Encoded], OwnedFields]:
    """Every live asset the DAM lists now, encoded as a read stores it, and what syncbridge
    owns in them."""
    connection = await _connection(world, connector_key)
    connector: Connector = build_connector(world.embedded.ctx, connection, world.embedded.http)
    stream = STREAMS[connector_key]
    out: dict[str, Encoded] = {}
    try:
        stamp = next(s.cursor_field for s in connector.streams() if s.name == stream)
        async for page in connector.read(stream, None):
            out.update(pages.prepare(page).live)
    finally:
        await connector.aclose()

    async def read(session: AsyncSession) -> OwnedFields:
        return await repository.owned_fields(session, connection, stamp)

    return out, await in_unit_of_work(world.sessionmaker, read, write=False)


def calls(world: WritebackWorld) -> dict[str, int]:
    return {"bynder": world.bynder.requests, "cloudinary": sum(world.cloudinary.calls.values())}


async def test_r14_at_quality_rates_repairs_everything_and_a_second_run_changes_nothing(
    world: WritebackWorld,
) -> None:
    before = await stored_assets(world)
    writebacks_then = {w.id for w in await rows_of(world, WriteBack)}
    injected = inject(world, before)
    totals = {
        "new": sum(len(i.added) for i in injected.values()),
        "changed": sum(len(i.stale) for i in injected.values()),
        "missing": sum(len(i.deleted) for i in injected.values()),
        "tag_drift": sum(len(i.stripped) for i in injected.values()),
    }

    run = await reconcile(world)

    assert (run.status, run.error) == ("succeeded", None)
    assert run.report is not None
    assert run.report["counts"] == totals
    by_name = {c["name"]: c for c in run.report["connections"]}
    for key, i in injected.items():
        found = by_name[f"sandbox-{key}"]
        assert (found["new"], found["changed"], found["missing"], found["tag_drift"]) == (
            len(i.added),
            len(i.stale),
            len(i.deleted),
            len(i.stripped),
        ), key
    assert run.report["writebacks_planned"] == totals["tag_drift"]
    events = await events_of(world, run.id)
    assert {e.status for e in events} == {"handled"}

    # The store equals each DAM: every asset listed is stored live, with the read's content
    # (what syncbridge owns aside where it wrote since), and every other one is tombstoned.
    stored: list[Asset] = await rows_of(world, Asset)
    # (The added assets are scored once processed, and get their first tier written.)
    written = {w.asset_id for w in await rows_of(world, WriteBack) if w.id not in writebacks_then}
    for key, i in injected.items():
        listed, owned = await dam_read(world, key)
        mine = {
            a.external_id: a
            for a in stored
            if a.stream == STREAMS[key] and a.connection_id == _connection_of(before, key)
        }
        live = {k for k, a in mine.items() if a.deleted_at is None}
        assert live == set(listed), key
        assert set(i.added) <= live
        assert not set(i.deleted) & live
        assert {k for k, a in mine.items() if a.deleted_at is not None} >= set(i.deleted)
        for external_id, item in listed.items():
            asset = mine[external_id]
            if asset.content_hash != item.hash:
                assert asset.id in written, (key, external_id)
                assert unowned(asset.data, owned) == unowned(item.record.data, owned)
        for external_id in i.stale:
            assert mine[external_id].content_hash == listed[external_id].hash

    # Every owned tag is back, people's tags as they were (test_writeback_reuse checks that
    # the repairs are sent from the run's read).
    now = await stored_assets(world)
    for key, i in injected.items():
        for external_id, kept in i.stripped.items():
            repaired = next(a for a in now.values() if a.external_id == external_id)
            held = (
                bynder_tags(world, external_id)
                if key == "bynder"
                else cloudinary_tags(world, external_id)
            )
            assert sorted(t for t in held if t.startswith(PREFIX)) == sorted(repaired.concepts)
            assert [t for t in held if not t.startswith(PREFIX)] == kept
    for a in before.values():
        if a.connector in STREAMS and a.external_id not in _touched(injected):
            held = (
                bynder_tags(world, a.external_id)
                if a.connector == "bynder"
                else cloudinary_tags(world, a.external_id)
            )
            assert [t for t in held if not t.startswith(PREFIX)] == a.human_tags
    sent = [w for w in await rows_of(world, WriteBack) if w.run_id == run.id]
    assert len(sent) == totals["tag_drift"]
    assert {w.status for w in sent} == {"done"}
    assert all(sorted(w.planned_add) == sorted(w.desired_tags) for w in sent)

    # R14: a second run right after the first changes nothing and only lists.
    await age_confirmations(world)
    writebacks_before = len(await rows_of(world, WriteBack))
    events_before = len(await rows_of(world, InboxEvent))
    calls_before = calls(world)
    again = await reconcile(world)
    assert again.status == "succeeded"
    assert again.report is not None
    assert again.report["counts"] == ZERO
    assert (again.report["events_queued"], again.report["writebacks_planned"]) == (0, 0)
    assert again.report["writeback_states_reopened"] == 0
    assert await events_of(world, again.id) == []
    assert len(await rows_of(world, InboxEvent)) == events_before
    assert len(await rows_of(world, WriteBack)) == writebacks_before
    streams = {s.stream: s for s in await rows_of(world, RunStream) if s.run_id == again.id}
    made = calls(world)
    for key, stream in STREAMS.items():
        assert made[key] - calls_before[key] == streams[stream].vendor_calls, key
        assert streams[stream].vendor_calls >= streams[stream].pages >= 1


def _connection_of(assets: Mapping[uuid.UUID, StoredAsset], connector: str) -> uuid.UUID:
    return next(a.connection_id for a in assets.values() if a.connector == connector)


def _touched(injected: Mapping[str, Injected]) -> set[str]:
    return {x for i in injected.values() for x in [*i.added, *i.stale, *i.deleted, *i.stripped]}
