"""Write-back on the sandbox world: sync -> metrics -> score -> write-back leaves the
performance tags in every simulated DAM (Bynder, Cloudinary, and the local folder's XMP
sidecars as exiftool reads them), people's tags untouched; a second pass sends nothing; a
later read of what syncbridge wrote plans nothing (no echo loop); `dry_run` records without
sending; a deleted rule's tags are removed."""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from syncbridge.models import TagRule
from syncbridge.store.unit_of_work import in_unit_of_work
from tests.writeback_support import (
    PREFIX,
    Sessionmaker,
    WritebackWorld,
    bynder_tags,
    cloudinary_tags,
    connection_id,
    ledger,
    score,
    send_all,
    send_jobs,
    set_connection,
    states,
    stored_assets,
    writeback_world,
    writebacks,
    xmp_keywords,
)

pytest_plugins = ["tests.store_fixtures"]


@pytest.fixture
async def world(
    engine: AsyncEngine, sessionmaker: Sessionmaker, tmp_path: Path
) -> AsyncIterator[WritebackWorld]:
    async with writeback_world(engine, sessionmaker, tmp_path / "dam") as built:
        yield built


async def dam_tags(world: WritebackWorld) -> dict[str, list[str]]:
    """Every DAM asset's tags as its DAM holds them now, by the store's asset id."""
    assets = await stored_assets(world)
    folder = await xmp_keywords(
        world.folder, [a.external_id for a in assets.values() if a.connector == "localfolder"]
    )
    out: dict[str, list[str]] = {}
    for asset in assets.values():
        if asset.connector == "bynder":
            out[str(asset.id)] = bynder_tags(world, asset.external_id)
        elif asset.connector == "cloudinary":
            out[str(asset.id)] = cloudinary_tags(world, asset.external_id)
        else:
            out[str(asset.id)] = folder[asset.external_id]
    return out


async def test_a_sandbox_cycle_leaves_performance_tags_in_every_dam_and_people_tags_alone(
    world: WritebackWorld,
) -> None:
    run_id = await score(world)
    assets = await stored_assets(world)
    planned = await writebacks(world)
    assert {w.run_id for w in planned} == {run_id}
    assert Counter(assets[w.asset_id].connector for w in planned) == Counter(
        a.connector for a in assets.values() if a.concepts
    )
    await send_all(world)
    tags = await dam_tags(world)
    seen: Counter[str] = Counter()
    for asset in assets.values():
        held = tags[str(asset.id)]
        owned = sorted(t for t in held if t.startswith(PREFIX))
        assert owned == sorted(asset.concepts), (asset.connector, asset.external_id, held)
        assert [t for t in held if not t.startswith(PREFIX)] == asset.human_tags, held
        assert len(held) == len(set(held)), held
        seen[asset.connector] += bool(owned)
    # Every DAM got performance tags, a tier for some assets of each.
    assert set(seen) == {"bynder", "cloudinary", "localfolder"}
    assert all(seen.values()), seen
    done = await writebacks(world)
    assert {w.status for w in done} == {"done"}
    attempts = await ledger(world)
    assert len(attempts) == len(done)
    assert {a.vendor_status for a in attempts} <= {"applied", "accepted"}
    by_asset = {a.asset_id: a for a in attempts}
    for w in done:
        assert sorted(by_asset[w.asset_id].added) == w.desired_tags
    # What was confirmed is what the DAM holds.
    assert {(s.asset_id, tuple(s.confirmed_tags)) for s in await states(world)} == {
        (w.asset_id, tuple(w.desired_tags)) for w in done
    }


async def test_a_second_pass_sends_nothing_and_reading_our_own_writes_plans_nothing(
    world: WritebackWorld,
) -> None:
    await score(world)
    await send_all(world)
    before = (len(await writebacks(world)), len(await ledger(world)), len(await send_jobs(world)))
    bynder_calls = world.bynder.requests
    await score(world)
    assert (len(await writebacks(world)), len(await send_jobs(world))) == (before[0], before[2])
    # The DAMs now carry syncbridge's tags: a sync reads them back, and scoring plans nothing.
    world.bynder.apply_pending()
    await world.embedded.sync(full=True)
    await score(world)
    await send_all(world)
    assert (len(await writebacks(world)), len(await ledger(world))) == before[:2]
    assert len(await send_jobs(world)) == before[2]
    assert world.bynder.requests > bynder_calls  # the sync did read


