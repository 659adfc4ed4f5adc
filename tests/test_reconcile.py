"""Reconciliation on the sandbox world (QUALITY R14, B3): drift injected at the simulated
DAMs (an asset added, one edited, some deleted, owned performance tags removed by hand, a
person's tag added) is found by one run and repaired through the inbox and write-back; a
second run right after changes nothing; a clean run makes the full read's calls and no
other."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine
from syncbridge_bynder.sim_params import iso

from syncbridge.inbox.processing import FROM_SNAPSHOT
from syncbridge.models import Asset, InboxEvent, Run, RunStream, WriteBack
from tests.reconcile_support import (
    add_bynder_medium,
    age_confirmations,
    drain,
    events_of,
    queue_reconcile,
    queued_kinds,
    reconcile,
    rows_of,
    run_only_reconcile,
    steady_world,
)
from tests.writeback_support import (
    PREFIX,
    Sessionmaker,
    StoredAsset,
    WritebackWorld,
    bynder_tags,
    cloudinary_tags,
    stored_assets,
)

pytest_plugins = ["tests.store_fixtures"]

ZERO = {"new": 0, "changed": 0, "missing": 0, "tag_drift": 0}


@pytest.fixture
async def world(
    engine: AsyncEngine, sessionmaker: Sessionmaker, tmp_path: Path
) -> AsyncIterator[WritebackWorld]:
    async with steady_world(engine, sessionmaker, tmp_path / "dam") as built:
        yield built


def tagged(assets: dict[Any, StoredAsset], connector: str) -> list[StoredAsset]:
    """The connector's assets carrying a performance tag, in a stable order."""
    chosen = [a for a in assets.values() if a.connector == connector and a.concepts]
    return sorted(chosen, key=lambda a: a.external_id)


async def by_external_id(world: WritebackWorld) -> dict[str, Asset]:
    assets: list[Asset] = await rows_of(world, Asset)
    return {a.external_id: a for a in assets}


async def test_a_run_finds_each_kind_of_drift_repairs_it_and_a_second_run_changes_nothing(
    world: WritebackWorld,
) -> None:
    assets = await stored_assets(world)
    bynder, cloudinary = tagged(assets, "bynder"), tagged(assets, "cloudinary")
    b_stripped, b_people, b_edited, b_deleted = bynder[:4]
    c_stripped, c_deleted = cloudinary[:2]
    new_id = "00000000-RECO-NCIL-E000-000000000001"
    add_bynder_medium(world, b_edited.external_id, new_id)
    world.bynder.portal.edit(
        b_edited.external_id,
        description="Retouched by hand",
        dateModified=iso(world.bynder.portal.now()),
    )
    world.bynder.portal.delete(b_deleted.external_id)
    world.bynder.edit_tags(b_stripped.external_id, b_stripped.human_tags)
    people_tags = [*bynder_tags(world, b_people.external_id), "hand-picked"]
    world.bynder.edit_tags(b_people.external_id, people_tags)
    stripped = [
        t for t in cloudinary_tags(world, c_stripped.external_id) if t[: len(PREFIX)] != PREFIX
    ]
    world.cloudinary.set_tags(c_stripped.external_id, stripped)
    world.cloudinary.store.delete(c_deleted.external_id)

    run = await reconcile(world)

    assert (run.kind, run.status, run.error) == ("reconcile", "succeeded", None)
    report = run.report
    assert report is not None
    assert report["counts"] == {"new": 1, "changed": 2, "missing": 2, "tag_drift": 2}
    examples = {k: [e["external_id"] for e in v] for k, v in report["examples"].items()}
    assert report["examples"]["new"] == [
        {"connection": "sandbox-bynder", "stream": "media", "external_id": new_id}
    ]
    assert sorted(examples["changed"]) == sorted([b_edited.external_id, b_people.external_id])
    assert sorted(examples["missing"]) == sorted([b_deleted.external_id, c_deleted.external_id])
    assert sorted(examples["tag_drift"]) == sorted([b_stripped.external_id, c_stripped.external_id])
    # Five differences, and the two drifted assets' copies refreshed from the read (their
    # owned tags differ, nothing else: not a change, but the repair is computed from them).
    assert report["events_queued"] == 7
    assert report["writebacks_planned"] == 2
    assert set(report["rereads"]) == {"crm", "analytics"}
    assert all(report["rereads"].values()), report["rereads"]
    events = await events_of(world, run.id)
    assert sorted((e.action, e.external_id) for e in events) == sorted(
        [
            ("created", new_id),
            ("updated", b_edited.external_id),
            ("updated", b_people.external_id),
            ("deleted", b_deleted.external_id),
            ("deleted", c_deleted.external_id),
            ("updated", b_stripped.external_id),
            ("updated", c_stripped.external_id),
        ]
    )
    assert {e.status for e in events} == {"handled"}
    # New, changed and refreshed assets are applied from the read that found them: no
    # second fetch.
    assert sorted(e.outcome or "" for e in events) == sorted(
        [FROM_SNAPSHOT] * 5 + ["tombstoned"] * 2
    )
    applied = [r for r in await rows_of(world, RunStream) if r.run_id in {e.run_id for e in events}]
    assert applied
    assert sum(r.vendor_calls for r in applied) == 0

    # Repaired: the store follows the DAMs (through the inbox) ...
    stored = await by_external_id(world)
    assert stored[new_id].deleted_at is None
    assert stored[b_edited.external_id].data["description"] == "Retouched by hand"
    assert "hand-picked" in stored[b_people.external_id].data["tags"]
    assert stored[b_deleted.external_id].deleted_at is not None
    assert stored[c_deleted.external_id].deleted_at is not None
    # ... and the owned tags removed by hand are back, people's tags left as they were.
    now = await stored_assets(world)
    held = bynder_tags(world, b_stripped.external_id)
    assert sorted(t for t in held if t.startswith(PREFIX)) == sorted(now[b_stripped.id].concepts)
    assert [t for t in held if not t.startswith(PREFIX)] == b_stripped.human_tags
    held = cloudinary_tags(world, c_stripped.external_id)
    assert sorted(t for t in held if t.startswith(PREFIX)) == sorted(now[c_stripped.id].concepts)
    assert [t for t in held if not t.startswith(PREFIX)] == stripped
    assert "hand-picked" in bynder_tags(world, b_people.external_id)
    repairs = [w for w in await rows_of(world, WriteBack) if w.run_id == run.id]
    assert sorted(w.asset_id for w in repairs) == sorted([b_stripped.id, c_stripped.id])
    assert {w.status for w in repairs} == {"done"}
    assert all(w.planned_add and not w.planned_remove for w in repairs)

    # R14: a second run right after the first changes nothing.
    await age_confirmations(world)
    writebacks_before = len(await rows_of(world, WriteBack))
    events_before = len(await rows_of(world, InboxEvent))
    again = await reconcile(world)
    assert again.status == "succeeded"
    assert again.report is not None
    assert again.report["counts"] == ZERO
    assert again.report["examples"] == {k: [] for k in ZERO}
    assert (again.report["events_queued"], again.report["writebacks_planned"]) == (0, 0)
    assert await events_of(world, again.id) == []
    assert len(await rows_of(world, InboxEvent)) == events_before
    assert len(await rows_of(world, WriteBack)) == writebacks_before


