"""Link-rule queries, and the batched reads of the store's assets and records that linking
matches (the links themselves: :mod:`syncbridge.linking.links`)."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Collection, Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Select,
    Text,
    and_,
    cast,
    false,
    not_,
    or_,
    select,
    type_coerce,
)
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from syncbridge.linking.matching import AssetRef, RecordView, RuleView, Scope
from syncbridge.models import Asset, Connection, StoredRecord
from syncbridge.models.linking import LinkRule, LinkRuleVersion
from syncbridge.store.batches import chunks
from syncbridge.store.unit_of_work import unit_of_work

#: Ids per ``IN (...)`` list (well under SQLite's and asyncpg's parameter limits).
ID_CHUNK = 1000

#: A link's (asset, record, rule) row ids, as ``uuid.UUID.int``.
LinkKey = tuple[int, int, int]


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
    #: (connection, stream) pairs left out (streams linked in their pages).
    leaving_out: tuple[tuple[uuid.UUID, str], ...] = ()


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


def _text(column: Any) -> Any:
    return type_coerce(column, Text)


def as_uuid(value: Any) -> uuid.UUID:
    """A UUID from what a driver returns (a UUID on PostgreSQL, hex text on SQLite)."""
    return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))


def id_int(value: Any) -> int:
    """A row id as ``uuid.UUID.int`` from what a driver returns (a UUID, its text, or hex
    text on SQLite): cheaper to build, hash and compare than a UUID."""
    if isinstance(value, uuid.UUID):
        return value.int
    return int(str(value).replace("-", ""), 16)


def id_text(value: int) -> str:
    """A row id (``uuid.UUID.int``) as 32 hex digits: how SQLite stores a UUID, and a form
    PostgreSQL reads as one."""
    return f"{value:032x}"


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
    for connection_id, stream in which.leaving_out:
        stmt = stmt.where(not_(and_(_R.connection_id == connection_id, _R.stream == stream)))
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
    scopes: dict[tuple[Any, str], Scope] = {}
    for rid, cid, stream, data in rows:
        scope = scopes.get((cid, stream))
        if scope is None:
            connection_id = as_uuid(cid)
            scope = scopes[cid, stream] = Scope(
                connections.get(connection_id, ""), connection_id, stream
            )
        out.append(RecordView(id_int(rid), scope, _json(data)))
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
        ref = AssetRef(id_int(aid), connections.get(connection_id, ""))
        out.append((ref, ext, _json(data)))
    return out


async def records_by_external_id(
    session: AsyncSession, connection_ids: Collection[uuid.UUID], stream: str
) -> dict[tuple[uuid.UUID, str], int]:
    """Live records of ``stream`` in these connections (row ids as ``uuid.UUID.int``), by
    (connection, external id)."""
    r = StoredRecord
    out: dict[tuple[uuid.UUID, str], int] = {}
    for chunk in chunks(sorted(connection_ids), ID_CHUNK):
        rows = await session.execute(
            select(r.id, r.connection_id, r.external_id).where(
                r.connection_id.in_(chunk), r.stream == stream, r.deleted_at.is_(None)
            )
        )
        out.update({(cid, str(ext)): rid.int for rid, cid, ext in rows})
    return out
