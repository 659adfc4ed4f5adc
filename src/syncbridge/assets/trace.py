"""The trace of one asset: its classifications with their provenance, the records linked to
it with their evidence, its metrics, its performance tags with their inputs, and the runs
that touched it (see ``AssetTrace``).

Read-only. Each section shows its newest ``TRACE_SECTION_MAX`` items and counts them all.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable, Mapping
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from syncbridge.assets import repository
from syncbridge.assets.naming import Namer
from syncbridge.assets.schemas import (
    TRACE_SECTION_MAX,
    AssetIdentity,
    AssetTrace,
    ClassificationEvidence,
    ClassifiedConcept,
    LinkEvidence,
    MetricSource,
    RunRole,
    TracedClassification,
    TracedLink,
    TracedMetric,
    TracedPerformanceTag,
    TracedRun,
    TracedWriteBack,
    TraceMetrics,
    TraceRecord,
    TraceRule,
    TraceSection,
)
from syncbridge.assets.service import classified_concept, get_asset, summary_of
from syncbridge.classification.manual import history_page
from syncbridge.connector.registry import ConnectorRegistry
from syncbridge.metrics.schemas import AssetMetrics, shown
from syncbridge.metrics.service import asset_metrics
from syncbridge.models import Asset, Classification, DesiredTag, Link, Run, StoredRecord
from syncbridge.models.tagging import TagRuleVersion
from syncbridge.store.paging import PageParams
from syncbridge.writeback.repository import writeback_history


def _identity(asset: Asset, namer: Namer) -> AssetIdentity:
    """The asset's identity: its summary's fields (one place names the asset)."""
    summary = summary_of(asset, namer)
    return AssetIdentity.model_validate(summary.model_dump(include=set(AssetIdentity.model_fields)))


def _record_ref(record: StoredRecord, namer: Namer) -> TraceRecord:
    return TraceRecord(
        id=record.id,
        connection=namer.connection(record.connection_id),
        stream=record.stream,
        external_id=record.external_id,
        summary=namer.summary(record.connection_id, record.stream, record.data),
        deleted_at=record.deleted_at,
    )


def _record_ids(classifications: Iterable[Classification], links: Iterable[Link]) -> set[uuid.UUID]:
    ids = {c.record_id for c in classifications if c.record_id is not None}
    return ids | {link.record_id for link in links}


def _traced_classification(
    row: Classification,
    concepts: dict[uuid.UUID, repository.ConceptRow],
    records: dict[uuid.UUID, TraceRecord],
    rule_names: repository.RuleNames,
) -> TracedClassification | None:
    concept = concepts.get(row.concept_id)
    if concept is None:
        return None
    rule = None
    if row.rule_id is not None:
        ref = (row.rule_id, row.rule_version)
        rule = TraceRule(
            kind="mapping", id=row.rule_id, version=row.rule_version, name=rule_names.get(ref)
        )
    evidence = None
    if row.source == "rule":
        record = records.get(row.record_id) if row.record_id is not None else None
        evidence = ClassificationEvidence(
            record_id=row.record_id, record=record, field_path=row.field_path, value=row.value
        )
    return TracedClassification.model_validate(
        {
            "id": row.id,
            "concept": classified_concept(concept),
            "source": row.source,
            "rule": rule,
            "evidence": evidence,
            "created_by": row.created_by,
            "note": row.note,
            "run_id": row.run_id,
            "created_at": row.created_at,
            "updated_at": row.updated_at,
        }
    )


def _traced_link(
    link: Link, records: dict[uuid.UUID, TraceRecord], rule_names: repository.RuleNames
) -> TracedLink:
    rule = None
    if link.rule_id is not None:
        name = rule_names.get((link.rule_id, link.rule_version))
        rule = TraceRule(kind="link", id=link.rule_id, version=link.rule_version, name=name)
    return TracedLink(
        id=link.id,
        record=records[link.record_id],
        rule=rule,
        evidence=LinkEvidence(field_path=link.field_path, value=link.value),
        run_id=link.run_id,
        created_at=link.created_at,
    )


def _traced_run(run: Run, asset: Asset, touching: repository.RunsTouching) -> TracedRun:
    roles: list[RunRole] = []
    for role, applies in (
        ("last_changed", run.id == asset.last_run_id),
        ("last_read", run.id == asset.seen_run_id),
        ("classified", run.id in touching.classified),
        ("linked", run.id in touching.linked),
        ("scored", run.id in touching.scored),
    ):
        if applies:
            roles.append(role)  # type: ignore[arg-type]
    return TracedRun(
        id=run.id,
        kind=run.kind,
        status=run.status,
        full=run.full,
        connection_id=run.connection_id,
        requested_by=run.requested_by,
        created_at=run.created_at,
        started_at=run.started_at,
        finished_at=run.finished_at,
        roles=roles,
    )


async def _links(
    session: AsyncSession, links: list[Link], records: dict[uuid.UUID, TraceRecord]
) -> list[TracedLink]:
    names = await repository.link_rule_names(
        session, {(k.rule_id, k.rule_version) for k in links if k.rule_id is not None}
    )
    return [_traced_link(k, records, names) for k in links if k.record_id in records]


async def _classifications(
    session: AsyncSession, rows: list[Classification], records: dict[uuid.UUID, TraceRecord]
) -> list[TracedClassification]:
    concepts = await repository.concepts_by_id(session, {c.concept_id for c in rows})
    names = await repository.mapping_rule_names(
        session, {(c.rule_id, c.rule_version) for c in rows if c.rule_id is not None}
    )
    traced = [_traced_classification(c, concepts, records, names) for c in rows]
    return [t for t in traced if t is not None]


def _metrics(found: AssetMetrics) -> TraceMetrics:
    """The asset's facts summed per metric, with each source connection's share."""
    days: dict[str, set[date]] = defaultdict(set)
    for fact in found.facts:
        days[fact.metric].add(fact.day)
    sources: dict[str, list[MetricSource]] = defaultdict(list)
    for total in found.totals:
        sources[total.metric].append(
            MetricSource(
                connection=total.connection,
                value=total.value,
                records=total.records,
                days=total.days,
                attribution=total.attribution,
            )
        )
    items = [
        TracedMetric(
            metric=metric,
            value=shown(metric, sum((Decimal(s.value) for s in parts), Decimal(0))),
            days=len(days[metric]),
            sources=parts,
        )
        for metric, parts in sorted(sources.items())
    ]
    return TraceMetrics(first=found.first, last=found.last, total=len(items), items=items)


def measure(version: TagRuleVersion) -> str:
    """What a tag rule's version ranks assets by, in words."""
    kpi: Mapping[str, Any] = version.kpi
    window = f"over {version.window_days} days"
    if kpi["type"] == "count":
        return f"{kpi['metric']} {window}, unsmoothed"
    rate = f"{kpi['numerator']} per {kpi['denominator']} {window}"
    smoothing: Mapping[str, Any] = version.smoothing or {}
    if smoothing.get("method") == "bayes":
        weight = float(smoothing["prior_weight"])
        return f"{rate}, a Bayesian average with {weight:g} trials at the cohort's rate"
    confidence = float(smoothing.get("confidence", 0.95))
    return f"{rate}, ranked by the lower bound of its Wilson interval at {confidence:.0%}"


