"""The whole loop from a webhook: a HubSpot deal won at the vendor, delivered signed to the
receiver, applied by the inbox, credits its amount to the assets its campaign used, which
rise to the top tier; scoring plans the write-backs and the tags land in the DAMs."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession
from syncbridge_hubspot.sim_objects import hubspot_time, sandbox_present

from syncbridge.bootstrap import load_default_taxonomy
from syncbridge.jobs import HandlerRegistry, Worker, WorkerConfig
from syncbridge.jobs.retry import RetryPolicy
from syncbridge.linking.defaults import load_default_link_rules
from syncbridge.models import Asset, Connection, DesiredTag, Job, Link, StoredRecord, WriteBack
from syncbridge.models.base import utcnow
from syncbridge.settings import Settings
from syncbridge.store.unit_of_work import in_unit_of_work
from syncbridge.sync.runs import run_sync
from syncbridge.tagging.defaults import load_default_tag_rules
from tests.inbox_support import Sandboxed, sandboxed_app

pytestmark = pytest.mark.embedded_worker(False)

TIERS = {"perf:top-10", "perf:top-25", "perf:middle", "perf:bottom-25"}
INSUFFICIENT = "perf:insufficient-data"
RULE = """\
rules:
  - key: influenced-revenue
    name: "Influenced revenue, every asset, last 28 days"
    window_days: 28
    cohort_by: []
    kpi: {type: count, metric: influenced_revenue}
    min_sample: 1
    tiers:
      - {concept: "perf:top-10", from_percentile: 90, to_percentile: 100}
      - {concept: "perf:top-25", from_percentile: 75, to_percentile: 90}
      - {concept: "perf:middle", from_percentile: 25, to_percentile: 75}
      - {concept: "perf:bottom-25", from_percentile: 0, to_percentile: 25}
    insufficient_concept: "perf:insufficient-data"
    targets: []
