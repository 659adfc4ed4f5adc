"""The links table: a batch's links read, diffed against what was found, and written."""

from __future__ import annotations

import uuid
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from typing import Any
from typing import cast as typing_cast

from sqlalchemy import Text, delete, select, text, type_coerce, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from syncbridge.linking.matching import Found, RuleView, Scope
from syncbridge.linking.repository import ID_CHUNK, LinkKey, as_uuid
from syncbridge.models import Asset, StoredRecord, utcnow
from syncbridge.models.linking import Link
from syncbridge.store.batches import chunks

_L = Link.__table__.c


def _text(column: Any) -> Any:
    return type_coerce(column, Text)


@dataclass(frozen=True, slots=True)
class StoredLink:
    id: uuid.UUID
    key: LinkKey
    evidence: tuple[int | None, str, str]


RawLink = tuple[Any, Any, Any, Any, int | None, str, str]


async def links_of_records(session: AsyncSession, record_ids: Sequence[uuid.UUID]) -> list[RawLink]:
    """The rule-made links of these records (raw: decode with :func:`decode_links`)."""
    out: list[RawLink] = []
    connection = await session.connection()
    for chunk in chunks(record_ids, ID_CHUNK):
        rows = await connection.execute(
            select(
                _text(_L.id),
                _text(_L.asset_id),
                _text(_L.record_id),
                _text(_L.rule_id),
                _L.rule_version,
                _L.field_path,
                _L.value,
            ).where(_L.record_id.in_(chunk), _L.rule_id.is_not(None))
        )
        out += [typing_cast(RawLink, tuple(row)) for row in rows]
    return out


def decode_links(rows: list[RawLink]) -> list[StoredLink]:
    """Raw link rows as the diff compares them (pure)."""
    return [
        StoredLink(
            as_uuid(lid), (as_uuid(aid), as_uuid(rid), as_uuid(rule)), (version, path, value)
        )
        for lid, aid, rid, rule, version, path, value in rows
    ]


async def assets_linked_to(
    session: AsyncSession, record_ids: Sequence[uuid.UUID], rule_ids: Collection[uuid.UUID]
) -> dict[uuid.UUID, list[uuid.UUID]]:
    """Per record, the assets linked to it by ``rule_ids``."""
    out: dict[uuid.UUID, list[uuid.UUID]] = {}
    if not rule_ids:
        return out
    for chunk in chunks(record_ids, ID_CHUNK):
        rows = await session.execute(
            select(Link.record_id, Link.asset_id)
            .where(Link.record_id.in_(chunk), Link.rule_id.in_(sorted(rule_ids)))
            .order_by(Link.record_id, Link.asset_id)
        )
        for rid, aid in rows:
            assets = out.setdefault(rid, [])
            if not assets or assets[-1] != aid:
                assets.append(aid)
    return out


@dataclass
class LinkDiff:
    """What one write changed."""

    added: int = 0
    removed: int = 0
    updated: int = 0

    def __iadd__(self, other: LinkDiff) -> LinkDiff:
        self.added += other.added
        self.removed += other.removed
        self.updated += other.updated
        return self

    @property
    def changed(self) -> bool:
        return bool(self.added or self.removed or self.updated)


async def prepare_rewrite(session: AsyncSession) -> None:
    """Settings of a transaction that rewrites a batch's links (PostgreSQL only).

    Index lookups by record are forced: the links table grows within a pass, faster than its
    statistics, and a young table's ``IN`` lists were planned as scans of the whole table.
    Commits need not wait for the disk: commits reach it in order, so a database crash can
    lose only the latest batches, whose run has not finished yet (its retry relinks them).
    """
    if session.get_bind().dialect.name == "postgresql":
        await session.execute(text("SET LOCAL enable_seqscan = off"))
        await session.execute(text("SET LOCAL synchronous_commit TO OFF"))


def _insert(session: AsyncSession) -> Any:
    return postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert


