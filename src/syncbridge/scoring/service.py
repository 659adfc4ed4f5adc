"""Scoring runs: per enabled tag rule, read the metric facts of its window and the assets'
cohort concepts, score every live asset (:mod:`syncbridge.scoring.score`), and rewrite the
rule's desired tags. Services flush, never commit: the functions taking a sessionmaker own
their units of work, one per batch.

The window of a rule ends on the newest day with a fact of the rule's metrics (any asset),
not today: analytics arrive days late, and a window ending today would count missing days
as zero. Without any fact the window ends today and every asset is below its minimum sample.

A desired tag is left alone (its ``run_id`` and ``computed_at`` stay those of the run that
last changed it) when its concept and every input (rule version, window, cohort, cohort
size, sample, KPI, smoothed value, percentile) are equal to what the run computed; so a
second run over unchanged facts changes nothing.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from functools import partial
from typing import Any

from sqlalchemy import delete, insert, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from syncbridge.logs import get_logger
from syncbridge.models import DesiredTag, ScoreRunRule, TagRule
from syncbridge.models.base import utcnow
from syncbridge.offload import run_cpu
from syncbridge.scoring import repository
from syncbridge.scoring.score import (
    AssetSample,
    RuleSpec,
    Score,
    cohort_key,
    rule_spec,
    score_assets,
)
from syncbridge.store.unit_of_work import in_unit_of_work

log = get_logger(__name__)

#: Desired tags written per unit of work.
BATCH = 5000


@dataclass(frozen=True, slots=True)
class RuleSnapshot:
    """What a scoring run needs of one tag rule, read once at the start."""

    id: uuid.UUID
    version: int
    window_days: int
    cohort_by: tuple[str, ...]
    metrics: tuple[str, ...]
    spec: RuleSpec

    @classmethod
    def of(cls, rule: TagRule) -> RuleSnapshot:
        content = {
            name: getattr(rule, name)
            for name in ("kpi", "smoothing", "min_sample", "tiers", "insufficient_concept")
        }
        content |= {"window_days": rule.window_days, "cohort_by": rule.cohort_by}
        return cls.of_content(rule.id, rule.version, content)

    @classmethod
    def of_content(
        cls, rule_id: uuid.UUID, version: int, content: Mapping[str, Any]
    ) -> RuleSnapshot:
        """A snapshot of a rule's JSON content (a saved rule's, or a draft's to preview)."""
        kpi: Mapping[str, Any] = content["kpi"]
        metrics = (
            (kpi["metric"],) if kpi["type"] == "count" else (kpi["numerator"], kpi["denominator"])
        )
        spec = rule_spec(
            kpi=kpi,
            smoothing=content["smoothing"],
            min_sample=content["min_sample"],
            tiers=content["tiers"],
            insufficient_concept=content["insufficient_concept"],
        )
        cohort_by = tuple(content["cohort_by"])
        return cls(rule_id, version, content["window_days"], cohort_by, metrics, spec)


@dataclass(frozen=True, slots=True)
class RuleResult:
    """What scoring one rule did."""

    rule_id: uuid.UUID
    assets: int
    changed: int
    unchanged: int
    removed: int
    tiers: dict[str, int]


@dataclass(frozen=True, slots=True)
class ScoringInputs:
    """What scoring a rule reads: its window and every live asset's sample."""

    window_start: date
    window_end: date
    samples: list[AssetSample]


async def read_inputs(session: AsyncSession, rule: RuleSnapshot) -> ScoringInputs:
    """The rule's window (ending on the newest day with a fact of its metrics) and every
    live asset's cohort and totals over it."""
    end = await repository.newest_fact_day(session, rule.metrics) or utcnow().date()
    start = end - timedelta(days=rule.window_days - 1)
    assets = await repository.live_asset_ids(session)
    totals = await repository.window_totals(session, rule.metrics, start, end)
    concepts = await repository.concepts_by_scheme(session, rule.cohort_by)
    samples = []
    none: dict[str, Any] = {}
    for asset_id in assets:
        of_asset = totals.get(asset_id, {})
        cohort = cohort_key(rule.cohort_by, concepts.get(asset_id, none))
        first = of_asset.get(rule.metrics[0])
        numerator = first.value if first else 0.0
        if rule.spec.kpi_type == "count":
            samples.append(
                AssetSample(asset_id, cohort, numerator, 0.0, first.days if first else 0)
            )
            continue
        second = of_asset.get(rule.metrics[1])
        samples.append(
            AssetSample(
                asset_id,
                cohort,
                numerator,
                second.value if second else 0.0,
                second.days if second else 0,
            )
        )
    return ScoringInputs(start, end, samples)


def _values(score: Score, rule: RuleSnapshot, inputs: ScoringInputs) -> dict[str, Any]:
    return {
        "rule_version": rule.version,
        "concept": score.concept,
        "cohort": score.cohort,
        "cohort_size": score.cohort_size,
        "sample": score.sample,
        "kpi": score.kpi,
        "smoothed": score.smoothed,
        "percentile": score.percentile,
        "window_start": inputs.window_start.isoformat(),
        "window_end": inputs.window_end.isoformat(),
    }


