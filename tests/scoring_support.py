"""What the scoring tests share: a store with the default taxonomy and tag rule, a GA4 and a
Bynder connection, and assets with daily key events and views."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import date, timedelta
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from syncbridge.bootstrap import load_default_taxonomy
from syncbridge.models import Asset, Connection, MetricFact
from syncbridge.store.unit_of_work import in_unit_of_work
from syncbridge.tagging.defaults import load_default_tag_rules

Sessionmaker = async_sessionmaker[AsyncSession]


async def seed_facts(
    sessionmaker: Sessionmaker,
    assets: Mapping[str, tuple[int, int]],
    last_day: date,
    days: int = 10,
) -> dict[str, uuid.UUID]:
    """The default taxonomy and tag rule, a GA4 and a Bynder connection, and per asset name
    its (key events, views) on each of the ``days`` days up to ``last_day``; asset ids by
    name."""

    async def work(session: AsyncSession) -> dict[str, uuid.UUID]:
        await load_default_taxonomy(session)
        await load_default_tag_rules(session, "test")
        ga4 = Connection(connector_key="ga4", name="GA4")
        dam = Connection(connector_key="bynder", name="Bynder")
        session.add_all([ga4, dam])
        await session.flush()
        ids = {}
        for name, (key_events, views) in assets.items():
            asset = Asset(
                connection_id=dam.id, stream="media", external_id=name, data={}, content_hash="h"
            )
            session.add(asset)
            await session.flush()
            ids[name] = asset.id
            for back in range(days):
                day = last_day - timedelta(days=back)
                for metric, value in (("key_events", key_events), ("views", views)):
                    session.add(
                        MetricFact(
                            asset_id=asset.id,
                            day=day,
                            metric=metric,
                            connection_id=ga4.id,
                            value=Decimal(value),
                            records=1,
                        )
                    )
        await session.flush()
        return ids

    return await in_unit_of_work(sessionmaker, work)
