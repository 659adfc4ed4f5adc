"""Queries of the sync store: batched upserts of items, tombstones, stream claims and cursors.

Every write here is set-based: a page costs a few statements whatever its size (one upsert,
which on PostgreSQL also says how many rows it inserted and rewrote, while SQLite first looks
up the page's ids; at most one update each for tombstones and for marking unchanged rows as
seen), never a round trip per row. The upsert's SQL text is the same for
every page, so it is compiled and prepared once: on PostgreSQL the page travels as one array
per column (``INSERT ... SELECT FROM unnest(...) ON CONFLICT``), on SQLite as one
``executemany`` of plain tuples. Id lists are one ``= ANY(array)`` on PostgreSQL and are cut
at :data:`ID_CHUNK` on SQLite (its variable limit).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from typing import Any, cast

from sqlalchemy import (
    ColumnElement,
    Integer,
    String,
    Table,
    TextClause,
    any_,
    bindparam,
    column,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncSession

from syncbridge.models import Asset, Run, StoredRecord, StreamState
from syncbridge.models.base import utcnow
from syncbridge.store.batches import chunks
from syncbridge.store.ids import id_base, pg_batch_id

#: Ids per ``IN (...)`` list on SQLite: far below its 32,766 (older builds: 999) variables.
ID_CHUNK = 500

FINISHED = ("succeeded", "failed", "cancelled")

#: The columns an upsert writes, in the order of its SQL.
_COLUMNS = (
    "id",
    "connection_id",
    "stream",
    "external_id",
    "data",
    "content_hash",
    "vendor_updated_at",
    "first_seen_at",
    "updated_at",
    "deleted_at",
    "last_run_id",
    "seen_run_id",
)
#: What an upsert rewrites on a changed item (``deleted_at`` comes back as NULL).
_REWRITTEN = (
    "data",
    "content_hash",
    "vendor_updated_at",
    "updated_at",
    "deleted_at",
    "stream",
    "last_run_id",
    "seen_run_id",
)


@dataclass(frozen=True)
class ItemTable:
    """Where a stream's items go: the table and the columns that identify an item."""

    table: Table
    #: True when an item is identified within its stream (records), not its connection.
    per_stream: bool

    @staticmethod
    def of(entity: str) -> ItemTable:
        if entity == "asset":
            return ItemTable(Asset.__table__, per_stream=False)  # type: ignore[arg-type]
        return ItemTable(StoredRecord.__table__, per_stream=True)  # type: ignore[arg-type]

    @property
    def key(self) -> list[str]:
        if self.per_stream:
            return ["external_id", "connection_id", "stream"]
        return ["external_id", "connection_id"]

    def owned(self, connection_id: uuid.UUID, stream: str) -> list[ColumnElement[bool]]:
        """Conditions selecting the items of one connection's stream."""
        c = self.table.c
        return [c.connection_id == connection_id, c.stream == stream]

    def identified(self, connection_id: uuid.UUID, stream: str) -> list[ColumnElement[bool]]:
        """Conditions that, with an external id, identify one item."""
        c = self.table.c
        if self.per_stream:
            return [c.connection_id == connection_id, c.stream == stream]
        return [c.connection_id == connection_id]


def _dialect(session: AsyncSession) -> str:
    return session.get_bind().dialect.name


def _listing(session: AsyncSession, items: ItemTable, ids: Sequence[str]) -> Iterator[Any]:
    """Conditions picking the listed external ids: one array on PostgreSQL (one statement
    text whatever the count), ``IN`` lists of at most :data:`ID_CHUNK` on SQLite."""
    column = items.table.c.external_id
    if _dialect(session) == "postgresql":
        if ids:
            yield column == any_(bindparam("ids", list(ids), type_=postgresql.ARRAY(String)))
        return
    for chunk in chunks(ids, ID_CHUNK):
        yield column.in_(chunk)


@dataclass(frozen=True, slots=True)
class Known:
    """What the store holds of an item: its content hash and whether it is a tombstone."""

    content_hash: str
    deleted: bool


async def known(
    session: AsyncSession,
    items: ItemTable,
    connection_id: uuid.UUID,
    stream: str,
    ids: Sequence[str],
) -> dict[str, Known]:
    """The stored state of the given items (missing ones are left out)."""
    c = items.table.c
    found: dict[str, Known] = {}
    for listed in _listing(session, items, ids):
        rows = await session.execute(
            select(c.external_id, c.content_hash, c.deleted_at).where(
                *items.identified(connection_id, stream), listed
            )
        )
        for external_id, content_hash, deleted_at in rows:
            found[str(external_id)] = Known(str(content_hash), deleted_at is not None)
    return found


