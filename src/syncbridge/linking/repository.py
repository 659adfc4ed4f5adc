"""Link and link-rule queries: batched reads of the store, and the link diff written back."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar
from typing import cast as typing_cast

from sqlalchemy import (
    ColumnElement,
    Select,
    Text,
    and_,
    cast,
    delete,
    false,
    or_,
    select,
    text,
    type_coerce,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from syncbridge.linking.matching import AssetRef, Found, RecordView, RuleView, Scope
from syncbridge.models import Asset, Connection, StoredRecord, utcnow
from syncbridge.models.linking import Link, LinkRule, LinkRuleVersion
from syncbridge.store.unit_of_work import unit_of_work

T = TypeVar("T")
#: Ids per ``IN (...)`` list (well under SQLite's and asyncpg's parameter limits).
ID_CHUNK = 1000

LinkKey = tuple[uuid.UUID, uuid.UUID, uuid.UUID]


def chunked(items: Sequence[T], size: int = ID_CHUNK) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


# --- rules ---------------------------------------------------------------------------------


def rules_query(
    *,
    connector_key: str | None = None,
    stream: str | None = None,
    enabled: bool | None = None,
    include_archived: bool = False,
) -> Select[LinkRule]:
    """Rules filtered as the list endpoint allows, by name; archived ones only on request."""
    stmt = select(LinkRule)
    if connector_key is not None:
        stmt = stmt.where(LinkRule.connector_key == connector_key)
    if stream is not None:
        stmt = stmt.where(LinkRule.stream == stream)
    if enabled is not None:
        stmt = stmt.where(LinkRule.enabled == enabled)
    if not include_archived:
        stmt = stmt.where(LinkRule.archived_at.is_(None))
    return stmt.order_by(LinkRule.name, LinkRule.id)


async def get_rule(
    session: AsyncSession, rule_id: uuid.UUID, *, for_update: bool = False
) -> LinkRule | None:
    if not for_update:
        return await session.get(LinkRule, rule_id)
    stmt = select(LinkRule).where(LinkRule.id == rule_id).with_for_update()
    return (await session.execute(stmt)).scalar_one_or_none()


def versions_query(rule_id: uuid.UUID) -> Select[LinkRuleVersion]:
    return (
        select(LinkRuleVersion)
        .where(LinkRuleVersion.rule_id == rule_id)
        .order_by(LinkRuleVersion.version)
    )


async def get_version(
    session: AsyncSession, rule_id: uuid.UUID, version: int
) -> LinkRuleVersion | None:
    stmt = select(LinkRuleVersion).where(
        LinkRuleVersion.rule_id == rule_id, LinkRuleVersion.version == version
    )
    return (await session.execute(stmt)).scalar_one_or_none()


async def default_keys(session: AsyncSession) -> set[str]:
    """The default-rule keys the store has ever loaded (archived rules included)."""
    rows = await session.execute(
        select(LinkRule.default_key).where(LinkRule.default_key.is_not(None))
    )
    return {str(key) for (key,) in rows}


async def connection_exists(session: AsyncSession, connection_id: uuid.UUID) -> bool:
    stmt = select(Connection.id).where(Connection.id == connection_id)
    return (await session.execute(stmt)).first() is not None


def rule_view(rule: LinkRule) -> RuleView:
    """The matching view of a saved rule."""
    return RuleView(
        id=str(rule.id),
        version=rule.version,
        connector_key=rule.connector_key,
        connection_id=rule.connection_id,
        stream=rule.stream,
        field_path=rule.field_path,
        match=rule.match,
        parameter=rule.parameter,
        asset_key=rule.asset_key,
        via_stream=rule.via_stream,
        asset_connector_key=rule.asset_connector_key,
        enabled=rule.enabled,
    )


async def active_rules(session: AsyncSession) -> list[RuleView]:
    """Enabled, non-archived rules."""
    rows = await session.scalars(rules_query(enabled=True))
    return [rule_view(rule) for rule in rows]


# --- the store's items ---------------------------------------------------------------------


async def connector_keys(session: AsyncSession) -> dict[uuid.UUID, str]:
    """Every connection's connector key."""
    rows = await session.execute(select(Connection.id, Connection.connector_key))
    return {cid: str(key) for cid, key in rows}


@dataclass(frozen=True)
class RecordFilter:
    """Which records a pass reads: in the scope of some rules, changed by a run or not."""

    scopes: ColumnElement[bool]
    changed_by: uuid.UUID | None = None
    unchanged_by: uuid.UUID | None = None


def scope_predicate(
    rules: Iterable[RuleView], connections: dict[uuid.UUID, str]
) -> ColumnElement[bool]:
    """Records some of ``rules`` read (by connector, connection and stream)."""
    clauses: dict[tuple[frozenset[uuid.UUID], str | None], ColumnElement[bool]] = {}
    for rule in rules:
        ids = frozenset(
            cid
            for cid, key in connections.items()
            if key == rule.connector_key and rule.connection_id in (None, cid)
        )
        if not ids or (ids, rule.stream) in clauses:
            continue
        clause: ColumnElement[bool] = StoredRecord.connection_id.in_(sorted(ids))
        if rule.stream is not None:
            clause = and_(clause, StoredRecord.stream == rule.stream)
        clauses[(ids, rule.stream)] = clause
    return or_(*clauses.values()) if clauses else false()