def _traced_tag(
    row: DesiredTag,
    concept: repository.ConceptRow | None,
    version: TagRuleVersion | None,
    name: str | None,
) -> TracedPerformanceTag:
    # A concept gone from the taxonomy is still shown by its key.
    shown_concept = (
        classified_concept(concept)
        if concept is not None
        else ClassifiedConcept(key=row.concept, scheme="", pref_label={}, status="gone")
    )
    return TracedPerformanceTag(
        concept=shown_concept,
        rule=TraceRule(kind="tag", id=row.rule_id, version=row.rule_version, name=name),
        measure=None if version is None else measure(version),
        kpi=row.kpi,
        smoothed=row.smoothed,
        sample=row.sample,
        cohort=row.cohort,
        cohort_size=row.cohort_size,
        percentile=row.percentile,
        window_start=date.fromisoformat(row.window_start),
        window_end=date.fromisoformat(row.window_end),
        run_id=row.run_id,
        computed_at=row.computed_at,
    )


async def _performance_tags(
    session: AsyncSession, rows: list[DesiredTag]
) -> list[TracedPerformanceTag]:
    refs = {(row.rule_id, row.rule_version) for row in rows}
    names = await repository.tag_rule_names(session, refs)
    versions = await repository.tag_rule_versions(session, refs)
    concepts = await repository.concepts_by_key(session, {row.concept for row in rows})
    return [
        _traced_tag(
            row,
            concepts.get(row.concept),
            versions.get((row.rule_id, row.rule_version)),
            names.get((row.rule_id, row.rule_version)),
        )
        for row in rows
    ]


async def trace_asset(
    session: AsyncSession, registry: ConnectorRegistry, asset_id: uuid.UUID
) -> AssetTrace:
    """The trace of ``asset_id``; NotFound when no asset has this id."""
    asset = await get_asset(session, asset_id)
    cap = TRACE_SECTION_MAX
    classifications, classified_total = await repository.classifications_of(
        session, asset.id, limit=cap
    )
    changes = await history_page(session, asset.id, PageParams(limit=cap, offset=0))
    links, links_total = await repository.links_of(session, asset.id, limit=cap)
    touching = await repository.runs_touching(session, asset, limit=cap)
    tags, tags_total = await repository.desired_tags_of(session, asset.id, limit=cap)
    metrics = await asset_metrics(session, registry, asset.id, None, None)
    written, written_total = await writeback_history(session, asset.id, cap)
    stored = await repository.records_by_id(session, _record_ids(classifications, links))
    connection_ids = {asset.connection_id} | {r.connection_id for r in stored.values()}
    connection_ids |= {w.connection_id for w in written}
    namer = Namer(registry, await repository.connections_by_id(session, connection_ids))
    records = {rid: _record_ref(record, namer) for rid, record in stored.items()}
    return AssetTrace(
        asset=_identity(asset, namer),
        classifications=TraceSection(
            total=classified_total, items=await _classifications(session, classifications, records)
        ),
        classification_changes=TraceSection(total=changes.total, items=changes.items),
        links=TraceSection(total=links_total, items=await _links(session, links, records)),
        metrics=_metrics(metrics),
        performance_tags=TraceSection(
            total=tags_total, items=await _performance_tags(session, tags)
        ),
        write_backs=TraceSection(
            total=written_total,
            items=[
                TracedWriteBack(**w.model_dump(), connection=namer.connection(w.connection_id))
                for w in written
            ],
        ),
        runs=TraceSection(
            total=touching.total,
            items=[_traced_run(r, asset, touching) for r in touching.runs],
        ),
    )


__all__ = ["trace_asset"]