@dataclass(frozen=True, slots=True)
class Stamp:
    """What every item a page writes shares: the connection's stream, the run, the time."""

    connection_id: uuid.UUID
    stream: str
    run_id: uuid.UUID
    now: datetime


@dataclass(slots=True)
class Changes:
    """Items to insert or rewrite, column by column (what a page upsert sends)."""

    external_ids: list[str] = field(default_factory=list)
    #: The canonical JSON text of each item's data.
    texts: list[str] = field(default_factory=list)
    hashes: list[str] = field(default_factory=list)
    vendor_updated_at: list[datetime | None] = field(default_factory=list)

    def add(self, external_id: str, text: str, digest: str, updated_at: datetime | None) -> None:
        self.external_ids.append(external_id)
        self.texts.append(text)
        self.hashes.append(digest)
        self.vendor_updated_at.append(updated_at)

    def __len__(self) -> int:
        return len(self.external_ids)


def _conflict(items: ItemTable, alias: str) -> str:
    rewrite = ", ".join(f"{name} = excluded.{name}" for name in _REWRITTEN)
    return (
        f"ON CONFLICT ({', '.join(items.key)}) DO UPDATE SET {rewrite} "
        f"WHERE {alias}.content_hash != excluded.content_hash OR {alias}.deleted_at IS NOT NULL"
    )


def _pg_insert(items: ItemTable) -> str:
    # The page's columns as arrays, unnested: one statement text for every page size, so
    # PostgreSQL plans it once, and no per-row parameter handling on the client. Row ``n``
    # of the page gets the id ``id_base + n`` (see syncbridge.store.ids).
    return (
        f"INSERT INTO {items.table.name} AS t ({', '.join(_COLUMNS)}) "
        f"SELECT {pg_batch_id('id_high', 'id_low', 'u.n')}, CAST(:connection_id AS uuid), "
        "CAST(:stream AS varchar), u.external_id, CAST(u.data AS jsonb), u.content_hash, "
        "u.vendor_updated_at, CAST(:now AS timestamptz), CAST(:now AS timestamptz), NULL, "
        "CAST(:run_id AS uuid), CAST(:run_id AS uuid) "
        "FROM unnest(CAST(:external_ids AS varchar[]), CAST(:texts AS text[]), "
        "CAST(:hashes AS varchar[]), CAST(:vendor_updated_at AS timestamptz[])) "
        "WITH ORDINALITY AS u(external_id, data, content_hash, vendor_updated_at, n) "
        + _conflict(items, "t")
        # xmax is 0 on a row version this insert made, the updating transaction's id on one
        # rewritten by ON CONFLICT DO UPDATE.
        + " RETURNING t.external_id, t.id, (t.xmax = 0) AS new"
    )


@cache
def _pg_upsert(items: ItemTable) -> TextClause:
    # It answers how many rows it wrote and inserted.
    return text(
        f"WITH written AS ({_pg_insert(items)}) "
        "SELECT count(*), count(*) FILTER (WHERE new) FROM written"
    )


@cache
def _pg_upsert_also(items: ItemTable, also: str | None) -> TextClause:
    # The same upsert, running ``also`` on what it wrote (the links of the rows it inserted)
    # in the same statement; it answers its counts (the row with a NULL external id), then
    # the rows it rewrote, which the caller deals with.
    if also is None:
        ctes, extra = "", "0"
    else:
        ctes = (
            ", page AS (SELECT * FROM unnest(CAST(:external_ids AS varchar[])) "
            f"WITH ORDINALITY AS p(external_id, n)), also AS ({also} RETURNING 1)"
        )
        extra = "(SELECT count(*) FROM also)"
    return text(
        f"WITH written AS ({_pg_insert(items)}){ctes} "
        "SELECT CAST(NULL AS varchar), CAST(NULL AS uuid), count(*), "
        f"count(*) FILTER (WHERE new), {extra} FROM written "
        "UNION ALL "
        "SELECT external_id, id, NULL, NULL, NULL FROM written WHERE NOT new"
    )


@cache
def _sqlite_upsert(items: ItemTable) -> str:
    name = items.table.name
    marks = "?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, ?, ?"
    return f"INSERT INTO {name} ({', '.join(_COLUMNS)}) VALUES ({marks}) " + _conflict(items, name)


def _binder(items: ItemTable, column: str, dialect: Dialect) -> Callable[[Any], Any]:
    """What SQLAlchemy would send for a value of ``column`` (UUIDs as hex, UTC datetimes as
    naive text on SQLite), for statements sent to the driver as they are."""
    process = items.table.c[column].type.dialect_impl(dialect).bind_processor(dialect)
    return process if process is not None else lambda value: value


def upsert_counts(session: AsyncSession) -> bool:
    """Whether :func:`upsert` tells inserted rows from rewritten ones (PostgreSQL), so that
    a page needs no lookup of what the store holds first."""
    return _dialect(session) == "postgresql"


