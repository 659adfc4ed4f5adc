"""Computing metric facts (batched units of work) and reading one asset's facts.

:func:`compute_metrics` rewrites the facts of each asset it is given from scratch, from the
asset's live linked records as they are now: the facts of a batch of assets are deleted and
inserted again in one unit of work. A revised analytics row (same record, new values)
therefore replaces what it gave before instead of adding to it; tombstoned records, removed
links and deleted assets drop out. Idempotent: computing again changes nothing.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from syncbridge.assets.naming import Namer
from syncbridge.assets.service import get_asset, namer_for
from syncbridge.connector.registry import ConnectorRegistry
from syncbridge.errors import InvalidInput
from syncbridge.logs import get_logger
from syncbridge.metrics import repository
from syncbridge.metrics.facts import (
    ANALYTICS_CONNECTORS,
    Attribution,
    compute_facts,
    group_sharing,
)
from syncbridge.metrics.schemas import AssetMetrics, MetricFactOut, MetricTotal, shown
from syncbridge.models import MetricFact, utcnow
from syncbridge.store.unit_of_work import in_unit_of_work

log = get_logger(__name__)

Sessionmaker = async_sessionmaker[AsyncSession]

#: Assets whose facts one unit of work rewrites.
ASSET_BATCH = 200
#: The window the API reads when it is not given one (days, the last one included).
DEFAULT_WINDOW_DAYS = 90
#: The longest window the API reads at once (days).
MAX_WINDOW_DAYS = 366
#: Record ids listed per fact (``records`` counts them all).
RECORD_IDS_SHOWN = 100


@dataclass
class MetricsReport:
    """What a computation did."""

    assets: int = 0
    facts: int = 0


async def _compute_batch(
    session: AsyncSession,
    asset_ids: Sequence[uuid.UUID],
    attribution: Attribution,
    run_id: uuid.UUID | None,
) -> int:
    dams = await repository.lock_live_assets(session, asset_ids)
    linked = await repository.linked_records(session, list(dams)) if dams else []
    deals = {i.record_id for i in linked if i.connector_key not in ANALYTICS_CONNECTORS}
    sharing = group_sharing(await repository.assets_sharing(session, deals))
    facts, sources = compute_facts(
        linked, asset_connections=dams, sharing=sharing, attribution=attribution
    )
    await repository.replace_facts(session, asset_ids, facts, sources, run_id=run_id)
    return len(facts)


async def _scope(
    sessionmaker: Sessionmaker,
    asset_ids: Sequence[uuid.UUID] | None,
    run_id: uuid.UUID | None,
) -> list[uuid.UUID]:
    if asset_ids is not None:
        return sorted(set(asset_ids), key=str)
    if run_id is not None:
        return await in_unit_of_work(
            sessionmaker, lambda s: repository.assets_affected_by_run(s, run_id), write=False
        )
    return await in_unit_of_work(sessionmaker, repository.every_asset_with_metrics, write=False)


async def compute_metrics(
    sessionmaker: Sessionmaker,
    *,
    asset_ids: Sequence[uuid.UUID] | None = None,
    run_id: uuid.UUID | None = None,
    attribution: Attribution = "even",
    between_batches: Callable[[], None] | None = None,
) -> MetricsReport:
    """Recompute the facts of ``asset_ids``; or, given only ``run_id``, of the assets whose
    links or linked records the run changed; or, given neither, of every asset that is
    linked or has facts. Facts remember ``run_id`` as the run that caused them.

    ``between_batches`` is called before each batch (a job's lease check raises there).
    """
    scope = await _scope(sessionmaker, asset_ids, run_id)
    report = MetricsReport()
    for start in range(0, len(scope), ASSET_BATCH):
        if between_batches is not None:
            between_batches()
        batch = scope[start : start + ASSET_BATCH]

        async def work(session: AsyncSession, batch: Sequence[uuid.UUID] = batch) -> int:
            return await _compute_batch(session, batch, attribution, run_id)

        report.facts += await in_unit_of_work(sessionmaker, work)
        report.assets += len(batch)
    log.info(
        "metrics.computed",
        run_id=str(run_id) if run_id else None,
        assets=report.assets,
        facts=report.facts,
        attribution=attribution,
    )
    return report


def _shift(day: date, days: int) -> date:
    """``day`` moved by ``days``, held within the calendar's range."""
    try:
        return day + timedelta(days=days)
    except OverflowError:
        return date.max if days > 0 else date.min


def _window(first: date | None, last: date | None, latest: date | None) -> tuple[date, date]:
    """The window asked for, or around the asset's latest data; 422 when it is backwards or
    longer than :data:`MAX_WINDOW_DAYS`."""
    if last is None:
        last = latest or utcnow().date()
        if first is not None and first > last:
            last = _shift(first, DEFAULT_WINDOW_DAYS - 1)
    if first is None:
        first = _shift(last, -(DEFAULT_WINDOW_DAYS - 1))
    if first > last:
        raise InvalidInput(
            "from: must not be after to",
            errors=[{"field": "from", "reason": "must not be after to"}],
        )
    if (last - first).days + 1 > MAX_WINDOW_DAYS:
        reason = f"the window is longer than {MAX_WINDOW_DAYS} days"
        raise InvalidInput(f"to: {reason}", errors=[{"field": "to", "reason": reason}])
    return first, last


async def asset_metrics(
    session: AsyncSession,
    registry: ConnectorRegistry,
    asset_id: uuid.UUID,
    first: date | None,
    last: date | None,
) -> AssetMetrics:
    """An asset's daily facts over a window (default: the last 90 days of its data), with
    each fact's source connection and records, and totals per metric and connection.
    NotFound for an unknown asset; InvalidInput for a bad window."""
    asset = await get_asset(session, asset_id)
    first, last = _window(first, last, await repository.latest_day(session, asset.id))
    facts = await repository.facts_of(session, asset.id, first, last)
    sources = await repository.sources_of(session, asset.id, first, last)
    namer = await namer_for(session, registry, {f.connection_id for f in facts})
    items = [
        MetricFactOut(
            day=f.day,
            metric=f.metric,
            value=shown(f.metric, f.value),
            connection=namer.connection(f.connection_id),
            records=f.records,
            record_ids=sources.get((f.day, f.connection_id), [])[:RECORD_IDS_SHOWN],
            attribution=f.attribution,
            run_id=f.run_id,
            computed_at=f.computed_at,
        )
        for f in facts
    ]
    return AssetMetrics(
        asset_id=asset.id, first=first, last=last, facts=items, totals=_totals(facts, namer)
    )


@dataclass
class _Total:
    value: Decimal
    records: int
    days: int
    attributions: set[str | None]


def _totals(facts: Sequence[MetricFact], namer: Namer) -> list[MetricTotal]:
    """Per metric and source connection: the sum over the window, its records and days."""
    sums: dict[tuple[str, uuid.UUID], _Total] = {}
    for f in facts:
        total = sums.setdefault((f.metric, f.connection_id), _Total(Decimal(0), 0, 0, set()))
        total.value += f.value
        total.records += f.records
        total.days += 1
        total.attributions.add(f.attribution)
    out = [
        MetricTotal(
            metric=metric,
            connection=namer.connection(connection_id),
            value=shown(metric, t.value),
            records=t.records,
            days=t.days,
            # Facts computed under different rules (the setting changed) name none.
            attribution=next(iter(t.attributions)) if len(t.attributions) == 1 else None,
        )
        for (metric, connection_id), t in sums.items()
    ]
    return sorted(out, key=lambda t: (t.metric, t.connection.name, str(t.connection.id)))


__all__ = ["MetricsReport", "asset_metrics", "compute_metrics"]