"""


async def drain(world: Sandboxed) -> None:
    """Run every queued job, delays skipped (metric facts and scoring wait 30 s to gather a
    burst), with every installed handler and the app's own vendor access, until none is
    left."""
    worker = Worker(
        world.app.state.engine,
        HandlerRegistry.load(),
        listen=False,
        services=world.app.state.job_services,
        config=WorkerConfig(retry=RetryPolicy(base_s=0.0, max_s=0.0)),
    )
    sessionmaker = world.app.state.sessionmaker

    async def due(session: AsyncSession) -> int:
        result = await session.execute(
            update(Job).where(Job.status == "queued").values(run_after=utcnow())
        )
        return int(getattr(result, "rowcount", 0) or 0)

    for _ in range(50):
        if not await in_unit_of_work(sessionmaker, due):
            return
        while await worker.run_once():
            pass
    raise AssertionError("jobs kept coming")


async def deal_tiers(world: Sandboxed, deal_id: str) -> dict[uuid.UUID, tuple[str, str, set[str]]]:
    """The live assets linked to the deal: (their connector, external id, desired tags)."""

    async def read(session: AsyncSession) -> dict[uuid.UUID, tuple[str, str, set[str]]]:
        rows = await session.execute(
            select(Asset.id, Connection.connector_key, Asset.external_id)
            .join(Link, Link.asset_id == Asset.id)
            .join(StoredRecord, StoredRecord.id == Link.record_id)
            .join(Connection, Connection.id == Asset.connection_id)
            .where(
                StoredRecord.stream == "deals",
                StoredRecord.external_id == deal_id,
                Asset.deleted_at.is_(None),
            )
        )
        found: dict[uuid.UUID, tuple[str, str, set[str]]] = {}
        for asset_id, key, external_id in rows.all():
            tags = set(
                await session.scalars(
                    select(DesiredTag.concept).where(DesiredTag.asset_id == asset_id)
                )
            )
            found[asset_id] = (str(key), str(external_id), tags)
        return found

    return await in_unit_of_work(world.app.state.sessionmaker, read, write=False)


async def an_open_deal_with_assets(world: Sandboxed) -> str:
    async def read(session: AsyncSession) -> list[Any]:
        rows = await session.execute(
            select(StoredRecord.external_id, StoredRecord.data)
            .join(Link, Link.record_id == StoredRecord.id)
            .where(StoredRecord.stream == "deals")
            .distinct()
        )
        return list(rows.all())

    for external_id, data in sorted(await in_unit_of_work(
        world.app.state.sessionmaker, read, write=False
    )):  # fmt: skip
        properties = data.get("properties", data)
        if properties.get("dealstage") != "closedwon":
            return str(external_id)
    raise AssertionError("the sandbox world has no open deal linked to assets")


async def test_a_deal_won_at_the_vendor_moves_its_assets_tags_in_the_dams(
    settings: Settings, tmp_path: Path
) -> None:
    rule_file = tmp_path / "rules.yaml"
    rule_file.write_text(RULE, encoding="utf-8")
    async with sandboxed_app(settings, tmp_path / "dam", assets=40, inbox_debounce_s=0.0) as world:
        sessionmaker = world.app.state.sessionmaker

        async def defaults(session: AsyncSession) -> None:
            await load_default_taxonomy(session)
            await load_default_link_rules(session, "test")
            await load_default_tag_rules(session, "test", rule_file)

        await in_unit_of_work(sessionmaker, defaults)
        services = world.app.state.job_services
        synced = await run_sync(sessionmaker, services.connections, services.http, full=True,
                                requested_by="test")  # fmt: skip
        assert synced.status == "succeeded", synced.error
        await drain(world)  # facts, scoring, write-backs of the first sync

        deal = await an_open_deal_with_assets(world)
        before = await deal_tiers(world, deal)
        assert before, "the deal is linked to assets"
        assert all(tags == {INSUFFICIENT} for _, _, tags in before.values()), before

        sim = world.simulator("hubspot")
        closed = datetime.combine(sandbox_present(world.sandbox.world).date(), time(12), UTC)
        sim.modify("deals", deal, {"dealstage": "closedwon", "amount": "987654321",
                                   "closedate": hubspot_time(closed)})  # fmt: skip
        url = world.webhook_url("hubspot")
        headers, body, _ = sim.notification("deals", deal, property_name="dealstage",
                                            property_value="closedwon", url=url)  # fmt: skip
        answer = await world.client.post(url, content=body, headers=headers)
        assert answer.status_code == 200, answer.text
        await drain(world)  # the event, its run's facts, scoring and write-backs

        [event] = await world.events()
        assert (event.status, event.outcome) == ("handled", "fetched")
        after = await deal_tiers(world, deal)
        assert set(after) == set(before)
        # Ranked now, on the revenue the won deal credits them (before: no revenue at all).
        assert all(tags & TIERS for _, _, tags in after.values()), after
        assert any(tags & {"perf:top-10", "perf:top-25"} for _, _, tags in after.values())

        async def sent(session: AsyncSession) -> list[WriteBack]:
            return list(
                await session.scalars(select(WriteBack).where(WriteBack.asset_id.in_(after)))
            )

        writebacks = await in_unit_of_work(sessionmaker, sent, write=False)
        latest: dict[uuid.UUID, WriteBack] = {}
        for wb in writebacks:
            if wb.asset_id not in latest or wb.version > latest[wb.asset_id].version:
                latest[wb.asset_id] = wb
        assert set(latest) == set(after)
        for asset_id, wb in latest.items():
            assert wb.status == "done"
            assert set(wb.desired_tags) == after[asset_id][2]
        # And at the vendors themselves: the new tier, the old tag gone.
        bynder, cloudinary = world.simulator("bynder"), world.simulator("cloudinary")
        bynder.apply_pending()
        checked = 0
        for key, external_id, tags in after.values():
            if key == "bynder":
                held = set(bynder.media(external_id)["tags"])
            elif key == "cloudinary":
                held = set(cloudinary.store.by_asset_id[external_id].tags)
            else:
                continue
            assert tags <= held
            assert INSUFFICIENT not in held
            checked += 1
        assert checked, "some of the deal's assets live in Bynder or Cloudinary"
