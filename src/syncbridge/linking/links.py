"""The links table: a batch's links read, diffed against what was found, and written."""

from __future__ import annotations

import uuid
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from typing import Any
from typing import cast as typing_cast

from sqlalchemy import Text, delete, select, text, type_coerce, update
from sqlalchemy.ext.asyncio import AsyncSession

from syncbridge.linking.matching import Found, RuleView, Scope
from syncbridge.linking.repository import ID_CHUNK, LinkKey, id_int, id_text
from syncbridge.models import Asset, StoredRecord, utcnow
from syncbridge.models.linking import Link
from syncbridge.store.batches import chunks
from syncbridge.store.ids import id_base, pg_batch_id

_L = Link.__table__.c

# The hot statements of a pass (a batch's links read, new links written, gone ones deleted)
# are sent as they are, ids as 32 hex digits: on PostgreSQL as one array per column (one
# statement text for every batch size, planned once), on SQLite as plain tuples. SQLAlchemy's
# per-row parameter handling and the compilation of ``IN`` lists of a thousand ids cost
# more than matching the batch did.
_PG_LINKS_OF_RECORDS = text(
    "SELECT id::text, asset_id::text, record_id::text, rule_id::text, rule_version, "
    "field_path, value FROM links "
    "WHERE record_id = ANY(CAST(:ids AS uuid[])) AND rule_id IS NOT NULL"
)
# Columns travel as array literals in one text parameter each: binding Python lists, the
# driver inspects every element (an abstract-class check each) and that cost more per link
# than PostgreSQL's insert.
_PG_INSERT = text(
    "INSERT INTO links (id, asset_id, record_id, rule_id, rule_version, field_path, value, "
    "run_id, created_at) "
    f"SELECT {pg_batch_id('id_high', 'id_low', 'u.n')}, u.a, u.r, u.k, u.v, u.f, u.x, "
    "CAST(:run_id AS uuid), CAST(:now AS timestamptz) "
    "FROM unnest(CAST(CAST(:assets AS text) AS uuid[]), CAST(CAST(:records AS text) AS uuid[]), "
    "CAST(CAST(:rules AS text) AS uuid[]), CAST(CAST(:versions AS text) AS integer[]), "
    "CAST(CAST(:paths AS text) AS text[]), CAST(CAST(:values AS text) AS text[])) "
    "WITH ORDINALITY AS u(a, r, k, v, f, x, n)"
)
#: The transaction-scoped advisory lock every link rewrite holds on PostgreSQL from reading a
#: batch's links to its commit (:func:`lock_links`).
LINKS_LOCK = 0x73796E632D6C696E  # "sync-lin"
_PG_LOCK = text("SELECT pg_advisory_xact_lock(:key)")
_PG_DELETE = text("DELETE FROM links WHERE id = ANY(CAST(:ids AS uuid[]))")
_SQLITE_INSERT = (
    "INSERT INTO links (id, asset_id, record_id, rule_id, rule_version, field_path, value, "
    "run_id, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) "
    "ON CONFLICT (asset_id, record_id, rule_id) DO NOTHING"
)
#: Ids per SQLite ``IN (...)`` list (its variable limit is 32,766; smaller lists plan fast).
_SQLITE_CHUNK = 500


def _postgres(session: AsyncSession) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def _text(column: Any) -> Any:
    return type_coerce(column, Text)


@dataclass(frozen=True, slots=True)
class StoredLink:
    #: The row id as the driver returned it (text).
    id: str
    key: LinkKey
    evidence: tuple[int | None, str, str]


RawLink = tuple[Any, Any, Any, Any, int | None, str, str]


async def links_of_records(session: AsyncSession, record_ids: Sequence[int]) -> list[RawLink]:
    """The rule-made links of these records (raw: decode with :func:`decode_links`)."""
    connection = await session.connection()
    hexes = [id_text(i) for i in record_ids]
    if _postgres(session):
        rows = await connection.execute(_PG_LINKS_OF_RECORDS, {"ids": hexes})
        return [typing_cast(RawLink, tuple(row)) for row in rows]
    out: list[RawLink] = []
    for chunk in chunks(hexes, _SQLITE_CHUNK):
        result = await connection.exec_driver_sql(
            "SELECT id, asset_id, record_id, rule_id, rule_version, field_path, value "
            f"FROM links WHERE record_id IN ({', '.join('?' * len(chunk))}) "
            "AND rule_id IS NOT NULL",
            tuple(chunk),
        )
        out += [typing_cast(RawLink, tuple(row)) for row in result]
    return out


def decode_links(rows: list[RawLink]) -> list[StoredLink]:
    """Raw link rows as the diff compares them (pure)."""
    return [
        StoredLink(str(lid), (id_int(aid), id_int(rid), id_int(rule)), (version, path, value))
        for lid, aid, rid, rule, version, path, value in rows
    ]


async def assets_linked_to(
    session: AsyncSession, record_ids: Sequence[int], rule_ids: Collection[int]
) -> dict[int, list[int]]:
    """Per record, the assets linked to it by ``rule_ids`` (row ids as ``uuid.UUID.int``)."""
    out: dict[int, list[int]] = {}
    if not rule_ids:
        return out
    rules = sorted(uuid.UUID(int=i) for i in rule_ids)
    for chunk in chunks(record_ids, ID_CHUNK):
        rows = await session.execute(
            select(Link.record_id, Link.asset_id)
            .where(Link.record_id.in_([uuid.UUID(int=i) for i in chunk]), Link.rule_id.in_(rules))
            .order_by(Link.record_id, Link.asset_id)
        )
        for rid, aid in rows:
            assets = out.setdefault(rid.int, [])
            if not assets or assets[-1] != aid.int:
                assets.append(aid.int)
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