async def replace_links(
    session: AsyncSession,
    existing: Iterable[StoredLink],
    found: Iterable[Found],
    run_id: uuid.UUID | None,
) -> LinkDiff:
    """Make ``existing`` (the links a pass owns) equal ``found``: insert, delete, update.

    Links whose key and evidence did not change are left alone, so a second pass writes
    nothing. Inserts skip keys a concurrent pass already wrote.
    """
    desired: dict[LinkKey, Found] = {}
    for item in found:
        desired.setdefault((item.asset_id, item.record_id, uuid.UUID(item.rule.id)), item)
    current = {link.key: link for link in existing}
    gone = [link.id for key, link in current.items() if key not in desired]
    new, changed = [], []
    now = utcnow()
    for key, item in desired.items():
        evidence = (item.rule.version, item.rule.field_path, item.value)
        link = current.get(key)
        if link is None:
            new.append(_row(key, evidence, run_id, now))
        elif link.evidence != evidence:
            changed.append(_evidence(link.id, evidence, run_id))
    for chunk in chunks(gone, ID_CHUNK):
        await session.execute(delete(Link).where(Link.id.in_(chunk)))
    if new:
        stmt = _insert(session)(Link.__table__).on_conflict_do_nothing(
            index_elements=["asset_id", "record_id", "rule_id"]
        )
        await (await session.connection()).execute(stmt, new)
    if changed:
        await session.execute(update(Link), changed)
    return LinkDiff(added=len(new), removed=len(gone), updated=len(changed))


def _row(
    key: LinkKey, evidence: tuple[int | None, str, str], run_id: uuid.UUID | None, now: Any
) -> dict[str, Any]:
    asset_id, record_id, rule_id = key
    version, path, value = evidence
    return {
        "id": uuid.uuid4(),
        "asset_id": asset_id,
        "record_id": record_id,
        "rule_id": rule_id,
        "rule_version": version,
        "field_path": path,
        "value": value,
        "run_id": run_id,
        "created_at": now,
    }


def _evidence(
    link_id: uuid.UUID, evidence: tuple[int | None, str, str], run_id: uuid.UUID | None
) -> dict[str, Any]:
    version, path, value = evidence
    return {
        "id": link_id,
        "rule_version": version,
        "field_path": path,
        "value": value,
        "run_id": run_id,
    }


async def drop_links_of_tombstones(session: AsyncSession, run_id: uuid.UUID | None) -> int:
    """Delete the links of deleted assets and records (those a run tombstoned, or all)."""
    removed = 0
    for model, column in ((Asset, Link.asset_id), (StoredRecord, Link.record_id)):
        dead = select(model.id).where(model.deleted_at.is_not(None))
        if run_id is not None:
            dead = dead.where(model.last_run_id == run_id)
        result = await session.execute(delete(Link).where(column.in_(dead)))
        removed += int(result.rowcount)  # type: ignore[attr-defined]
    return removed


async def drop_links_outside(
    session: AsyncSession, rules: Sequence[RuleView], connections: dict[uuid.UUID, str]
) -> int:
    """Delete rule-made links whose rule is no longer active, or no longer reads the record's
    connection and stream (a rule edit narrowed its scope)."""
    active = {uuid.UUID(rule.id): rule for rule in rules}
    removed = 0
    stale = delete(Link).where(Link.rule_id.is_not(None))
    if active:
        stale = stale.where(Link.rule_id.not_in(sorted(active)))
    removed += int((await session.execute(stale)).rowcount)  # type: ignore[attr-defined]
    pairs = await session.execute(
        select(Link.rule_id, StoredRecord.connection_id, StoredRecord.stream)
        .join(StoredRecord, StoredRecord.id == Link.record_id)
        .where(Link.rule_id.is_not(None))
        .distinct()
    )
    for rule_id, connection_id, stream in pairs:
        rule = active.get(rule_id) if rule_id is not None else None
        key = connections.get(connection_id)
        if rule is not None and key is not None and Scope(key, connection_id, stream).admits(rule):
            continue
        outside = select(StoredRecord.id).where(
            StoredRecord.connection_id == connection_id, StoredRecord.stream == stream
        )
        result = await session.execute(
            delete(Link).where(Link.rule_id == rule_id, Link.record_id.in_(outside))
        )
        removed += int(result.rowcount)  # type: ignore[attr-defined]
    return removed
