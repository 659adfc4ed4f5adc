"""The queries of reconciliation: what the store holds of a page of assets (a few batched
statements per page, never one per row), the live assets of a stream, the owned fields of
a DAM connection, and the write-back states that drift repair re-opens for planning."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Mapping, Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from syncbridge.models import Asset, Connection, StoredRecord, WriteBackState
from syncbridge.models.base import utcnow
from syncbridge.reconcile.compare import Confirmed, Drift, OwnedFields, PageStore, Stored
from syncbridge.store.batches import chunks
from syncbridge.store.unit_of_work import in_unit_of_work
from syncbridge.writeback.landing import DEFAULT_PREFIX
from syncbridge.writeback.repository import rule_targets

#: External ids per ``IN (...)`` list (below SQLite's variable limit).
ID_CHUNK = 500
#: Live asset ids read per transaction when looking for the missing ones.
LIVE_BATCH = 5000
#: The Bynder stream that holds the metaproperties (and their options).
_METAPROPERTIES = "metaproperties"
_METADATA_MODES = {"cloudinary_metadata": "field", "cloudinary_context": "key"}


async def page_store(
    session: AsyncSession,
    connection_id: uuid.UUID,
    live: Mapping[str, str],
    gone: Sequence[str],
) -> PageStore:
    """What the store holds of a page: each listed asset's row; the stored data of the live
    ones whose content hash differs from ``live`` (external id -> hash); and the
    connection's write-back states of the live ones."""
    stored: dict[str, Stored] = {}
    ids = [*live, *gone]
    for part in chunks(ids, ID_CHUNK):
        rows = await session.execute(
            select(Asset.external_id, Asset.id, Asset.content_hash, Asset.deleted_at).where(
                Asset.connection_id == connection_id, Asset.external_id.in_(part)
            )
        )
        for external_id, asset_id, digest, deleted_at in rows:
            stored[str(external_id)] = Stored(asset_id, str(digest), deleted_at is not None)
    differing = [
        k for k, digest in live.items() if (s := stored.get(k)) and s.content_hash != digest
    ]
    data: dict[str, Mapping[str, Any]] = {}
    for part in chunks(differing, ID_CHUNK):
        found = await session.execute(
            select(Asset.external_id, Asset.data).where(
                Asset.connection_id == connection_id, Asset.external_id.in_(part)
            )
        )
        data.update({str(k): cast("Mapping[str, Any]", v) for k, v in found})
    asset_ids = [s.asset_id for k, s in stored.items() if k in live and not s.deleted]
    return PageStore(stored, data, await states_of(session, connection_id, asset_ids))


async def states_of(
    session: AsyncSession, connection_id: uuid.UUID, asset_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, Confirmed]:
    """The connection's write-back states of ``asset_ids``, by asset."""
    out: dict[uuid.UUID, Confirmed] = {}
    for part in chunks(asset_ids, ID_CHUNK):
        rows = await session.scalars(
            select(WriteBackState).where(
                WriteBackState.connection_id == connection_id, WriteBackState.asset_id.in_(part)
            )
        )
        for s in rows:
            out[s.asset_id] = Confirmed(
                frozenset(str(t) for t in s.confirmed_tags),
                dict(s.confirmed_metadata),
                s.confirmed_key,
                s.planned_key,
                s.confirmed_at,
            )
    return out


async def live_ids(
    sessionmaker: async_sessionmaker[AsyncSession],
    connection_id: uuid.UUID,
    stream: str,
    *,
    unchanged_since: datetime,
) -> AsyncIterator[list[str]]:
    """The external ids of the stream's live assets the store has not written since
    ``unchanged_since``, in batches (one read transaction each, keyset by external id). An
    asset written since (a webhook applied while the read went on) is left out: the read
    may have passed its place before it appeared or moved."""
    after = ""
    while True:

        async def batch(session: AsyncSession, after: str = after) -> list[str]:
            rows = await session.scalars(
                select(Asset.external_id)
                .where(
                    Asset.connection_id == connection_id,
                    Asset.stream == stream,
                    Asset.deleted_at.is_(None),
                    Asset.updated_at < unchanged_since,
                    Asset.external_id > after,
                )
                .order_by(Asset.external_id)
                .limit(LIVE_BATCH)
            )
            return [str(r) for r in rows]

        found = await in_unit_of_work(sessionmaker, batch, write=False)
        if not found:
            return
        yield found
        if len(found) < LIVE_BATCH:
            return
        after = found[-1]


