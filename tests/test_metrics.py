"""Metric facts on the sandbox world: they equal the world's ground truth.

Every sandbox connection is synced into a real store with the default link rules (as in
``test_linking_ground_truth``); the run's metrics job (or ``compute_metrics``) computes the
facts. The world says what each analytics row measured (views, sessions, key events, events,
revenue of one asset on one day) and which deals each campaign won; each Bynder asset is one
world asset, and a campaign's 16 assets share the amounts of its won deals.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, cast

import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from syncbridge_bynder.simulator import BynderSimulator
from syncbridge_ga4.simulator import Ga4Simulator

from syncbridge.jobs import HandlerRegistry, Job, Worker
from syncbridge.metrics.jobs import register
from syncbridge.metrics.service import compute_metrics
from syncbridge.metrics.triggers import DELAY_S, KIND
from syncbridge.models import (
    Asset,
    Connection,
    MetricFact,
    MetricFactRecord,
    StoredRecord,
    utcnow,
)
from syncbridge.sandbox.world import LATE_DAYS, World
from syncbridge.settings import get_settings
from syncbridge.store.unit_of_work import in_unit_of_work
from tests.jobs_support import ManualClock
from tests.sandbox_support import embedded_world

pytest_plugins = ["tests.store_fixtures"]

Sessionmaker = async_sessionmaker[AsyncSession]
#: A world whose campaigns still run on its last (late-data) days, and that wins deals.
SEED, ASSETS = 1, 80
ANALYTICS = ("views", "sessions", "key_events", "events", "revenue")


@dataclass
class MetricsWorld:
    world: World
    sessionmaker: Sessionmaker
    run_id: uuid.UUID
    ga4: Ga4Simulator
    bynder: BynderSimulator
    sync_again: Callable[..., Awaitable[uuid.UUID]]


@pytest.fixture
async def metrics_world(sessionmaker: Sessionmaker, tmp_path: Path) -> AsyncIterator[MetricsWorld]:
    """Every sandbox connection synced once (full), with the default link rules loaded; the
    run's metrics job is queued, not yet run."""
    world = World(seed=SEED, assets_count=ASSETS)
    async with embedded_world(sessionmaker, world, tmp_path / "dam") as embedded:
        run = await embedded.sync(full=True)

        async def again(*, full: bool = False) -> uuid.UUID:
            return (await embedded.sync(full=full)).id

        sandbox = embedded.sandbox
        ga4 = cast(Ga4Simulator, sandbox.simulators["ga4"])
        bynder = cast(BynderSimulator, sandbox.simulators["bynder"])
        yield MetricsWorld(world, sessionmaker, run.id, ga4, bynder, again)


@dataclass
class Facts:
    """The store's facts, keyed the way the world can name them."""

    bynder: dict[str, uuid.UUID]  # world asset id -> Bynder asset row
    connections: dict[str, uuid.UUID]  # connector key -> connection
    values: dict[tuple[uuid.UUID, date, str, uuid.UUID], Decimal]
    rows: list[MetricFact]
    sources: list[MetricFactRecord]

    def of(self, connector: str, metric: str) -> dict[tuple[uuid.UUID, date], Decimal]:
        conn = self.connections[connector]
        return {(a, d): v for (a, d, m, c), v in self.values.items() if m == metric and c == conn}


async def read_facts(sessionmaker: Sessionmaker) -> Facts:
    async def work(session: AsyncSession) -> Facts:
        connections = {c.connector_key: c.id for c in await session.scalars(select(Connection))}
        bynder = {
            ext: aid
            for aid, ext in await session.execute(
                select(Asset.id, Asset.external_id).where(
                    Asset.connection_id == connections["bynder"]
                )
            )
        }
        rows = list(await session.scalars(select(MetricFact)))
        values = {(f.asset_id, f.day, f.metric, f.connection_id): f.value for f in rows}
        sources = list(await session.scalars(select(MetricFactRecord)))
        return Facts(bynder, connections, values, rows, sources)

    return await in_unit_of_work(sessionmaker, work, write=False)


