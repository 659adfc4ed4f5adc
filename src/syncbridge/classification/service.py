"""Classifying assets by the mapping rules, in batches: after a sync run, and again when a
rule or a concept changes.

Each batch is one unit of work: it reads the assets (locked, so two classifiers of one asset
queue up), the live records linked to them and their current rule classifications, decides
with the compiled rule sets of :class:`~syncbridge.mapping.compiled.CompiledCatalog` (off the
event loop for a large batch), and writes the differences with their history. Passes are
idempotent: a second pass over the same store changes nothing and records nothing.
"""

from __future__ import annotations

import uuid
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from syncbridge.classification import repository
from syncbridge.classification.decide import (
    AssetInput,
    Change,
    Source,
    decide,
    explain,
    rules_named,
)
from syncbridge.classification.repository import AssetRow, Cause, LinkRow
from syncbridge.logs import get_logger
from syncbridge.mapping.compiled import CompiledCatalog
from syncbridge.mapping.evaluate import RuleSet, Scope
from syncbridge.models.base import utcnow
from syncbridge.offload import run_cpu
from syncbridge.store.unit_of_work import in_unit_of_work

__all__ = ["BATCH_SIZE", "ClassifyReport", "classify_assets", "classify_run", "reclassify"]

log = get_logger(__name__)
Sessionmaker = async_sessionmaker[AsyncSession]

#: Assets per unit of work.
BATCH_SIZE = 1000
#: Data items (assets and linked records) in a batch above which evaluation leaves the loop.
OFFLOAD_AT = 200

#: The compiled rules of each store (engine) whose callers bring none, per revision.
_catalogs: weakref.WeakKeyDictionary[object, CompiledCatalog] = weakref.WeakKeyDictionary()


def catalog_for(sessionmaker: Sessionmaker) -> CompiledCatalog:
    """The process's compiled catalog of the store behind ``sessionmaker`` (one per engine:
    revisions count one store's changes, so two stores never share a cache)."""
    engine = sessionmaker.kw.get("bind")
    if engine is None:
        return CompiledCatalog()
    found = _catalogs.get(engine)
    if found is None:
        found = _catalogs[engine] = CompiledCatalog()
    return found


@dataclass
class ClassifyReport:
    """What a pass did: assets looked at, and classifications added, changed, removed."""

    assets: int = 0
    added: int = 0
    changed: int = 0
    removed: int = 0

    def add(self, assets: int, changes: Sequence[Change]) -> None:
        self.assets += assets
        for change in changes:
            setattr(self, change.change, getattr(self, change.change) + 1)


def _inputs(
    assets: Sequence[AssetRow], links: Sequence[LinkRow], data: dict[uuid.UUID, dict[str, object]]
) -> list[AssetInput]:
    records: dict[uuid.UUID, list[Source]] = {}
    for link in links:
        if link.record_id in data:
            source = Source(link.scope, data[link.record_id], link.record_id, link.run_id)
            records.setdefault(link.asset_id, []).append(source)
    return [
        AssetInput(
            asset_id=a.id,
            deleted=a.deleted,
            own=Source(a.scope, a.data, None, a.run_id),
            records=tuple(sorted(records.get(a.id, ()), key=lambda s: str(s.record_id))),
        )
        for a in assets
    ]


async def classify_assets(
    session: AsyncSession, catalog: CompiledCatalog, asset_ids: Sequence[uuid.UUID], cause: Cause
) -> list[Change]:
    """Bring these assets' rule classifications up to date in the caller's transaction
    (flushes only); the changes made, with their reasons."""
    assets = await repository.load_assets(session, asset_ids)
    live = [a.id for a in assets if not a.deleted]
    links = await repository.load_links(session, live, await repository.ruled_connectors(session))
    rule_sets: dict[Scope, RuleSet] = {}
    for scope in sorted({a.scope for a in assets} | {link.scope for link in links}, key=repr):
        rule_sets[scope] = await catalog.rule_set(session, scope)
    # Data no rule reads is never read: records, and assets' own, in scopes without rules.
    links = [link for link in links if rule_sets[link.scope].rule_count]
    data = await repository.record_data(session, sorted({link.record_id for link in links}))
    ruled = [a.id for a in assets if not a.deleted and rule_sets[a.scope].rule_count]
    own = await repository.asset_data(session, ruled) if ruled else {}
    assets = [replace(a, data=own[a.id]) if a.id in own else a for a in assets]
    inputs = _inputs(assets, links, data)
    current = await repository.rule_rows(session, [a.id for a in assets])
    if len(inputs) + len(data) > OFFLOAD_AT:
        changes = await run_cpu(decide, inputs, current, rule_sets)
    else:
        changes = decide(inputs, current, rule_sets)
    if not changes:
        return []
    taxonomy = await catalog.taxonomy(session)
    facts = await repository.rule_facts(session, sorted(rules_named(changes), key=str))
    changes = explain(changes, {a.asset_id: a for a in inputs}, taxonomy, facts)
    keys = {c.id: c.key for c in taxonomy.concepts.values()}
    await repository.apply(session, changes, keys, cause, utcnow())
    return changes