@dataclass(frozen=True, slots=True)
class AlsoWrite:
    """More for an upsert's statement to write from the rows it inserted (PostgreSQL): the
    SQL of an ``INSERT`` that reads the upsert's ``written`` (``external_id``, ``id``,
    ``new``) and ``page`` (the page's ``external_id`` numbered ``n`` from 1), and its
    parameters (those of the upsert, such as ``run_id`` and ``now``, are shared)."""

    sql: str
    params: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Written:
    """What an upsert did: rows inserted or rewritten, and how many of them were inserted
    (None where the store cannot tell: see :func:`upsert_counts`); asked for, the rows whose
    links are still to be written, as (external id, row id as ``uuid.UUID.int``, whether it
    is new; None where the store cannot tell): on SQLite every row written; on PostgreSQL,
    whose statement wrote what :class:`AlsoWrite` asked of the rows it inserted, the rows it
    rewrote. ``also``: how many rows that wrote."""

    rows: int
    inserted: int | None
    ids: list[tuple[str, int, bool | None]] | None = None
    also: int = 0


async def upsert(
    session: AsyncSession,
    items: ItemTable,
    stamp: Stamp,
    changes: Changes,
    *,
    returning: bool = False,
    also: AlsoWrite | None = None,
) -> Written:
    """Insert new items and rewrite changed ones (content hash differs, or a tombstone comes
    back); an unchanged row is left alone. One statement (PostgreSQL) or one ``executemany``
    (SQLite) per call, whatever the number of items; ``returning`` also says which rows it
    wrote (on SQLite, one more query: the rows of the items sent, all of which it wrote),
    ``also`` what more the statement writes from the rows it inserts (PostgreSQL only)."""
    if not changes:
        return Written(0, 0, [] if returning else None)
    if _dialect(session) == "postgresql":
        return await _pg_write(session, items, stamp, changes, returning=returning, also=also)
    connection = await session.connection()
    dialect = connection.dialect
    as_uuid, as_time = _binder(items, "id", dialect), _binder(items, "updated_at", dialect)
    connection_id, run_id = as_uuid(stamp.connection_id), as_uuid(stamp.run_id)
    now = as_time(stamp.now)
    rows = [
        (as_uuid(uuid.uuid4()), connection_id, stamp.stream, external_id, data, digest,
         None if at is None else as_time(at), now, now, run_id, run_id)
        for external_id, data, digest, at in zip(
            changes.external_ids, changes.texts, changes.hashes, changes.vendor_updated_at,
            strict=True,
        )
    ]  # fmt: skip
    result = await connection.exec_driver_sql(_sqlite_upsert(items), rows)
    if not returning:
        return Written(int(result.rowcount), None)
    c = items.table.c
    written: list[tuple[str, int, bool | None]] = []
    for listed in _listing(session, items, changes.external_ids):
        found = await session.execute(
            select(c.external_id, c.id).where(
                *items.identified(stamp.connection_id, stamp.stream), listed
            )
        )
        written += [(str(ext), cast(uuid.UUID, rid).int, None) for ext, rid in found]
    return Written(int(result.rowcount), None, written)


async def _pg_write(
    session: AsyncSession,
    items: ItemTable,
    stamp: Stamp,
    changes: Changes,
    *,
    returning: bool,
    also: AlsoWrite | None,
) -> Written:
    high, low = id_base()
    params = {
        "connection_id": stamp.connection_id,
        "stream": stamp.stream,
        "run_id": stamp.run_id,
        "now": stamp.now,
        "external_ids": changes.external_ids,
        "texts": changes.texts,
        "hashes": changes.hashes,
        "vendor_updated_at": changes.vendor_updated_at,
        "id_high": high,
        "id_low": low,
    }
    if not returning and also is None:
        result = await session.execute(
            _pg_upsert(items).columns(column("rows", Integer), column("inserted", Integer)),
            params,
        )
        count, inserted = cast("tuple[int, int]", tuple(result.one()))
        return Written(count, inserted)
    statement = _pg_upsert_also(items, also.sql if also is not None else None)
    connection = await session.connection()
    answer = await connection.execute(statement, {**params, **(also.params if also else {})})
    counts: tuple[int, int, int] = (0, 0, 0)
    ids: list[tuple[str, int, bool | None]] = []
    for external_id, row_id, *numbers in answer:
        if external_id is None:
            counts = cast("tuple[int, int, int]", tuple(numbers))
        else:
            ids.append((str(external_id), cast(uuid.UUID, row_id).int, False))
    count, inserted, extra = counts
    return Written(count, inserted, ids, extra)