async def test_a_clean_run_makes_the_calls_of_a_full_read_and_nothing_else(
    world: WritebackWorld,
) -> None:
    bynder_before = world.bynder.requests
    cloudinary_before = sum(world.cloudinary.calls.values())
    run_id = await queue_reconcile(world)
    run = await run_only_reconcile(world, run_id)
    assert run.status == "succeeded", run.error
    assert run.report is not None
    assert run.report["counts"] == ZERO
    streams: list[RunStream] = [s for s in await rows_of(world, RunStream) if s.run_id == run_id]
    by_stream = {(s.stream): s for s in streams}
    assert set(by_stream) == {"media", "resources", "files"}
    # The calls are the full read's pages: as many as the simulators answered, and as many
    # as the full sync's read of the same streams made.
    assert world.bynder.requests - bynder_before == by_stream["media"].vendor_calls
    assert sum(world.cloudinary.calls.values()) - cloudinary_before == (
        by_stream["resources"].vendor_calls
    )
    assert run.report["vendor_calls"] == sum(s.vendor_calls for s in streams)
    full_reads = await _full_sync_calls(world)
    for name in ("media", "resources", "files"):
        assert by_stream[name].vendor_calls == full_reads[name], name
        assert by_stream[name].pages >= 1
    assert by_stream["media"].vendor_calls >= by_stream["media"].pages
    # Nothing else was asked of the vendors: no event to fetch, no write-back to send.
    assert await events_of(world, run_id) == []
    kinds = await queued_kinds(world)
    assert "inbox.process" not in kinds, kinds
    assert "writeback.send" not in kinds, kinds
    assert kinds.count("sync.run") == len(
        [*run.report["rereads"]["crm"], *run.report["rereads"]["analytics"]]
    )
    await drain(world)


async def _full_sync_calls(world: WritebackWorld) -> dict[str, int]:
    """The vendor calls of the last full sync's read of each DAM asset stream."""
    runs: list[Run] = await rows_of(world, Run)
    full = max((r for r in runs if r.kind == "sync" and r.full), key=lambda r: r.created_at)
    streams: list[RunStream] = await rows_of(world, RunStream)
    return {s.stream: s.vendor_calls for s in streams if s.run_id == full.id}