async def ga4_days(sessionmaker: Sessionmaker) -> set[date]:
    async def work(session: AsyncSession) -> set[date]:
        ga4 = select(Connection.id).where(Connection.connector_key == "ga4")
        rows: Any = await session.scalars(
            select(StoredRecord.data).where(StoredRecord.connection_id.in_(ga4))
        )
        return {date.fromisoformat(str(data["date"])) for data in rows}

    return await in_unit_of_work(sessionmaker, work, write=False)


def expected_analytics(
    world: World, facts: Facts, days: set[date], revision: int = 0
) -> dict[str, dict[tuple[uuid.UUID, date], Decimal]]:
    """Per metric, the world's sum of analytics rows per (Bynder asset, day)."""
    expected: dict[str, dict[tuple[uuid.UUID, date], Decimal]] = {m: {} for m in ANALYTICS}
    for day in days:
        for row in world.analytics_rows(day, revision):
            key = (facts.bynder[row.asset_id], day)
            measured: tuple[int | Decimal, ...] = (
                row.views,
                row.sessions,
                row.key_events,
                row.event_count,
                row.revenue,
            )
            for metric, value in zip(ANALYTICS, measured, strict=True):
                cell = expected[metric]
                cell[key] = cell.get(key, Decimal(0)) + Decimal(value)
    return expected


def won_deals_by_asset(
    world: World, facts: Facts
) -> dict[tuple[uuid.UUID, date], list[tuple[Decimal, int]]]:
    """Per (Bynder asset, close day): each won deal of its campaign as (amount, how many
    assets the campaign used)."""
    out: dict[tuple[uuid.UUID, date], list[tuple[Decimal, int]]] = defaultdict(list)
    for deal in world.deals:
        if not deal.is_won:
            continue
        used = world.campaign_assets(deal.campaign_key)
        for asset in used:
            out[(facts.bynder[asset.id], deal.close_date)].append((deal.amount, len(used)))
    return out


def bynder_only(values: dict[tuple[uuid.UUID, date], Decimal], facts: Facts) -> dict[Any, Decimal]:
    mine = set(facts.bynder.values())
    return {k: v for k, v in values.items() if k[0] in mine}


async def test_analytics_facts_equal_the_worlds_rows(metrics_world: MetricsWorld) -> None:
    report = await compute_metrics(metrics_world.sessionmaker, run_id=metrics_world.run_id)

    facts = await read_facts(metrics_world.sessionmaker)
    days = await ga4_days(metrics_world.sessionmaker)
    expected = expected_analytics(metrics_world.world, facts, days)
    assert report.assets > 0
    assert expected["views"], "the sandbox has analytics rows"
    for metric in ANALYTICS:
        assert bynder_only(facts.of("ga4", metric), facts) == expected[metric], metric
    # One GA4 row per asset and day: each analytics fact came from one record, named.
    ga4 = facts.connections["ga4"]
    assert {f.records for f in facts.rows if f.connection_id == ga4} == {1}
    assert all(f.attribution is None and f.run_id == metrics_world.run_id for f in facts.rows[:1])


async def test_influenced_revenue_is_each_won_deal_split_evenly_over_its_campaigns_assets(
    metrics_world: MetricsWorld,
) -> None:
    await compute_metrics(metrics_world.sessionmaker, run_id=metrics_world.run_id)

    facts = await read_facts(metrics_world.sessionmaker)
    won = won_deals_by_asset(metrics_world.world, facts)
    assert won, "the world has won deals"
    for crm in ("hubspot", "salesforce"):
        revenue = bynder_only(facts.of(crm, "influenced_revenue"), facts)
        deals = bynder_only(facts.of(crm, "influenced_deals"), facts)
        assert set(revenue) == set(deals) == set(won), crm
        for key, credited in revenue.items():
            share = sum(amount / n for amount, n in won[key])
            assert abs(credited - share) < Decimal("0.01") * len(won[key]), (crm, key)
            assert credited == credited.quantize(Decimal("0.01"))
            assert deals[key] == len(won[key])
        # Each campaign's assets add up to its won deals, to the cent.
        by_day: dict[date, Decimal] = defaultdict(Decimal)
        for (_asset, day), credited in revenue.items():
            by_day[day] += credited
        won_by_day: dict[date, Decimal] = defaultdict(Decimal)
        for deal in metrics_world.world.deals:
            if deal.is_won:
                won_by_day[deal.close_date] += deal.amount
        assert by_day == won_by_day, crm
    # Lost and open deals count nowhere; every revenue fact names its rule.
    assert {f.attribution for f in facts.rows if f.metric == "influenced_revenue"} == {"even"}