async def _write_batch(
    session: AsyncSession,
    rule: RuleSnapshot,
    inputs: ScoringInputs,
    scores: Sequence[Score],
    run_id: uuid.UUID | None,
) -> int:
    """Insert or update the batch's desired tags that changed (one multi-row statement
    each); how many did."""
    stored = await repository.stored_inputs(session, rule.id, [s.asset_id for s in scores])
    stamp = {"run_id": run_id, "computed_at": utcnow()}
    new: list[dict[str, Any]] = []
    changed: list[dict[str, Any]] = []
    for score in scores:
        values = _values(score, rule, inputs)
        row = stored.get(score.asset_id)
        if row is None:
            new.append({"asset_id": score.asset_id, "rule_id": rule.id, **values, **stamp})
        elif row[1] != tuple(values[name] for name in repository.INPUT_FIELDS):
            changed.append({"id": row[0], **values, **stamp})
    if new:
        await session.execute(insert(DesiredTag), new)
    if changed:
        await session.execute(update(DesiredTag), changed)  # by primary key
    return len(new) + len(changed)


async def _finish_rule(
    session: AsyncSession,
    rule: RuleSnapshot,
    inputs: ScoringInputs,
    run_id: uuid.UUID | None,
    result: RuleResult,
) -> None:
    if run_id is None:
        return
    await session.execute(
        delete(ScoreRunRule).where(ScoreRunRule.run_id == run_id, ScoreRunRule.rule_id == rule.id)
    )
    session.add(
        ScoreRunRule(
            run_id=run_id,
            rule_id=rule.id,
            rule_version=rule.version,
            window_start=inputs.window_start.isoformat(),
            window_end=inputs.window_end.isoformat(),
            assets=result.assets,
            changed=result.changed,
            unchanged=result.unchanged,
            removed=result.removed,
            tiers=result.tiers,
        )
    )
    await session.flush()


async def score_rule(
    sessionmaker: async_sessionmaker[AsyncSession],
    rule: RuleSnapshot,
    *,
    run_id: uuid.UUID | None = None,
    between_batches: Callable[[], None] | None = None,
    progress: Callable[[int], None] | None = None,
) -> RuleResult:
    """Score every live asset under ``rule`` and rewrite its desired tags, :data:`BATCH` a
    unit of work; idempotent (a repeat over the same facts changes nothing)."""

    async def read(session: AsyncSession) -> ScoringInputs:
        return await read_inputs(session, rule)

    inputs = await in_unit_of_work(sessionmaker, read, write=False)
    scores = await run_cpu(score_assets, rule.spec, inputs.samples)
    changed = 0
    for start in range(0, len(scores), BATCH):
        if between_batches is not None:
            between_batches()
        batch = scores[start : start + BATCH]

        async def write(session: AsyncSession, batch: Sequence[Score] = batch) -> int:
            return await _write_batch(session, rule, inputs, batch, run_id)

        changed += await in_unit_of_work(sessionmaker, write)
        if progress is not None:
            progress(len(batch))
    keep = {s.asset_id for s in scores}
    tiers = dict(Counter(s.concept for s in scores))

    async def finish(session: AsyncSession) -> RuleResult:
        removed = await repository.delete_desired_tags_except(session, rule.id, keep)
        result = RuleResult(rule.id, len(scores), changed, len(scores) - changed, removed, tiers)
        await _finish_rule(session, rule, inputs, run_id, result)
        return result

    result = await in_unit_of_work(sessionmaker, finish)
    log.info(
        "scoring.rule_scored",
        rule_id=str(rule.id),
        run_id=str(run_id) if run_id else None,
        assets=result.assets,
        changed=result.changed,
        removed=result.removed,
    )
    return result


async def rules_to_score(sessionmaker: async_sessionmaker[AsyncSession]) -> list[RuleSnapshot]:
    """Snapshots of the enabled, live tag rules."""

    async def read(session: AsyncSession) -> list[RuleSnapshot]:
        return [RuleSnapshot.of(rule) for rule in await repository.enabled_rules(session)]

    return await in_unit_of_work(sessionmaker, read, write=False)


async def score_all(
    sessionmaker: async_sessionmaker[AsyncSession],
    *,
    run_id: uuid.UUID | None = None,
    between_batches: Callable[[], None] | None = None,
    progress: Callable[[uuid.UUID, int], None] | None = None,
) -> list[RuleResult]:
    """Score every enabled tag rule in turn (see :func:`score_rule`); ``progress`` is told
    each rule's id and how many assets each written batch held."""
    return [
        await score_rule(
            sessionmaker,
            rule,
            run_id=run_id,
            between_batches=between_batches,
            progress=None if progress is None else partial(progress, rule.id),
        )
        for rule in await rules_to_score(sessionmaker)
    ]
