"""Classification queries: which assets to (re)classify, a batch's inputs, and its writes.

Every read and write of a batch is a constant number of statements (lists of ids are sent
in chunks), whatever the batch's size.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from syncbridge.classification.decide import Change, CurrentRow, Provenance, RuleFact
from syncbridge.mapping.evaluate import Scope
from syncbridge.models import (
    Asset,
    Classification,
    ClassificationChange,
    Connection,
    Link,
    MappingRule,
    StoredRecord,
)
from syncbridge.store.batches import chunks

#: Ids per ``IN (...)`` list (well under SQLite's and asyncpg's parameter limits).
ID_CHUNK = 1000


async def _ids(session: AsyncSession, stmt: Select[uuid.UUID]) -> set[uuid.UUID]:
    return set((await session.execute(stmt)).scalars())


async def ruled_connectors(session: AsyncSession) -> list[str]:
    """Connectors that enabled, live mapping rules read (records of others never matter)."""
    stmt = (
        select(MappingRule.connector_key)
        .distinct()
        .where(MappingRule.enabled.is_(True), MappingRule.archived_at.is_(None))
    )
    return sorted((await session.execute(stmt)).scalars())


async def nothing_to_classify(session: AsyncSession) -> bool:
    """True when no mapping rule is live and no asset holds a rule classification: rules
    could then neither add nor remove one, whatever the assets."""
    if await ruled_connectors(session):
        return False
    held = await session.scalar(
        select(Classification.id).where(Classification.source == "rule").limit(1)
    )
    return held is None


def _linked_records_of(keys: Sequence[str]) -> Select[uuid.UUID]:
    """Assets linked to records of connectors ``keys`` (join conditions only)."""
    return (
        select(Link.asset_id)
        .distinct()
        .join(StoredRecord, StoredRecord.id == Link.record_id)
        .join(Connection, Connection.id == StoredRecord.connection_id)
        .where(Connection.connector_key.in_(keys))
    )


async def assets_of_run(session: AsyncSession, run_id: uuid.UUID) -> list[uuid.UUID]:
    """Assets run ``run_id`` changed (or tombstoned); assets classified through records it
    changed (the record may have lost its link since); and assets linked to records it
    changed or to which it added links, where rules read those records. In id order."""
    found = await _ids(session, select(Asset.id).where(Asset.last_run_id == run_id))
    changed_records = select(StoredRecord.id).where(StoredRecord.last_run_id == run_id)
    found |= await _ids(
        session,
        select(Classification.asset_id)
        .distinct()
        .where(Classification.source == "rule", Classification.record_id.in_(changed_records)),
    )
    keys = await ruled_connectors(session)
    if keys:
        linked = _linked_records_of(keys)
        found |= await _ids(session, linked.where(StoredRecord.last_run_id == run_id))
        found |= await _ids(session, linked.where(Link.run_id == run_id))
    return sorted(found)


def _in_scope(model: type[Asset] | type[StoredRecord], scope: Scope) -> list[ColumnElement[bool]]:
    where = [Connection.connector_key == scope.connector_key, model.deleted_at.is_(None)]
    if scope.connection_id is not None:
        where.append(model.connection_id == scope.connection_id)
    if scope.stream is not None:
        where.append(model.stream == scope.stream)
    return where


async def assets_affected(
    session: AsyncSession,
    *,
    rule_ids: Sequence[uuid.UUID] = (),
    concept_ids: Sequence[uuid.UUID] = (),
    scopes: Sequence[Scope] = (),
) -> list[uuid.UUID]:
    """Assets a change to these rules, concepts or rule scopes may re-classify: those
    classified by the rules or on the concepts, and live assets in (or linked to live records
    in) the scopes; in id order."""
    found: set[uuid.UUID] = set()
    held = Classification.source == "rule"
    for chunk in chunks(list(rule_ids), ID_CHUNK):
        found |= await _ids(
            session, select(Classification.asset_id).where(held, Classification.rule_id.in_(chunk))
        )
    for chunk in chunks(list(concept_ids), ID_CHUNK):
        found |= await _ids(
            session,
            select(Classification.asset_id).where(held, Classification.concept_id.in_(chunk)),
        )
    for scope in scopes:
        found |= await _ids(
            session,
            select(Asset.id)
            .join(Connection, Connection.id == Asset.connection_id)
            .where(*_in_scope(Asset, scope)),
        )
        found |= await _ids(
            session,
            select(Link.asset_id)
            .distinct()
            .join(StoredRecord, StoredRecord.id == Link.record_id)
            .join(Connection, Connection.id == StoredRecord.connection_id)
            .where(*_in_scope(StoredRecord, scope)),
        )
    return sorted(found)


@dataclass(frozen=True, slots=True)
class AssetRow:
    id: uuid.UUID
    scope: Scope
    data: dict[str, Any]
    deleted: bool
    run_id: uuid.UUID | None


async def load_assets(session: AsyncSession, ids: Sequence[uuid.UUID]) -> list[AssetRow]:
    """The assets (with their connector), locked on PostgreSQL until the transaction ends so
    two classifiers of one asset queue up (SQLite's write transaction already serialises).
    Their ``data`` is left empty: read it with :func:`asset_data` for the assets whose own
    scope has rules (no rule reads the others')."""
    rows: list[AssetRow] = []
    for chunk in chunks(ids, ID_CHUNK):
        stmt = (
            select(
                Asset.id,
                Connection.connector_key,
                Asset.connection_id,
                Asset.stream,
                Asset.deleted_at,
                Asset.last_run_id,
            )
            .join(Connection, Connection.id == Asset.connection_id)
            .where(Asset.id.in_(chunk))
            .order_by(Asset.id)
            .with_for_update(of=Asset)
        )
        for aid, key, cid, stream, deleted_at, run_id in await session.execute(stmt):
            rows.append(AssetRow(aid, Scope(key, stream, cid), {}, deleted_at is not None, run_id))
    return rows


async def asset_data(
    session: AsyncSession, ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, dict[str, Any]]:
    """The data of these assets."""
    found: dict[uuid.UUID, dict[str, Any]] = {}
    for chunk in chunks(ids, ID_CHUNK):
        for row in await session.execute(select(Asset.id, Asset.data).where(Asset.id.in_(chunk))):
            found[row[0]] = row[1] or {}
    return found


@dataclass(frozen=True, slots=True)
class LinkRow:
    asset_id: uuid.UUID
    record_id: uuid.UUID
    scope: Scope
    run_id: uuid.UUID | None


async def load_links(
    session: AsyncSession, asset_ids: Sequence[uuid.UUID], connector_keys: Sequence[str]
) -> list[LinkRow]:
    """The live records of connectors ``connector_keys`` linked to the assets (without their
    data), one row per pair."""
    rows: list[LinkRow] = []
    if not connector_keys:
        return rows
    for chunk in chunks(asset_ids, ID_CHUNK):
        stmt = (
            select(
                Link.asset_id,
                StoredRecord.id,
                Connection.connector_key,
                StoredRecord.connection_id,
                StoredRecord.stream,
                StoredRecord.last_run_id,
            )
            .distinct()
            .join(StoredRecord, StoredRecord.id == Link.record_id)
            .join(Connection, Connection.id == StoredRecord.connection_id)
            .where(
                Link.asset_id.in_(chunk),
                StoredRecord.deleted_at.is_(None),
                Connection.connector_key.in_(connector_keys),
            )
        )
        for asset_id, record_id, key, connection_id, stream, run_id in await session.execute(stmt):
            rows.append(LinkRow(asset_id, record_id, Scope(key, stream, connection_id), run_id))
    return rows


async def record_data(
    session: AsyncSession, ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, dict[str, Any]]:
    """The data of these records."""
    found: dict[uuid.UUID, dict[str, Any]] = {}
    for chunk in chunks(ids, ID_CHUNK):
        stmt = select(StoredRecord.id, StoredRecord.data).where(StoredRecord.id.in_(chunk))
        for row in await session.execute(stmt):
            found[row[0]] = row[1] or {}
    return found


async def rule_rows(session: AsyncSession, asset_ids: Sequence[uuid.UUID]) -> list[CurrentRow]:
    """The assets' rule classifications (manual ones are never read here)."""
    c = Classification
    rows: list[CurrentRow] = []
    for chunk in chunks(asset_ids, ID_CHUNK):
        stmt = select(
            c.id,
            c.asset_id,
            c.concept_id,
            c.rule_id,
            c.rule_version,
            c.record_id,
            c.field_path,
            c.value,
            c.run_id,
        ).where(c.source == "rule", c.asset_id.in_(chunk))
        for row in await session.execute(stmt):
            prov = Provenance(row[3], row[4], row[5], row[6], row[7], row[8])
            rows.append(CurrentRow(row[0], row[1], row[2], prov))
    return rows


async def rule_facts(session: AsyncSession, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, RuleFact]:
    """Name, version, priority and state of these rules (archived ones too)."""
    found: dict[uuid.UUID, RuleFact] = {}
    for chunk in chunks(ids, ID_CHUNK):
        stmt = select(
            MappingRule.id,
            MappingRule.name,
            MappingRule.version,
            MappingRule.priority,
            MappingRule.enabled,
            MappingRule.archived_at,
        ).where(MappingRule.id.in_(chunk))
        for id_, name, version, priority, enabled, archived_at in await session.execute(stmt):
            found[id_] = RuleFact(name, version, priority, enabled, archived_at is not None)
    return found


@dataclass(frozen=True, slots=True)
class Cause:
    """What drives a classification pass: a sync run, a job, and who asked."""

    run_id: uuid.UUID | None = None
    job_id: uuid.UUID | None = None
    actor: str | None = None


def _provenance_columns(prov: Provenance) -> dict[str, Any]:
    return {
        "rule_id": prov.rule_id,
        "rule_version": prov.rule_version,
        "record_id": prov.record_id,
        "field_path": prov.field_path,
        "value": prov.value,
        "run_id": prov.run_id,
    }


async def apply(
    session: AsyncSession,
    changes: Sequence[Change],
    concept_keys: dict[uuid.UUID, str],
    cause: Cause,
    now: datetime,
) -> None:
    """Write a batch's changes and their history (a few statements, whatever the count)."""
    added = [c for c in changes if c.change == "added"]
    changed = [c for c in changes if c.change == "changed"]
    removed = [c.row_id for c in changes if c.change == "removed" and c.row_id is not None]
    for part in chunks(removed, ID_CHUNK):
        await session.execute(delete(Classification).where(Classification.id.in_(part)))
    if added:
        await session.execute(
            insert(Classification),
            [
                {
                    "id": uuid.uuid4(),
                    "asset_id": c.asset_id,
                    "concept_id": c.concept_id,
                    "source": "rule",
                    "created_at": now,
                    "updated_at": now,
                    **_provenance_columns(c.provenance),
                }
                for c in added
            ],
        )
    if changed:
        await session.execute(
            update(Classification),
            [
                {"id": c.row_id, "updated_at": now, **_provenance_columns(c.provenance)}
                for c in changed
            ],
        )
    if changes:
        await session.execute(
            insert(ClassificationChange),
            [
                history(c, concept_keys.get(c.concept_id, str(c.concept_id)), cause, now)
                for c in changes
            ],
        )


def history(change: Change, concept_key: str, cause: Cause, now: datetime) -> dict[str, Any]:
    """The ``classification_changes`` row of a rule classification's change."""
    prov = change.provenance
    return {
        "asset_id": change.asset_id,
        "concept_id": change.concept_id,
        "concept_key": concept_key,
        "change": change.change,
        "source": "rule",
        "reason": change.reason,
        "rule_id": prov.rule_id,
        "rule_version": prov.rule_version,
        "record_id": prov.record_id,
        "run_id": cause.run_id,
        "job_id": cause.job_id,
        "actor": cause.actor,
        "at": now,
    }
