"""One page of a stream into the store: checked and encoded outside any transaction, then
written with a handful of set-based statements inside the page's unit of work.

Per item, the work is one canonical JSON encoding and one sha256 (both in :func:`prepare`,
before the transaction) and an append to the page's columns; the database gets the page's
items as columns, never one parameter dict per row."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncSession

from syncbridge.connector.types import Page
from syncbridge.linking.pages import PG_NEW_ROW_LINKS, Matched, PageLinker
from syncbridge.models import RunRejection
from syncbridge.sync import repository
from syncbridge.sync.encoding import Encoded, Rejected, encode
from syncbridge.sync.repository import AlsoWrite, Changes, ItemTable, Stamp

#: Rejections kept (with their reason) per stream of a run; later ones are only counted.
MAX_REJECTIONS_KEPT = 1000


@dataclass
class Counts:
    """What writing pages did, added to the run stream's counters."""

    read: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    deleted: int = 0
    rejected: int = 0

    def as_dict(self) -> dict[str, int]:
        return {
            "read": self.read,
            "inserted": self.inserted,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "deleted": self.deleted,
            "rejected": self.rejected,
        }


@dataclass
class PreparedPage:
    """A page after its checks: the live and deleted items (last one wins per id), and the
    rejected ones; for a stream linked in its pages, what its live items matched."""

    live: dict[str, Encoded] = field(default_factory=dict)
    gone: dict[str, Encoded] = field(default_factory=dict)
    rejected: list[Rejected] = field(default_factory=list)
    read: int = 0
    matched: Matched | None = None
    #: The live items as the upsert sends them, in their order (made off the event loop).
    changes: Changes = field(default_factory=Changes)

    def data(self) -> dict[str, Mapping[str, Any]]:
        """The data of each live item, by external id."""
        return {key: item.record.data for key, item in self.live.items()}


def prepare(page: Page) -> PreparedPage:
    """Check and encode a page's records (pure; runs before the page's transaction)."""
    prepared = PreparedPage(read=len(page.records))
    live, gone = prepared.live, prepared.gone
    for record in page.records:
        item = encode(record)
        if isinstance(item, Rejected):
            prepared.rejected.append(item)
            continue
        key = item.external_id
        if key in live or key in gone:  # a repeat: the last one wins, in its place
            live.pop(key, None)
            gone.pop(key, None)
        (gone if record.deleted else live)[key] = item
    changes = prepared.changes
    for key, item in live.items():
        changes.add(key, item.text, item.hash, item.record.updated_at)
    return prepared


@dataclass(frozen=True)
class Target:
    """Where a page goes: the connection's stream, its table, and the run writing it; the
    linker of a stream linked in its pages (:mod:`syncbridge.linking.pages`)."""

    connection_id: uuid.UUID
    stream: str
    items: ItemTable
    run_id: uuid.UUID
    full: bool
    linker: PageLinker | None = None


async def write(
    session: AsyncSession, target: Target, page: PreparedPage, now: datetime, *, keep: int
) -> Counts:
    """Write one prepared page; ``keep`` is how many rejections may still be stored."""
    counts = Counts(read=page.read, rejected=len(page.rejected))
    stamp = Stamp(target.connection_id, target.stream, target.run_id, now)
    live = page.live
    linker, matched = target.linker, page.matched
    if repository.upsert_counts(session):
        # The upsert skips unchanged rows itself and says what it inserted: no lookup. It
        # also links the rows it inserts, and answers the rows it rewrote, to be diffed.
        changes = page.changes
        also = None
        if linker is not None and matched is not None:
            assert changes.external_ids == matched.order, "links numbered by another order"
            also = AlsoWrite(PG_NEW_ROW_LINKS, linker.pg_params(matched))
        written = await repository.upsert(
            session, target.items, stamp, changes, returning=also is not None, also=also
        )
        counts.inserted = written.inserted or 0
    else:
        changes = await _changes(session, target, page, counts)
        written = await repository.upsert(
            session, target.items, stamp, changes, returning=linker is not None
        )
    if linker is not None and matched is not None and written.ids:
        await linker.write(session, matched, written.ids, target.run_id)
    counts.updated = written.rows - counts.inserted
    counts.unchanged = len(live) - written.rows
    if target.full and counts.unchanged:
        await repository.mark_seen(
            session, target.items, target.connection_id, target.stream, [*live], target.run_id
        )
    if page.gone:
        counts.deleted = await repository.tombstone(
            session, target.items, target.connection_id, target.stream, [*page.gone],
            target.run_id, now,
        )  # fmt: skip
        counts.unchanged += len(page.gone) - counts.deleted
    await _reject(session, target, page.rejected[: max(0, keep)], now)
    return counts


async def _changes(
    session: AsyncSession, target: Target, page: PreparedPage, counts: Counts
) -> Changes:
    """The page's live items the store lacks or holds otherwise (counting the new ones)."""
    stored = await repository.known(
        session, target.items, target.connection_id, target.stream, [*page.live]
    )
    changes = Changes()
    for key, item in page.live.items():
        known = stored.get(key)
        if known is not None and known.content_hash == item.hash and not known.deleted:
            continue
        if known is None:
            counts.inserted += 1
        changes.add(key, item.text, item.hash, item.record.updated_at)
    return changes


async def _reject(
    session: AsyncSession, target: Target, rejected: list[Rejected], now: datetime
) -> None:
    if not rejected:
        return
    await session.execute(
        insert(RunRejection),
        [
            {
                "run_id": target.run_id,
                "connection_id": target.connection_id,
                "stream": target.stream,
                "external_id": r.external_id,
                "reason": r.reason,
                "at": now,
            }
            for r in rejected
        ],
    )


__all__ = ["MAX_REJECTIONS_KEPT", "Counts", "PreparedPage", "Target", "prepare", "write"]
