"""The queries of scoring: the rules to score, each asset's window totals and cohort
concepts, and the stored desired tags."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from syncbridge.models import (
    Asset,
    Classification,
    Concept,
    ConceptScheme,
    DesiredTag,
    MetricFact,
    ScoreRunRule,
    TagRule,
)


@dataclass(frozen=True, slots=True)
class Totals:
    """One asset's total of one metric over a window, and the days with data."""

    value: float
    days: int


async def enabled_rules(session: AsyncSession) -> list[TagRule]:
    """The tag rules to score: enabled and not archived, oldest first."""
    rows = await session.scalars(
        select(TagRule)
        .where(TagRule.enabled.is_(True), TagRule.archived_at.is_(None))
        .order_by(TagRule.created_at, TagRule.id)
    )
    return list(rows)


async def newest_fact_day(session: AsyncSession, metrics: Sequence[str]) -> date | None:
    """The last day with a fact of any of ``metrics`` (None: no facts)."""
    found: date | None = await session.scalar(
        select(func.max(MetricFact.day)).where(MetricFact.metric.in_(metrics))
    )
    return found


async def live_asset_ids(session: AsyncSession) -> list[uuid.UUID]:
    """Every asset not deleted in its DAM."""
    rows = await session.scalars(select(Asset.id).where(Asset.deleted_at.is_(None)))
    return list(rows)


async def window_totals(
    session: AsyncSession, metrics: Sequence[str], start: date, end: date
) -> dict[uuid.UUID, dict[str, Totals]]:
    """Per asset and metric, the total over ``start..end`` (inclusive; every source
    connection) and the days with data."""
    rows = await session.execute(
        select(
            MetricFact.asset_id,
            MetricFact.metric,
            func.sum(MetricFact.value),
            func.count(func.distinct(MetricFact.day)),
        )
        .where(MetricFact.metric.in_(metrics), MetricFact.day.between(start, end))
        .group_by(MetricFact.asset_id, MetricFact.metric)
    )
    out: dict[uuid.UUID, dict[str, Totals]] = defaultdict(dict)
    for asset_id, metric, total, days in rows:
        out[asset_id][metric] = Totals(float(total or 0), int(days))
    return out


async def concepts_by_scheme(
    session: AsyncSession, schemes: Sequence[str]
) -> dict[uuid.UUID, dict[str, set[str]]]:
    """Per asset, its concept keys in each of ``schemes`` (rule and manual alike)."""
    out: dict[uuid.UUID, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    if not schemes:
        return out
    rows = await session.execute(
        select(Classification.asset_id, ConceptScheme.key, Concept.key)
        .join(Concept, Concept.id == Classification.concept_id)
        .join(ConceptScheme, ConceptScheme.id == Concept.scheme_id)
        .where(ConceptScheme.key.in_(schemes))
    )
    for asset_id, scheme, concept in rows:
        out[asset_id][scheme].add(concept)
    return out


#: The inputs of a desired tag compared to decide whether scoring changes it.
INPUT_FIELDS = (
    "rule_version",
    "concept",
    "cohort",
    "cohort_size",
    "sample",
    "kpi",
    "smoothed",
    "percentile",
    "window_start",
    "window_end",
)


async def stored_inputs(
    session: AsyncSession, rule_id: uuid.UUID, asset_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, tuple[int, tuple[Any, ...]]]:
    """Per asset of ``asset_ids`` with a desired tag under the rule: the row's id and its
    :data:`INPUT_FIELDS` (plain columns: no ORM objects to build for a batch of 5,000)."""
    columns = [getattr(DesiredTag, name) for name in INPUT_FIELDS]
    rows = await session.execute(
        select(DesiredTag.asset_id, DesiredTag.id, *columns).where(
            DesiredTag.rule_id == rule_id, DesiredTag.asset_id.in_(asset_ids)
        )
    )
    return {row[0]: (row[1], tuple(row[2:])) for row in rows}


async def delete_desired_tags_except(
    session: AsyncSession, rule_id: uuid.UUID, keep: set[uuid.UUID]
) -> int:
    """Delete the rule's desired tags of assets outside ``keep``; how many went."""
    stored = await session.scalars(select(DesiredTag.asset_id).where(DesiredTag.rule_id == rule_id))
    gone = [asset_id for asset_id in stored if asset_id not in keep]
    for start in range(0, len(gone), 5000):
        await session.execute(
            delete(DesiredTag)
            .where(
                DesiredTag.rule_id == rule_id, DesiredTag.asset_id.in_(gone[start : start + 5000])
            )
            .execution_options(synchronize_session=False)
        )
    return len(gone)


async def rule_results_of(session: AsyncSession, run_id: uuid.UUID) -> list[ScoreRunRule]:
    """What a scoring run did per rule, in the order it scored them."""
    rows = await session.scalars(
        select(ScoreRunRule)
        .where(ScoreRunRule.run_id == run_id)
        .order_by(ScoreRunRule.finished_at, ScoreRunRule.id)
    )
    return list(rows)
