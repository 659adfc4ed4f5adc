"""Queries of the metrics package: what a run touched, an asset batch's linked records, and
the facts themselves. Every query works on a batch of ids (no per-row round trips)."""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence
from datetime import date
from typing import cast

from sqlalchemy import ColumnElement, Select, Table, and_, delete, func, insert, or_, select, union
from sqlalchemy.ext.asyncio import AsyncSession

from syncbridge.metrics.facts import (
    ANALYTICS_CONNECTORS,
    DEAL_STREAMS,
    Fact,
    LinkedRecord,
    Source,
)
from syncbridge.models import Asset, Connection, Link, MetricFact, MetricFactRecord, StoredRecord
from syncbridge.models.base import utcnow

#: Ids per ``IN`` list (asyncpg takes at most 32,767 parameters a statement).
ID_CHUNK = 5000

# Core inserts of a batch's rows (executemany): the ORM's bulk path cost twice as long.
_FACTS = cast(Table, MetricFact.__table__)
_SOURCES = cast(Table, MetricFactRecord.__table__)


def _touched_by_run(run_id: uuid.UUID) -> Select[tuple[uuid.UUID]]:
    """Assets a run touched directly: those it changed (tombstones too), those linked to the
    records it changed, and those whose facts came from the records it changed or from the
    records linked to the assets it changed."""
    changed_assets = select(Asset.id).where(Asset.last_run_id == run_id)
    records = union(
        select(StoredRecord.id).where(StoredRecord.last_run_id == run_id),
        select(Link.record_id).where(Link.asset_id.in_(changed_assets)),
        select(MetricFactRecord.record_id).where(MetricFactRecord.asset_id.in_(changed_assets)),
    ).subquery()
    ids = select(records.c[0])
    return select(
        union(
            changed_assets,
            select(Link.asset_id).where(Link.record_id.in_(ids)),
            select(MetricFactRecord.asset_id).where(MetricFactRecord.record_id.in_(ids)),
        ).subquery()
    )


async def assets_affected_by_run(session: AsyncSession, run_id: uuid.UUID) -> list[uuid.UUID]:
    """Assets whose facts a run may have changed.

    Those it touched (:func:`_touched_by_run`), and every asset sharing a record with them,
    now or in its facts: a deal's even split changes for all its assets when one comes or
    goes, and a campaign that drops an asset leaves that asset's credit from the campaign's
    deals to be taken away (the deal itself did not change). Reads through the indexes on
    ``last_run_id``, links by asset and record, and fact records by record.
    """
    touched = _touched_by_run(run_id)
    # Only deals are shared out: analytics rows and campaigns credit each asset on its own.
    shared = (
        select(Link.record_id)
        .join(StoredRecord, StoredRecord.id == Link.record_id)
        .join(Connection, Connection.id == StoredRecord.connection_id)
        .where(Link.asset_id.in_(touched), _deal_records())
    )
    rows = await session.scalars(
        union(
            touched,
            select(Link.asset_id).where(Link.record_id.in_(shared)),
            select(MetricFactRecord.asset_id).where(MetricFactRecord.record_id.in_(shared)),
        )
    )
    return sorted(set(rows), key=str)


async def every_asset_with_metrics(session: AsyncSession) -> list[uuid.UUID]:
    """Every asset that is linked to a record or has facts (a full recomputation's scope)."""
    rows = await session.scalars(
        union(select(Link.asset_id), select(MetricFact.asset_id), select(MetricFactRecord.asset_id))
    )
    return sorted(set(rows), key=str)


async def lock_live_assets(
    session: AsyncSession, asset_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, uuid.UUID]:
    """The live ones of ``asset_ids`` -> their DAM connection. Locks the assets' rows on
    PostgreSQL (in id order), so two computations of one asset take turns."""
    rows = await session.execute(
        select(Asset.id, Asset.connection_id, Asset.deleted_at)
        .where(Asset.id.in_(asset_ids))
        .order_by(Asset.id)
        .with_for_update()
    )
    return {r.id: r.connection_id for r in rows if r.deleted_at is None}


def _deal_records() -> ColumnElement[bool]:
    """Records (joined with their connection) of the deal streams."""
    return or_(
        *(
            and_(Connection.connector_key == key, StoredRecord.stream == stream)
            for key, stream in DEAL_STREAMS
        )
    )


def _metric_sources() -> ColumnElement[bool]:
    """Records (joined with their connection) that can give metrics: analytics rows, and
    the deal streams."""
    return or_(Connection.connector_key.in_(sorted(ANALYTICS_CONNECTORS)), _deal_records())