async def test_full_attribution_credits_each_asset_the_whole_amount(
    metrics_world: MetricsWorld,
) -> None:
    await compute_metrics(metrics_world.sessionmaker, attribution="even")
    even = await read_facts(metrics_world.sessionmaker)
    await compute_metrics(metrics_world.sessionmaker, attribution="full")
    full = await read_facts(metrics_world.sessionmaker)

    won = won_deals_by_asset(metrics_world.world, full)
    revenue = bynder_only(full.of("hubspot", "influenced_revenue"), full)
    assert revenue == {key: sum(a for a, _n in deals) for key, deals in won.items()}
    assert {f.attribution for f in full.rows if f.metric == "influenced_revenue"} == {"full"}
    split = bynder_only(even.of("hubspot", "influenced_revenue"), even)
    assert all(split[key] < revenue[key] for key in revenue)
    # The deal counts and the analytics do not depend on the rule.
    for metric in ("influenced_deals", *ANALYTICS):
        assert even.of("hubspot", metric) == full.of("hubspot", metric)
        assert even.of("ga4", metric) == full.of("ga4", metric)


async def test_late_analytics_data_replaces_the_days_values(metrics_world: MetricsWorld) -> None:
    sm, world = metrics_world.sessionmaker, metrics_world.world
    await compute_metrics(sm, run_id=metrics_world.run_id)
    before = await read_facts(sm)
    late = {world.analytics_end - timedelta(days=k) for k in range(LATE_DAYS)}

    metrics_world.ga4.revise()  # GA4 processes late hits: the last days' values grow
    second = await metrics_world.sync_again()  # incremental, re-reads its look-back days
    report = await compute_metrics(sm, run_id=second)

    after = await read_facts(sm)
    revised = expected_analytics(world, after, late, revision=1)
    original = expected_analytics(world, after, late, revision=0)
    # The run's scope: the assets of the revised rows (and of their campaigns' deals).
    assert 0 < report.assets < len(before.bynder) * 3
    for metric in ("views", "sessions", "events"):
        got = {k: v for k, v in bynder_only(after.of("ga4", metric), after).items() if k[1] in late}
        assert got == revised[metric], metric
        assert got != original[metric], "the revision changed the late days"
    # Settled days are as they were, and no (asset, day) gained a second record.
    settled = {k: v for k, v in before.values.items() if k[1] not in late}
    assert {k: v for k, v in after.values.items() if k[1] not in late} == settled
    assert len(after.rows) == len(before.rows)
    assert len(after.sources) == len(before.sources)


async def test_an_asset_deleted_in_the_dam_leaves_its_share_to_the_campaigns_other_assets(
    metrics_world: MetricsWorld,
) -> None:
    sm, world = metrics_world.sessionmaker, metrics_world.world
    await compute_metrics(sm, run_id=metrics_world.run_id)
    before = await read_facts(sm)
    won = won_deals_by_asset(world, before)
    world_id = {row: wid for wid, row in before.bynder.items()}
    gone = min(row for row, _day in won)
    campaign = next(a.campaign_key for a in world.assets() if a.id == world_id[gone])
    stay = {before.bynder[a.id] for a in world.campaign_assets(campaign)} - {gone}

    metrics_world.bynder.portal.delete(world_id[gone])
    second = await metrics_world.sync_again(full=True)  # a full read tombstones it
    report = await compute_metrics(sm, run_id=second)

    after = await read_facts(sm)
    assert not any(asset == gone for (asset, _d, _m, _c) in after.values)
    assert report.assets < len(before.bynder) * 3  # the run's scope, not the whole store
    for crm in ("hubspot", "salesforce"):
        revenue = after.of(crm, "influenced_revenue")
        for (asset, day), deals in won.items():
            if asset not in stay:
                continue
            share = sum(amount / (n - 1) for amount, n in deals)
            assert abs(revenue[(asset, day)] - share) < Decimal("0.01") * len(deals)
        days = {day for asset, day in won if asset == gone}
        for day in days:
            credited = sum(revenue[(a, day)] for a in stay)
            assert credited == sum(d.amount for d in world.deals if _won_on(d, campaign, day))


