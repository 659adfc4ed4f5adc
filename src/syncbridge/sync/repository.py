"""Queries of the sync store: batched upserts of items, tombstones, stream claims and cursors.

Every write here is set-based: a page costs a few statements whatever its size (one lookup of
the page's ids, one multi-row upsert, and at most one update each for tombstones and for
marking unchanged rows as seen), never a round trip per row. Multi-row statements go through
SQLAlchemy's "insertmanyvalues" batching, which keeps each statement within the driver's
parameter limit (SQLite's variable limit included); id lists are cut at :data:`ID_CHUNK`.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Table,
    Text,
    bindparam,
    cast,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncSession

from syncbridge.models import Asset, Run, StoredRecord, StreamState
from syncbridge.models.base import utcnow

#: Ids per ``IN (...)`` list: far below SQLite's 32,766 (and older builds' 999) variables.
ID_CHUNK = 500

FINISHED = ("succeeded", "failed", "cancelled")


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


def chunks(ids: Sequence[str], size: int = ID_CHUNK) -> Iterator[Sequence[str]]:
    for start in range(0, len(ids), size):
        yield ids[start : start + size]


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
    for chunk in chunks(ids):
        rows = await session.execute(
            select(c.external_id, c.content_hash, c.deleted_at).where(
                *items.identified(connection_id, stream), c.external_id.in_(chunk)
            )
        )
        for external_id, content_hash, deleted_at in rows:
            found[str(external_id)] = Known(str(content_hash), deleted_at is not None)
    return found


def _dialect(session: AsyncSession) -> str:
    return session.get_bind().dialect.name


def _json_text(session: AsyncSession) -> Any:
    """The ``data`` value of an upsert: canonical JSON text, stored as it is."""
    param = bindparam("data_text", type_=Text)
    if _dialect(session) == "postgresql":
        return cast(param, JSONB)
    return param


async def upsert(session: AsyncSession, items: ItemTable, rows: list[dict[str, Any]]) -> None:
    """Insert new items and rewrite changed ones (content hash differs, or a tombstone comes
    back); an unchanged row is left alone. ``rows`` carry every column but ``data``, whose
    canonical JSON text is ``data_text``."""
    if not rows:
        return
    table = items.table
    dialect = _dialect(session)
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = insert(table).values(data=_json_text(session))
    excluded = stmt.excluded
    changing = ("data", "content_hash", "vendor_updated_at", "updated_at", "deleted_at")
    stmt = stmt.on_conflict_do_update(
        index_elements=items.key,
        set_={
            **{name: excluded[name] for name in changing},
            "stream": excluded.stream,
            "last_run_id": excluded.last_run_id,
            "seen_run_id": excluded.seen_run_id,
        },
        where=or_(table.c.content_hash != excluded.content_hash, table.c.deleted_at.is_not(None)),
    )
    # RETURNING makes SQLAlchemy send multi-row VALUES batches ("insertmanyvalues").
    await session.execute(stmt.returning(table.c.external_id), rows)


async def _update_listed(
    session: AsyncSession,
    items: ItemTable,
    connection_id: uuid.UUID,
    stream: str,
    ids: Sequence[str],
    values: dict[str, Any],
    *also: ColumnElement[bool],
) -> None:
    """Set ``values`` on the listed items (that also meet ``also``), one statement per chunk."""
    c = items.table.c
    for chunk in chunks(ids):
        await session.execute(
            update(items.table)
            .where(*items.identified(connection_id, stream), c.external_id.in_(chunk), *also)
            .values(**values)
        )


async def mark_seen(
    session: AsyncSession,
    items: ItemTable,
    connection_id: uuid.UUID,
    stream: str,
    ids: Sequence[str],
    run_id: uuid.UUID,
) -> None:
    """Note that a full read saw these (unchanged) items."""
    await _update_listed(session, items, connection_id, stream, ids, {"seen_run_id": run_id})


async def tombstone(
    session: AsyncSession,
    items: ItemTable,
    connection_id: uuid.UUID,
    stream: str,
    ids: Sequence[str],
    run_id: uuid.UUID,
    now: datetime,
) -> None:
    """Mark these live items deleted (the vendor said so); their rows stay."""
    values = {"deleted_at": now, "updated_at": now, "last_run_id": run_id, "seen_run_id": run_id}
    live = items.table.c.deleted_at.is_(None)
    await _update_listed(session, items, connection_id, stream, ids, values, live)


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
    "ItemTable",
    "Known",
    "holder_is_live",
    "known",
    "mark_seen",
    "save_cursor",
    "stream_state",
    "tombstone",
    "tombstone_unseen",
    "upsert",
]