async def owned_fields(
    session: AsyncSession, connection: Connection, stamp: str | None
) -> OwnedFields:
    """What syncbridge owns in ``connection``'s records: its tag prefix, the metadata keys
    its settings and the tag rules' targets name, and (Bynder) the owned metaproperty's key
    and the options the store knows of it."""
    settings = connection.settings or {}
    prefix = str(settings.get("tag_prefix") or DEFAULT_PREFIX)
    keys = {str(k) for k in settings.get("owned_context_keys") or []}
    if settings.get("owned_metadata_field"):
        keys.add(str(settings["owned_metadata_field"]))
    for _rule_id, targets in await rule_targets(session):
        for target in targets:
            key = _METADATA_MODES.get(str(target.get("mode")))
            if key is not None and str(target.get("connection_id")) == str(connection.id):
                keys.add(str(target.get(key)))
    whole: set[str] = set()
    metaproperty = settings.get("owned_metaproperty_id")
    if metaproperty:
        data = await session.scalar(
            select(StoredRecord.data).where(
                StoredRecord.connection_id == connection.id,
                StoredRecord.stream == _METAPROPERTIES,
                StoredRecord.external_id == str(metaproperty),
            )
        )
        name = data.get("name") if isinstance(data, Mapping) else None
        if name:
            # Bynder lists a medium's options twice: as ids in ``propertyOptions`` and by
            # name under ``property_<metaproperty>``. The names say every change a person
            # makes; the owned metaproperty's are syncbridge's, and so are the ids of the
            # options it creates (unknown until the metaproperties are read again).
            whole |= {"propertyOptions", f"property_{name}"}
    return OwnedFields(prefix, frozenset(keys), frozenset(whole), stamp)


async def reopen_drifted(
    session: AsyncSession, connection_id: uuid.UUID, drifts: Sequence[Drift]
) -> int:
    """Record what the DAM holds of each drifted asset as its confirmed owned state, with no
    plan outstanding, so the next planning pass plans the repair (desired against what is
    there) through the one planning path. A state that moved since it was read (a write-back
    planned or confirmed meanwhile) is left alone. Returns how many states were reopened."""
    now = utcnow()
    done = 0
    for drift in drifts:
        seen = drift.seen
        values: dict[str, Any] = {
            "confirmed_tags": seen.tag_list(),
            "confirmed_metadata": seen.metadata_dict(),
            "confirmed_key": seen.key(),
            "confirmed_at": now,
            "planned_key": "",
            "updated_at": now,
        }
        if drift.confirmed_key is None:
            exists = await session.get(WriteBackState, (drift.asset_id, connection_id))
            if exists is not None:
                continue
            session.add(
                WriteBackState(
                    asset_id=drift.asset_id,
                    connection_id=connection_id,
                    planned_version=0,
                    planned_tags=[],
                    planned_metadata={},
                    planned_dry_run=False,
                    **values,
                )
            )
            done += 1
            continue
        result = await session.execute(
            update(WriteBackState)
            .where(
                WriteBackState.asset_id == drift.asset_id,
                WriteBackState.connection_id == connection_id,
                WriteBackState.confirmed_key == drift.confirmed_key,
                WriteBackState.planned_key == drift.planned_key,
            )
            .values(**values)
            .execution_options(synchronize_session=False)
        )
        done += int(getattr(result, "rowcount", 0) or 0)
    await session.flush()
    return done


__all__ = [
    "LIVE_BATCH",
    "live_ids",
    "owned_fields",
    "page_store",
    "reopen_drifted",
    "states_of",
]