def _won_on(deal: Any, campaign: str, day: date) -> bool:
    return bool(deal.is_won and deal.campaign_key == campaign and deal.close_date == day)


async def test_tombstoned_records_drop_out_and_computing_again_changes_nothing(
    metrics_world: MetricsWorld,
) -> None:
    sm = metrics_world.sessionmaker
    await compute_metrics(sm)
    first = await read_facts(sm)
    await compute_metrics(sm)
    assert (await read_facts(sm)).values == first.values

    day = max(await ga4_days(sm))
    ga4 = first.connections["ga4"]

    async def tombstone(session: AsyncSession) -> list[uuid.UUID]:
        ids = list(
            await session.scalars(
                select(StoredRecord.id).where(
                    StoredRecord.connection_id == ga4,
                    StoredRecord.data["date"].as_string() == day.isoformat(),
                )
            )
        )
        await session.execute(
            update(StoredRecord).where(StoredRecord.id.in_(ids)).values(deleted_at=utcnow())
        )
        return ids

    gone = await in_unit_of_work(sm, tombstone)
    affected = {s.asset_id for s in first.sources if s.record_id in gone}
    await compute_metrics(sm, asset_ids=sorted(affected, key=str))

    after = await read_facts(sm)
    assert gone
    assert not any(d == day and c == ga4 for (_a, d, _m, c) in after.values)
    assert {k: v for k, v in after.values.items() if k[1] != day} == {
        k: v for k, v in first.values.items() if k[1] != day
    }


@pytest.fixture
def full_attribution(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The worker's settings say ``SYNCBRIDGE_METRICS_ATTRIBUTION=full``."""
    monkeypatch.setenv("SYNCBRIDGE_METRICS_ATTRIBUTION", "full")
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


@pytest.mark.usefixtures("full_attribution")
async def test_a_finished_run_queues_the_metrics_job_whose_handler_computes_the_facts(
    metrics_world: MetricsWorld, engine: AsyncEngine
) -> None:
    async def jobs(session: AsyncSession) -> list[Job]:
        return list(await session.scalars(select(Job).where(Job.kind == KIND)))

    queued = await in_unit_of_work(metrics_world.sessionmaker, jobs, write=False)
    assert [(j.payload, j.status, j.concurrency_key) for j in queued] == [
        ({"run_id": str(metrics_world.run_id)}, "queued", KIND)
    ]
    assert (await read_facts(metrics_world.sessionmaker)).rows == []  # not in the run itself

    registry = HandlerRegistry()
    register(registry)
    assert registry.kinds == [KIND]
    assert HandlerRegistry.load().get(KIND) is registry.get(KIND)
    assert await Worker(engine, registry, listen=False).run_once() == []  # not yet ready
    later = ManualClock(utcnow() + timedelta(seconds=DELAY_S))
    outcomes = await Worker(engine, registry, listen=False, clock=later).run_once()

    assert [o.value for o in outcomes] == ["done"]
    facts = await read_facts(metrics_world.sessionmaker)
    days = await ga4_days(metrics_world.sessionmaker)
    expected = expected_analytics(metrics_world.world, facts, days)
    assert bynder_only(facts.of("ga4", "views"), facts) == expected["views"]
    # The handler credits deals by the configured rule.
    assert {f.attribution for f in facts.rows if f.metric == "influenced_revenue"} == {"full"}
    done = await in_unit_of_work(metrics_world.sessionmaker, jobs, write=False)
    assert [j.status for j in done] == ["done"]