async def test_dry_run_records_what_would_be_sent_and_sends_nothing(
    world: WritebackWorld,
) -> None:
    await set_connection(world, "cloudinary", dry_run=True)
    await score(world)
    await send_all(world)
    cloudinary = await connection_id(world, "cloudinary")
    assets = await stored_assets(world)
    dry = [w for w in await writebacks(world) if w.connection_id == cloudinary]
    assert dry
    assert all(w.status == "done" and w.dry_run for w in dry)
    attempts = [a for a in await ledger(world) if a.connection_id == cloudinary]
    assert len(attempts) == len(dry)
    assert all(a.dry_run and a.vendor_status == "dry_run" and a.added for a in attempts)
    for w in dry:
        tags = cloudinary_tags(world, assets[w.asset_id].external_id)
        assert not [t for t in tags if t.startswith(PREFIX)], tags
    # Scoring again while still dry: nothing new is planned.
    await score(world)
    assert len([w for w in await writebacks(world) if w.connection_id == cloudinary]) == len(dry)
    # Sending for real plans the same tags again, and they land.
    await set_connection(world, "cloudinary", dry_run=False)
    await score(world)
    await send_all(world)
    real = [w for w in await writebacks(world) if w.connection_id == cloudinary and not w.dry_run]
    assert len(real) == len(dry)
    for w in real:
        assert w.status == "done"
        tags = cloudinary_tags(world, assets[w.asset_id].external_id)
        assert sorted(t for t in tags if t.startswith(PREFIX)) == w.desired_tags


async def test_a_disabled_rule_has_its_owned_tags_removed_on_the_next_pass(
    world: WritebackWorld,
) -> None:
    await score(world)
    await send_all(world)

    async def disable(session: AsyncSession) -> None:
        await session.execute(update(TagRule).values(enabled=False))

    await in_unit_of_work(world.sessionmaker, disable)
    await score(world)
    removals = [w for w in await writebacks(world) if w.version == 2]
    assert removals
    assert all(w.desired_tags == [] and w.planned_remove for w in removals)
    await send_all(world)
    assets = await stored_assets(world)
    tags = await dam_tags(world)
    for asset in assets.values():
        held = tags[str(asset.id)]
        assert not [t for t in held if t.startswith(PREFIX)], held
        assert held == asset.human_tags


async def test_targets_land_as_a_cloudinary_metadata_field_and_a_bynder_metaproperty(
    world: WritebackWorld,
) -> None:
    ids = {key: str(await connection_id(world, key)) for key in ("bynder", "cloudinary")}
    folder = str(await connection_id(world, "localfolder"))
    targets = [
        {"connection_id": ids["bynder"], "mode": "bynder_metaproperty", "metaproperty": "Tier"},
        {
            "connection_id": ids["cloudinary"],
            "mode": "cloudinary_metadata",
            "field": "performance_tier",
        },
        {"connection_id": folder, "mode": "xmp_keywords", "prefix": PREFIX},
    ]

    async def retarget(session: AsyncSession) -> None:
        await session.execute(update(TagRule).values(targets=targets))

    await in_unit_of_work(world.sessionmaker, retarget)
    await score(world)
    await send_all(world)
    assets = await stored_assets(world)
    tier = world.bynder.portal.metaproperty_by_name("PerformanceTier")
    option_names = {o["id"]: o["name"] for o in tier["options"]}
    for w in await writebacks(world):
        asset = assets[w.asset_id]
        [concept] = asset.concepts
        suffix = concept.removeprefix(PREFIX)
        assert w.status == "done"
        if asset.connector == "cloudinary":
            resource = world.cloudinary.store.by_asset_id[asset.external_id]
            assert resource.metadata.get("performance_tier") == suffix
            assert not [t for t in resource.tags if t.startswith(PREFIX)]
            assert w.desired_metadata == {"performance_tier": suffix}
        elif asset.connector == "bynder":
            world.bynder.apply_pending()
            media = world.bynder.media(asset.external_id)
            names = {option_names.get(o) for o in media["propertyOptions"]}
            assert suffix in names
            assert sorted(t for t in media["tags"] if t.startswith(PREFIX)) == [concept]
        else:
            assert w.desired_tags == [concept]