# Batches are read as raw text over the Core connection and decoded by :func:`decode_records`
# and :func:`decode_assets` in a worker thread: SQLAlchemy's per-row JSON and UUID result
# processing on the event loop cost several times the matching itself.
RawRecord = tuple[Any, Any, str, Any]
RawAsset = tuple[Any, Any, str, Any]
_R = StoredRecord.__table__.c
_A = Asset.__table__.c
_L = Link.__table__.c


def _text(column: Any) -> Any:
    return type_coerce(column, Text)


def as_uuid(value: Any) -> uuid.UUID:
    """A UUID from what a driver returns (a UUID on PostgreSQL, hex text on SQLite)."""
    return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))


def _json(value: Any) -> dict[str, Any]:
    """The JSON text of a ``data`` column as a dict (a driver that decoded it is taken as is)."""
    loaded = json.loads(value) if isinstance(value, str | bytes) else value
    return loaded if isinstance(loaded, dict) else {}


def records_query(which: RecordFilter) -> Select[tuple[Any, Any, str, Any]]:
    """The live records of ``which``, raw (id, connection id, stream, data text)."""
    stmt = select(_text(_R.id), _text(_R.connection_id), _R.stream, cast(_R.data, Text)).where(
        _R.deleted_at.is_(None), which.scopes
    )
    if which.changed_by is not None:
        stmt = stmt.where(_R.last_run_id == which.changed_by)
    if which.unchanged_by is not None:
        stmt = stmt.where(or_(_R.last_run_id.is_(None), _R.last_run_id != which.unchanged_by))
    return stmt


async def record_batch(
    session: AsyncSession,
    which: RecordFilter,
    after: uuid.UUID | None,
    limit: int,
) -> list[RawRecord]:
    """The next ``limit`` live records of ``which`` after id ``after``, by id (raw)."""
    stmt = records_query(which)
    if after is not None:
        stmt = stmt.where(_R.id > after)
    connection = await session.connection()
    rows = await connection.execute(stmt.order_by(_R.id).limit(limit))
    return [(r[0], r[1], str(r[2]), r[3]) for r in rows]


def decode_records(rows: list[RawRecord], connections: dict[uuid.UUID, str]) -> list[RecordView]:
    """Raw record rows as matching sees them (pure: run it off the event loop)."""
    out = []
    for rid, cid, stream, data in rows:
        connection_id = as_uuid(cid)
        scope = Scope(connections.get(connection_id, ""), connection_id, stream)
        out.append(RecordView(as_uuid(rid), scope, _json(data)))
    return out


def assets_query(changed_by: uuid.UUID | None) -> Select[tuple[Any, Any, str, Any]]:
    """Live assets (changed by a run, or all), raw (id, connection id, external id, data)."""
    stmt = select(_text(_A.id), _text(_A.connection_id), _A.external_id, cast(_A.data, Text)).where(
        _A.deleted_at.is_(None)
    )
    if changed_by is not None:
        stmt = stmt.where(_A.last_run_id == changed_by)
    return stmt


async def asset_batch(
    session: AsyncSession, after: uuid.UUID | None, limit: int, changed_by: uuid.UUID | None
) -> list[RawAsset]:
    """The next ``limit`` live assets after id ``after`` (changed by a run, or all), by id
    (raw: id, connection id, external id, data text)."""
    stmt = assets_query(changed_by)
    if after is not None:
        stmt = stmt.where(_A.id > after)
    connection = await session.connection()
    rows = await connection.execute(stmt.order_by(_A.id).limit(limit))
    return [(r[0], r[1], str(r[2]), r[3]) for r in rows]


async def stream_rows(
    sessionmaker: async_sessionmaker[AsyncSession], stmt: Select[Any], size: int
) -> AsyncIterator[list[tuple[Any, ...]]]:
    """The rows of ``stmt`` in chunks of ``size``, from one server-side cursor in one read
    unit of work: a pass reads its table once, whatever the table's statistics say (keyset
    pages were each planned as a scan of the table on a young PostgreSQL table)."""
    async with unit_of_work(sessionmaker, write=False) as session:
        connection = await session.connection()
        result = await connection.stream(stmt.execution_options(yield_per=size))
        async for rows in result.partitions(size):
            yield [tuple(row) for row in rows]


def decode_assets(
    rows: list[RawAsset], connections: dict[uuid.UUID, str]
) -> list[tuple[AssetRef, str, dict[str, Any]]]:
    """Raw asset rows as the index takes them (pure: run it off the event loop)."""
    out = []
    for aid, cid, ext, data in rows:
        connection_id = as_uuid(cid)
        ref = AssetRef(as_uuid(aid), connections.get(connection_id, ""))
        out.append((ref, ext, _json(data)))
    return out


async def records_by_external_id(
    session: AsyncSession, connection_ids: Collection[uuid.UUID], stream: str
) -> dict[tuple[uuid.UUID, str], uuid.UUID]:
    """Live records of ``stream`` in these connections, by (connection, external id)."""
    r = StoredRecord
    out: dict[tuple[uuid.UUID, str], uuid.UUID] = {}
    for chunk in chunked(sorted(connection_ids)):
        rows = await session.execute(
            select(r.id, r.connection_id, r.external_id).where(
                r.connection_id.in_(chunk), r.stream == stream, r.deleted_at.is_(None)
            )
        )
        out.update({(cid, str(ext)): rid for rid, cid, ext in rows})
    return out


# --- links ---------------------------------------------------------------------------------


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
    for chunk in chunked(record_ids):
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
    for chunk in chunked(record_ids):
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
    for chunk in chunked(gone):
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