async def linked_records(
    session: AsyncSession, asset_ids: Collection[uuid.UUID]
) -> list[LinkedRecord]:
    """The distinct live records that can give metrics, linked to ``asset_ids``."""
    pairs = (
        select(Link.asset_id, Link.record_id)
        .where(Link.asset_id.in_(list(asset_ids)))
        .distinct()
        .subquery()
    )
    rows = await session.execute(
        select(
            pairs.c.asset_id,
            StoredRecord.id,
            StoredRecord.connection_id,
            Connection.connector_key,
            StoredRecord.stream,
            StoredRecord.data,
        )
        .join(StoredRecord, StoredRecord.id == pairs.c.record_id)
        .join(Connection, Connection.id == StoredRecord.connection_id)
        .where(StoredRecord.deleted_at.is_(None), _metric_sources())
    )
    return [LinkedRecord(r[0], r[1], r[2], r[3], r[4], r[5]) for r in rows]


async def assets_sharing(
    session: AsyncSession, record_ids: Collection[uuid.UUID]
) -> list[tuple[uuid.UUID, uuid.UUID, uuid.UUID]]:
    """(record, live asset linked to it, the asset's DAM connection), distinct."""
    ids = sorted(record_ids, key=str)
    out: list[tuple[uuid.UUID, uuid.UUID, uuid.UUID]] = []
    for start in range(0, len(ids), ID_CHUNK):
        rows = await session.execute(
            select(Link.record_id, Link.asset_id, Asset.connection_id)
            .join(Asset, Asset.id == Link.asset_id)
            .where(Link.record_id.in_(ids[start : start + ID_CHUNK]), Asset.deleted_at.is_(None))
            .distinct()
        )
        out += [(r[0], r[1], r[2]) for r in rows]
    return out


async def replace_facts(
    session: AsyncSession,
    asset_ids: Collection[uuid.UUID],
    facts: Sequence[Fact],
    sources: Sequence[Source],
    *,
    run_id: uuid.UUID | None,
) -> None:
    """Replace every fact and source of ``asset_ids`` with those given (flushes)."""
    ids = list(asset_ids)
    await session.execute(delete(MetricFactRecord).where(MetricFactRecord.asset_id.in_(ids)))
    await session.execute(delete(MetricFact).where(MetricFact.asset_id.in_(ids)))
    now = utcnow()
    if facts:
        await session.execute(
            insert(_FACTS),
            [
                {
                    "asset_id": f.asset_id,
                    "day": f.day,
                    "metric": f.metric,
                    "connection_id": f.connection_id,
                    "value": f.value,
                    "records": f.records,
                    "attribution": f.attribution,
                    "run_id": run_id,
                    "computed_at": now,
                }
                for f in facts
            ],
        )
    if sources:
        await session.execute(
            insert(_SOURCES),
            [
                {
                    "asset_id": s.asset_id,
                    "day": s.day,
                    "connection_id": s.connection_id,
                    "record_id": s.record_id,
                }
                for s in sources
            ],
        )
    await session.flush()


async def latest_day(session: AsyncSession, asset_id: uuid.UUID) -> date | None:
    """The last day the asset has a fact for."""
    day: date | None = await session.scalar(
        select(func.max(MetricFact.day)).where(MetricFact.asset_id == asset_id)
    )
    return day


async def facts_of(
    session: AsyncSession, asset_id: uuid.UUID, first: date, last: date
) -> list[MetricFact]:
    """An asset's facts from ``first`` to ``last`` (inclusive), by day, metric, connection."""
    rows = await session.scalars(
        select(MetricFact)
        .where(MetricFact.asset_id == asset_id, MetricFact.day.between(first, last))
        .order_by(MetricFact.day, MetricFact.metric, MetricFact.connection_id)
    )
    return list(rows)


async def sources_of(
    session: AsyncSession, asset_id: uuid.UUID, first: date, last: date
) -> dict[tuple[date, uuid.UUID], list[uuid.UUID]]:
    """An asset's records per (day, connection) from ``first`` to ``last``."""
    rows = await session.execute(
        select(MetricFactRecord.day, MetricFactRecord.connection_id, MetricFactRecord.record_id)
        .where(
            MetricFactRecord.asset_id == asset_id,
            MetricFactRecord.day.between(first, last),
        )
        .order_by(MetricFactRecord.record_id)
    )
    out: dict[tuple[date, uuid.UUID], list[uuid.UUID]] = {}
    for day, connection_id, record_id in rows:
        out.setdefault((day, connection_id), []).append(record_id)
    return out


__all__ = [
    "assets_affected_by_run",
    "assets_sharing",
    "every_asset_with_metrics",
    "facts_of",
    "latest_day",
    "linked_records",
    "lock_live_assets",
    "replace_facts",
    "sources_of",
]