async def _in_batches(
    sessionmaker: Sessionmaker,
    asset_ids: Sequence[uuid.UUID],
    cause: Cause,
    catalog: CompiledCatalog | None,
    between: Callable[[], None] | None = None,
) -> ClassifyReport:
    report = ClassifyReport()
    chosen = catalog or catalog_for(sessionmaker)
    for start in range(0, len(asset_ids), BATCH_SIZE):
        if between is not None:
            between()
        batch = asset_ids[start : start + BATCH_SIZE]

        async def work(session: AsyncSession, batch: Sequence[uuid.UUID] = batch) -> list[Change]:
            return await classify_assets(session, chosen, batch, cause)

        report.add(len(batch), await in_unit_of_work(sessionmaker, work))
    return report


async def classify_run(
    sessionmaker: Sessionmaker, run_id: uuid.UUID, *, catalog: CompiledCatalog | None = None
) -> ClassifyReport:
    """Classify what sync run ``run_id`` changed: the assets it changed or tombstoned, the
    assets linked to records it changed, and the assets it linked. Idempotent (a second call
    changes nothing). One unit of work per :data:`BATCH_SIZE` assets."""

    async def affected(session: AsyncSession) -> list[uuid.UUID]:
        if await repository.nothing_to_classify(session):
            return []  # no rule, and no rule classification to take away
        return await repository.assets_of_run(session, run_id)

    ids = await in_unit_of_work(sessionmaker, affected, write=False)
    report = await _in_batches(sessionmaker, ids, Cause(run_id=run_id), catalog)
    log.info(
        "classification.run_classified",
        run_id=str(run_id),
        assets=report.assets,
        added=report.added,
        changed=report.changed,
        removed=report.removed,
    )
    return report


async def reclassify(
    sessionmaker: Sessionmaker,
    *,
    rule_ids: Sequence[uuid.UUID] = (),
    concept_ids: Sequence[uuid.UUID] = (),
    scopes: Sequence[Scope] = (),
    asset_ids: Sequence[uuid.UUID] = (),
    actor: str | None = None,
    job_id: uuid.UUID | None = None,
    catalog: CompiledCatalog | None = None,
    between_batches: Callable[[], None] | None = None,
) -> ClassifyReport:
    """Re-classify the assets a change may affect: those classified by ``rule_ids`` or on
    ``concept_ids``, every live asset in (or linked to a live record in) ``scopes``, and
    ``asset_ids`` (say, the assets whose links a re-link changed).
    Idempotent; the history names ``actor`` and ``job_id``. ``between_batches`` runs before
    each batch (a job passes its lease check)."""

    async def affected(session: AsyncSession) -> list[uuid.UUID]:
        found = await repository.assets_affected(
            session, rule_ids=rule_ids, concept_ids=concept_ids, scopes=scopes
        )
        return sorted(set(found) | set(asset_ids))

    ids = await in_unit_of_work(sessionmaker, affected, write=False)
    cause = Cause(job_id=job_id, actor=actor)
    report = await _in_batches(sessionmaker, ids, cause, catalog, between_batches)
    log.info(
        "classification.reclassified",
        job_id=str(job_id) if job_id else None,
        assets=report.assets,
        added=report.added,
        changed=report.changed,
        removed=report.removed,
    )
    return report