async def _update_listed(
    session: AsyncSession,
    items: ItemTable,
    connection_id: uuid.UUID,
    stream: str,
    ids: Sequence[str],
    values: dict[str, Any],
    *also: ColumnElement[bool],
) -> int:
    """Set ``values`` on the listed items (that also meet ``also``); how many it set."""
    changed = 0
    for listed in _listing(session, items, ids):
        result = await session.execute(
            update(items.table)
            .where(*items.identified(connection_id, stream), listed, *also)
            .values(**values)
        )
        changed += int(result.rowcount)  # type: ignore[attr-defined]
    return changed


async def mark_seen(
    session: AsyncSession,
    items: ItemTable,
    connection_id: uuid.UUID,
    stream: str,
    ids: Sequence[str],
    run_id: uuid.UUID,
) -> None:
    """Note that a full read saw these items (those it has not noted already)."""
    c = items.table.c
    unseen = or_(c.seen_run_id.is_(None), c.seen_run_id != run_id)
    await _update_listed(
        session, items, connection_id, stream, ids, {"seen_run_id": run_id}, unseen
    )


async def tombstone(
    session: AsyncSession,
    items: ItemTable,
    connection_id: uuid.UUID,
    stream: str,
    ids: Sequence[str],
    run_id: uuid.UUID,
    now: datetime,
) -> int:
    """Mark those of these items that are live deleted (the vendor said so; their rows
    stay); how many were live."""
    values = {"deleted_at": now, "updated_at": now, "last_run_id": run_id, "seen_run_id": run_id}
    live = items.table.c.deleted_at.is_(None)
    return await _update_listed(session, items, connection_id, stream, ids, values, live)


async def tombstone_unseen(
    session: AsyncSession,
    items: ItemTable,
    connection_id: uuid.UUID,
    stream: str,
    run_id: uuid.UUID,
    now: datetime,
) -> int:
    """End a full read: every live item of the stream it did not see becomes a tombstone."""
    c = items.table.c
    result = await session.execute(
        update(items.table)
        .where(
            *items.owned(connection_id, stream),
            c.deleted_at.is_(None),
            or_(c.seen_run_id.is_(None), c.seen_run_id != run_id),
        )
        .values(deleted_at=now, updated_at=now, last_run_id=run_id)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


async def relax_durability(session: AsyncSession) -> None:
    """Let this transaction's commit return before its WAL reaches the disk (PostgreSQL).

    A page's rows and its cursor commit together, so a database crash that loses the last
    commits loses whole pages with their cursors: the resumed read reads them again. The
    fsync per page would otherwise bound a sync to the disk's flush rate.
    """
    if _dialect(session) == "postgresql":
        await session.execute(text("SET LOCAL synchronous_commit TO OFF"))


# -- stream states -------------------------------------------------------------------------


async def stream_state(session: AsyncSession, connection_id: uuid.UUID, stream: str) -> StreamState:
    """The state row of a connection's stream, created when missing, locked on PostgreSQL."""
    dialect = _dialect(session)
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    await session.execute(
        insert(StreamState)
        .values(id=uuid.uuid4(), connection_id=connection_id, stream=stream, updated_at=utcnow())
        .on_conflict_do_nothing(index_elements=["connection_id", "stream"])
    )
    state = await session.scalar(
        select(StreamState)
        .where(StreamState.connection_id == connection_id, StreamState.stream == stream)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    assert state is not None
    return state


async def holder_is_live(session: AsyncSession, state: StreamState, run_id: uuid.UUID) -> bool:
    """Whether another run, not finished, holds the stream."""
    holder = state.claimed_by_run_id
    if holder is None or holder == run_id:
        return False
    status = await session.scalar(select(Run.status).where(Run.id == holder))
    return status is not None and status not in FINISHED


async def save_cursor(
    session: AsyncSession,
    connection_id: uuid.UUID,
    stream: str,
    run_id: uuid.UUID,
    cursor: str | None,
    now: datetime,
) -> bool:
    """Store the stream's cursor if ``run_id`` still holds the stream (False: it does not)."""
    result = await session.execute(
        update(StreamState)
        .where(
            StreamState.connection_id == connection_id,
            StreamState.stream == stream,
            StreamState.claimed_by_run_id == run_id,
        )
        .values(cursor=cursor, updated_at=now)
    )
    return int(result.rowcount) == 1  # type: ignore[attr-defined]


__all__ = [
    "FINISHED",
    "ID_CHUNK",
    "AlsoWrite",
    "Changes",
    "ItemTable",
    "Known",
    "Stamp",
    "Written",
    "holder_is_live",
    "known",
    "mark_seen",
    "save_cursor",
    "stream_state",
    "tombstone",
    "tombstone_unseen",
    "upsert",
    "upsert_counts",
]
