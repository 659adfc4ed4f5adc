"""Scoring into the store: desired tags with their inputs, one per (asset, rule), rewritten
per run only where something changed.

Assets and facts are written directly (no vendor); the default taxonomy and tag rule are
loaded as a first start loads them. The assets are not classified, so the default rule
(cohorts by asset type and channel) ranks them all in the cohort ``none/none``.
"""

from __future__ import annotations

import uuid
from datetime import date
from decimal import Decimal

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from syncbridge.models import Asset, DesiredTag, MetricFact, utcnow
from syncbridge.scoring.service import score_all
from syncbridge.store.unit_of_work import in_unit_of_work
from tests.scoring_support import seed_facts

pytest_plugins = ["tests.store_fixtures"]

Sessionmaker = async_sessionmaker[AsyncSession]
LAST_DAY = date(2026, 11, 20)
#: Per asset: (key events, views) per day over 10 days; the last one is below 100 views.
ASSETS = {"a": (1, 20), "b": (2, 20), "c": (3, 20), "d": (4, 20), "thin": (5, 5)}


async def seed(sessionmaker: Sessionmaker) -> dict[str, uuid.UUID]:
    """The default taxonomy and rule, a GA4 and a Bynder connection, the assets and facts."""
    return await seed_facts(sessionmaker, ASSETS, LAST_DAY)


async def desired(sessionmaker: Sessionmaker) -> dict[uuid.UUID, DesiredTag]:
    async def read(session: AsyncSession) -> dict[uuid.UUID, DesiredTag]:
        return {t.asset_id: t for t in await session.scalars(select(DesiredTag))}

    return await in_unit_of_work(sessionmaker, read, write=False)


async def test_every_live_asset_gets_its_desired_tag_with_its_inputs(
    sessionmaker: Sessionmaker,
) -> None:
    ids = await seed(sessionmaker)
    [result] = await score_all(sessionmaker)
    assert (result.assets, result.changed, result.removed) == (5, 5, 0)
    assert result.tiers == {
        "perf:bottom-25": 1,
        "perf:middle": 2,
        "perf:top-10": 1,
        "perf:insufficient-data": 1,
    }
    tags = await desired(sessionmaker)
    assert set(tags) == set(ids.values())
    best, thin = tags[ids["d"]], tags[ids["thin"]]
    assert (best.concept, best.percentile, best.cohort, best.cohort_size) == (
        "perf:top-10",
        100,
        "none/none",
        4,
    )
    assert (best.sample, best.kpi) == (200, 0.2)
    assert best.smoothed is not None
    assert 0 < best.smoothed < 0.2
    assert (best.window_start, best.window_end) == ("2026-10-24", "2026-11-20")
    assert best.rule_version == 1
    assert (thin.concept, thin.percentile, thin.sample) == ("perf:insufficient-data", None, 50)
    assert tags[ids["b"]].percentile == 100 / 3


async def test_a_second_run_over_the_same_facts_changes_nothing(
    sessionmaker: Sessionmaker,
) -> None:
    await seed(sessionmaker)
    await score_all(sessionmaker)
    before = {
        a: (t.run_id, t.computed_at, t.concept) for a, t in (await desired(sessionmaker)).items()
    }
    [again] = await score_all(sessionmaker)
    assert (again.changed, again.unchanged, again.removed) == (0, 5, 0)
    after = {
        a: (t.run_id, t.computed_at, t.concept) for a, t in (await desired(sessionmaker)).items()
    }
    assert after == before


async def test_new_facts_rewrite_what_they_change_and_a_deleted_asset_loses_its_tag(
    sessionmaker: Sessionmaker,
) -> None:
    ids = await seed(sessionmaker)
    await score_all(sessionmaker)

    async def change(session: AsyncSession) -> None:
        # The thin asset gets enough views to be ranked; "a" is deleted in the DAM.
        await session.execute(
            update(MetricFact)
            .where(MetricFact.asset_id == ids["thin"], MetricFact.metric == "views")
            .values(value=Decimal(50))
        )
        await session.execute(update(Asset).where(Asset.id == ids["a"]).values(deleted_at=utcnow()))

    await in_unit_of_work(sessionmaker, change)
    [result] = await score_all(sessionmaker)
    # Only the thin asset (now ranked) and "b" (now the lowest) change: c and d keep
    # their ranks among four.
    assert (result.assets, result.changed, result.unchanged, result.removed) == (4, 2, 2, 1)
    tags = await desired(sessionmaker)
    assert ids["a"] not in tags
    thin = tags[ids["thin"]]
    # 5 key events of 50 views a day: 10 %, as "b" but on 500 views, so a higher bound.
    assert (thin.concept, thin.sample, thin.cohort_size) == ("perf:middle", 500, 4)
    assert thin.percentile == 100 / 3
    assert (tags[ids["b"]].concept, tags[ids["b"]].percentile) == ("perf:bottom-25", 0)
