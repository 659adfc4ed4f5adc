"""Every performance tag syncbridge wrote into a DAM has a complete trace (issue 10, item 5):
after a sandbox cycle (sync, metrics, scoring, write-back into Bynder, Cloudinary and the
local folder's XMP sidecars), the trace of each asset that holds an owned tag says why it
carries it (the tag's rule and version, KPI, cohort, percentile, scoring run, since when),
from what (its metrics and their sources) and who wrote it where (the write-back to that DAM
connection, its ledger, the run that planned it)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from syncbridge.assets.schemas import AssetTrace
from syncbridge.assets.trace import trace_asset
from syncbridge.store.unit_of_work import in_unit_of_work
from tests.test_writeback_sandbox import dam_tags
from tests.writeback_support import (
    PREFIX,
    Sessionmaker,
    WritebackWorld,
    score,
    send_all,
    stored_assets,
    writeback_world,
)

pytest_plugins = ["tests.store_fixtures"]

INSUFFICIENT = "perf:insufficient-data"


@pytest.fixture
async def world(
    engine: AsyncEngine, sessionmaker: Sessionmaker, tmp_path: Path
) -> AsyncIterator[WritebackWorld]:
    async with writeback_world(engine, sessionmaker, tmp_path / "dam") as built:
        yield built


async def test_every_tag_written_into_a_dam_has_a_complete_trace(world: WritebackWorld) -> None:
    run_id = await score(world)
    await send_all(world)
    assets = await stored_assets(world)
    held = await dam_tags(world)
    registry = world.embedded.ctx.registry
    checked: dict[str, int] = {}
    tiers = 0
    for asset in assets.values():
        owned = [t for t in held[str(asset.id)] if t.startswith(PREFIX)]
        if not owned:
            continue

        async def read(session: AsyncSession, asset_id: uuid.UUID = asset.id) -> AssetTrace:
            return await trace_asset(session, registry, asset_id)

        trace = await in_unit_of_work(world.sessionmaker, read, write=False)
        tags = {t.concept.key: t for t in trace.performance_tags.items}
        for tag in owned:
            # Why: the desired tag with the rule, its version and the inputs it was ranked on.
            why = tags[tag]
            assert why.rule.id is not None
            assert why.rule.version is not None
            assert why.run_id == run_id
            assert why.computed_at is not None
            assert why.cohort
            if tag != INSUFFICIENT:
                tiers += 1
                assert why.kpi is not None
                assert why.smoothed is not None
                assert why.percentile is not None
                assert why.cohort_size >= 1
                # From what: the metrics it was ranked on, with their source connections.
                assert trace.metrics.items, tag
                assert all(m.sources for m in trace.metrics.items)
            # Who wrote it where: a write-back to this asset's DAM connection, planned by the
            # scoring run, applied as its ledger shows.
            wrote = [
                w
                for w in trace.write_backs.items
                if w.connection.id == asset.connection_id and tag in w.desired_tags
            ]
            assert wrote, (tag, trace.write_backs)
            last = wrote[0]
            assert last.status == "done"
            assert last.run_id == run_id
            assert last.connection.connector_key == asset.connector
            assert last.ledger
            assert any(tag in attempt.added for attempt in last.ledger)
            assert last.ledger[-1].vendor_status in {"applied", "accepted"}
        # The scoring run is among the runs that touched the asset.
        assert run_id in {r.id for r in trace.runs.items}
        checked[asset.connector] = checked.get(asset.connector, 0) + 1
    assert set(checked) == {"bynder", "cloudinary", "localfolder"}, checked
    assert tiers, "some written tags are tiers, not only insufficient data"