async def lock_links(session: AsyncSession) -> None:
    """Wait for, and hold until the transaction ends, the right to rewrite links (PostgreSQL;
    SQLite's one writer already serialises). Taken before a batch's links are read, it keeps
    two passes over the same records from both inserting a link: the second reads what the
    first committed. So inserts need no ``ON CONFLICT``, which doubled an insert's cost."""
    if _postgres(session):
        await session.execute(_PG_LOCK, {"key": LINKS_LOCK})


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


async def replace_links(
    session: AsyncSession,
    existing: Iterable[StoredLink],
    found: Iterable[Found],
    run_id: uuid.UUID | None,
) -> LinkDiff:
    """Make ``existing`` (the links a pass owns) equal ``found``: insert, delete, update.

    Links whose key and evidence did not change are left alone, so a second pass writes
    nothing. The caller holds :func:`lock_links` since it read ``existing``.
    """
    rule_ints: dict[str, int] = {}
    desired: dict[LinkKey, Found] = {}
    for item in found:
        rule = rule_ints.get(item.rule.id)
        if rule is None:
            rule = rule_ints[item.rule.id] = uuid.UUID(item.rule.id).int
        desired.setdefault((item.asset_id, item.record_id, rule), item)
    current = {link.key: link for link in existing}
    gone = [link.id for key, link in current.items() if key not in desired]
    new: list[tuple[LinkKey, Found]] = []
    changed = []
    for key, item in desired.items():
        link = current.get(key)
        if link is None:
            new.append((key, item))
        elif link.evidence != (item.rule.version, item.rule.field_path, item.value):
            changed.append(_evidence(link.id, item, run_id))
    await _delete(session, gone)
    added = await _insert_new(session, new, run_id) if new else 0
    if changed:
        await session.execute(update(Link), changed)
    return LinkDiff(added=added, removed=len(gone), updated=len(changed))


async def _delete(session: AsyncSession, ids: list[str]) -> None:
    if not ids:
        return
    connection = await session.connection()
    if _postgres(session):
        await connection.execute(_PG_DELETE, {"ids": ids})
        return
    for chunk in chunks(ids, _SQLITE_CHUNK):
        await connection.exec_driver_sql(
            f"DELETE FROM links WHERE id IN ({', '.join('?' * len(chunk))})",
            tuple(chunk),
        )


async def _insert_new(
    session: AsyncSession, new: list[tuple[LinkKey, Found]], run_id: uuid.UUID | None
) -> int:
    """Insert links (skipping keys already there); how many it inserted."""
    connection = await session.connection()
    now = utcnow()
    if _postgres(session):
        high, low = id_base()
        result = await connection.execute(
            _PG_INSERT,
            {
                "id_high": high,
                "id_low": low,
                "run_id": run_id,
                "now": now,
                "assets": ids_literal(key[0] for key, _ in new),
                "records": ids_literal(key[1] for key, _ in new),
                "rules": ids_literal(key[2] for key, _ in new),
                "versions": array_literal(
                    "NULL" if item.rule.version is None else str(item.rule.version)
                    for _, item in new
                ),
                "paths": array_literal(quoted(item.rule.field_path) for _, item in new),
                "values": array_literal(quoted(item.value) for _, item in new),
            },
        )
        return int(result.rowcount)
    dialect = connection.dialect
    stamp = _L.created_at.type.dialect_impl(dialect).bind_processor(dialect)
    at = stamp(now) if stamp is not None else now
    run = None if run_id is None else run_id.hex
    rows = [
        (uuid.uuid4().hex, id_text(a), id_text(r), id_text(k), item.rule.version,
         item.rule.field_path, item.value, run, at)
        for (a, r, k), item in new
    ]  # fmt: skip
    result = await connection.exec_driver_sql(_SQLITE_INSERT, rows)
    return int(result.rowcount)


def array_literal(elements: Iterable[str]) -> str:
    """A PostgreSQL array literal of elements already written as array elements."""
    return "{" + ",".join(elements) + "}"


def ids_literal(ids: Iterable[int]) -> str:
    return array_literal(map(id_text, ids))


def quoted(value: str) -> str:
    """``value`` as a quoted array element (backslashes and double quotes escaped)."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _evidence(link_id: str, item: Found, run_id: uuid.UUID | None) -> dict[str, Any]:
    return {
        "id": uuid.UUID(link_id),
        "rule_version": item.rule.version,
        "field_path": item.rule.field_path,
        "value": item.value,
        "run_id": run_id,
    }


async def drop_links_of_connection(session: AsyncSession, connection_id: uuid.UUID) -> int:
    """Delete the links of a connection's assets and records (before the connection itself is
    deleted, which hard-deletes them: links have no foreign keys to cascade)."""
    removed = 0
    for model, column in ((Asset, Link.asset_id), (StoredRecord, Link.record_id)):
        owned = select(model.id).where(model.connection_id == connection_id)
        result = await session.execute(delete(Link).where(column.in_(owned)))
        removed += int(result.rowcount)  # type: ignore[attr-defined]
    return removed


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
