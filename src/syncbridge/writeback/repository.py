"""The queries of write-back: what planning reads (rules, DAM connections, desired tags, the
confirmed states), the outbox claim and its fenced finish, the ledger, and the lists."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import ColumnElement, Select, and_, case, false, func, null, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from syncbridge.models import (
    Asset,
    Connection,
    DesiredTag,
    Run,
    TagRule,
    WriteBack,
    WriteBackAttempt,
    WriteBackState,
    WriteBackStatus,
)
from syncbridge.models.store import RECONCILE_KIND
from syncbridge.store.paging import PageParams, fetch_page
from syncbridge.tagging.validation import MODES_BY_CONNECTOR
from syncbridge.writeback.landing import OwnedState
from syncbridge.writeback.schemas import WriteBackOut, attempt_view, writeback_view

#: Rows per IN (...) list.
CHUNK = 5000


def chunks(items: Sequence[Any], size: int = CHUNK) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


@dataclass(frozen=True, slots=True)
class DamConnection:
    """A DAM connection as planning and sending see it."""

    id: uuid.UUID
    connector_key: str
    enabled: bool
    dry_run: bool


def is_dry_run(connection: Connection) -> bool:
    """The connection's ``dry_run`` setting (plan and record, send nothing)."""
    return bool((connection.settings or {}).get("dry_run", False))


async def dam_connections(session: AsyncSession) -> dict[uuid.UUID, DamConnection]:
    """Every connection of a DAM connector, by id."""
    rows = await session.scalars(
        select(Connection).where(Connection.connector_key.in_(sorted(MODES_BY_CONNECTOR)))
    )
    return {c.id: DamConnection(c.id, c.connector_key, c.enabled, is_dry_run(c)) for c in rows}


async def rule_targets(session: AsyncSession) -> list[tuple[uuid.UUID, list[Any]]]:
    """The enabled, live tag rules' targets, oldest rule first."""
    rows = await session.scalars(
        select(TagRule)
        .where(TagRule.enabled.is_(True), TagRule.archived_at.is_(None))
        .order_by(TagRule.created_at, TagRule.id)
    )
    return [(rule.id, list(rule.targets or [])) for rule in rows]


async def desired_concepts(
    session: AsyncSession, rule_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, tuple[uuid.UUID, dict[uuid.UUID, str]]]:
    """Per live asset with desired tags under ``rule_ids``: its connection and the concept
    of each rule."""
    out: dict[uuid.UUID, tuple[uuid.UUID, dict[uuid.UUID, str]]] = {}
    if not rule_ids:
        return out
    rows = await session.execute(
        select(DesiredTag.asset_id, Asset.connection_id, DesiredTag.rule_id, DesiredTag.concept)
        .join(Asset, Asset.id == DesiredTag.asset_id)
        .where(DesiredTag.rule_id.in_(rule_ids), Asset.deleted_at.is_(None))
    )
    for asset_id, connection_id, rule_id, concept in rows:
        out.setdefault(asset_id, (connection_id, {}))[1][rule_id] = concept
    return out


@dataclass(frozen=True, slots=True)
class StateKeys:
    """What planning reads of every (asset, connection) state: digests, not the states
    (a planning pass reads all of them)."""

    confirmed_key: str
    planned_key: str
    planned_version: int
    planned_dry_run: bool


async def state_keys(session: AsyncSession) -> dict[tuple[uuid.UUID, uuid.UUID], StateKeys]:
    """Every (asset, connection) state's digests, by key."""
    rows = await session.execute(
        select(
            WriteBackState.asset_id,
            WriteBackState.connection_id,
            WriteBackState.confirmed_key,
            WriteBackState.planned_key,
            WriteBackState.planned_version,
            WriteBackState.planned_dry_run,
        )
    )
    return {(row[0], row[1]): StateKeys(row[2], row[3], row[4], row[5]) for row in rows}


async def confirmed_states(
    session: AsyncSession, keys: Sequence[tuple[uuid.UUID, uuid.UUID]]
) -> dict[tuple[uuid.UUID, uuid.UUID], tuple[list[Any], dict[str, Any]]]:
    """The confirmed tags and metadata of ``keys`` (asset, connection) that have a state."""
    out: dict[tuple[uuid.UUID, uuid.UUID], tuple[list[Any], dict[str, Any]]] = {}
    wanted = set(keys)
    for part in chunks(sorted({asset_id for asset_id, _ in keys})):
        rows = await session.scalars(
            select(WriteBackState).where(WriteBackState.asset_id.in_(part))
        )
        for state in rows:
            key = (state.asset_id, state.connection_id)
            if key in wanted:
                out[key] = (list(state.confirmed_tags), dict(state.confirmed_metadata))
    return out


async def supersede_pending(
    session: AsyncSession, keys: Sequence[tuple[uuid.UUID, uuid.UUID]], now: datetime
) -> None:
    """Mark the pending write-backs of ``keys`` (asset, connection) superseded."""
    by_connection: dict[uuid.UUID, list[uuid.UUID]] = defaultdict(list)
    for asset_id, connection_id in keys:
        by_connection[connection_id].append(asset_id)
    for connection_id, assets in by_connection.items():
        for part in chunks(assets):
            await session.execute(
                update(WriteBack)
                .where(
                    WriteBack.connection_id == connection_id,
                    WriteBack.asset_id.in_(part),
                    WriteBack.status == WriteBackStatus.pending.value,
                )
                .values(status=WriteBackStatus.superseded.value, finished_at=now, updated_at=now)
                .execution_options(synchronize_session=False)
            )


# --- sending --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Claimed:
    """A write-back claimed for sending, with its asset's vendor reference."""

    row: WriteBack
    stream: str
    external_id: str
    #: The store's copy of the asset when the sender may use it instead of re-reading the
    #: asset (see ``claim``), else None.
    stored: dict[str, Any] | None = None


def _reusable(since: datetime) -> Any:
    """Whether a claimed row may be sent from the store's copy of its asset: its first
    attempt (a retry re-reads: the last attempt may have landed, QUALITY R13); planned by a
    reconciliation run, whose full read just compared that copy with the vendor (and fed
    what differed through the inbox); the copy written from a vendor read since ``since``
    and after the last write syncbridge confirmed for the asset (else the copy may predate
    that write)."""
    by_reconcile = (
        select(Run.id).where(Run.id == WriteBack.run_id, Run.kind == RECONCILE_KIND).exists()
    )
    return and_(
        WriteBack.status == WriteBackStatus.pending.value,
        WriteBack.attempts == 0,
        by_reconcile,
        Asset.deleted_at.is_(None),
        Asset.updated_at >= since,
        or_(WriteBackState.confirmed_at.is_(None), WriteBackState.confirmed_at < Asset.updated_at),
    )


async def claim(
    session: AsyncSession,
    connection_id: uuid.UUID,
    *,
    now: datetime,
    limit: int,
    owner: str,
    token: uuid.UUID,
    until: datetime,
    reuse_since: datetime | None = None,
) -> list[Claimed]:
    """Claim up to ``limit`` ready write-backs of a connection (pending and due, or sending
    with a lapsed lease): each becomes ``sending`` under ``token`` with one more attempt.
    With ``reuse_since``, the rows that may be sent without re-reading their asset carry
    the store's copy of it (``_reusable``)."""
    ready = or_(
        and_(WriteBack.status == WriteBackStatus.pending.value, WriteBack.run_after <= now),
        and_(WriteBack.status == WriteBackStatus.sending.value, WriteBack.lease_expires_at < now),
    )
    reusable: ColumnElement[bool] = _reusable(reuse_since) if reuse_since is not None else false()
    stored: ColumnElement[dict[str, Any] | None] = case((reusable, Asset.data), else_=null())
    stmt = (
        select(
            WriteBack,
            Asset.stream,
            Asset.external_id,
            stored.label("stored"),
        )
        .join(Asset, Asset.id == WriteBack.asset_id)
        .outerjoin(
            WriteBackState,
            and_(
                WriteBackState.asset_id == WriteBack.asset_id,
                WriteBackState.connection_id == WriteBack.connection_id,
            ),
        )
        .where(WriteBack.connection_id == connection_id, ready)
        .order_by(WriteBack.run_after, WriteBack.created_at, WriteBack.id)
        .limit(limit)
    )
    if session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update(of=WriteBack, skip_locked=True)
    claimed = []
    found = cast("Sequence[tuple[WriteBack, str, str, Any]]", (await session.execute(stmt)).all())
    for row, stream, external_id, copy_data in found:
        row.status = WriteBackStatus.sending.value
        row.attempts += 1
        row.lease_owner, row.lease_token, row.lease_expires_at = owner, token, until
        row.updated_at = now
        copy = dict(copy_data) if isinstance(copy_data, dict) else None
        claimed.append(Claimed(row, stream, external_id, copy))
    await session.flush()
    return claimed


async def held(
    session: AsyncSession, ids: Sequence[uuid.UUID], token: uuid.UUID
) -> dict[uuid.UUID, WriteBack]:
    """The write-backs of ``ids`` still held under ``token`` (locked on PostgreSQL)."""
    stmt = select(WriteBack).where(
        WriteBack.id.in_(ids),
        WriteBack.lease_token == token,
        WriteBack.status == WriteBackStatus.sending.value,
    )
    if session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update()
    return {row.id: row for row in await session.scalars(stmt)}


async def state_of(
    session: AsyncSession, asset_id: uuid.UUID, connection_id: uuid.UUID
) -> WriteBackState:
    """The (asset, connection) state, added when missing."""
    state = await session.get(WriteBackState, (asset_id, connection_id))
    if state is None:
        state = WriteBackState(
            asset_id=asset_id,
            connection_id=connection_id,
            confirmed_tags=[],
            confirmed_metadata={},
            confirmed_key=OwnedState().key(),
            planned_version=0,
            planned_tags=[],
            planned_metadata={},
            planned_key="",
            planned_dry_run=False,
        )
        session.add(state)
    return state


async def next_due(session: AsyncSession, connection_id: uuid.UUID) -> datetime | None:
    """When the connection's sender has work next: the earliest pending row's ``run_after``
    or sending row's lease expiry (None: nothing left)."""
    pending: datetime | None = await session.scalar(
        select(func.min(WriteBack.run_after)).where(
            WriteBack.connection_id == connection_id,
            WriteBack.status == WriteBackStatus.pending.value,
        )
    )
    leased: datetime | None = await session.scalar(
        select(func.min(WriteBack.lease_expires_at)).where(
            WriteBack.connection_id == connection_id,
            WriteBack.status == WriteBackStatus.sending.value,
        )
    )
    found = [t for t in (pending, leased) if t is not None]
    return min(found) if found else None


# --- lists ----------------------------------------------------------------------------------


def writebacks_query(
    *,
    asset_id: uuid.UUID | None = None,
    connection_id: uuid.UUID | None = None,
    status: str | None = None,
) -> Select[WriteBack]:
    """Write-backs matching every filter given, newest first."""
    stmt = select(WriteBack).order_by(WriteBack.created_at.desc(), WriteBack.id)
    if asset_id is not None:
        stmt = stmt.where(WriteBack.asset_id == asset_id)
    if connection_id is not None:
        stmt = stmt.where(WriteBack.connection_id == connection_id)
    if status is not None:
        stmt = stmt.where(WriteBack.status == status)
    return stmt


async def attempts_of(
    session: AsyncSession, ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, list[WriteBackAttempt]]:
    """The ledger rows of ``ids``, oldest first, by write-back."""
    out: dict[uuid.UUID, list[WriteBackAttempt]] = defaultdict(list)
    for part in chunks(list(ids)):
        rows = await session.scalars(
            select(WriteBackAttempt)
            .where(WriteBackAttempt.writeback_id.in_(part))
            .order_by(WriteBackAttempt.id)
        )
        for row in rows:
            out[row.writeback_id].append(row)
    return out


async def views(session: AsyncSession, rows: Sequence[WriteBack]) -> list[WriteBackOut]:
    """The API views of ``rows``, each with its attempts."""
    attempts = await attempts_of(session, [r.id for r in rows])
    return [
        writeback_view(row, [attempt_view(a) for a in attempts.get(row.id, [])]) for row in rows
    ]


async def list_writebacks(
    session: AsyncSession,
    params: PageParams,
    *,
    asset_id: uuid.UUID | None = None,
    connection_id: uuid.UUID | None = None,
    status: str | None = None,
) -> tuple[list[WriteBackOut], int]:
    """One page of write-backs, newest first, with their attempts, and the total."""
    stmt = writebacks_query(asset_id=asset_id, connection_id=connection_id, status=status)
    rows, total = await fetch_page(session, stmt, params)
    return await views(session, rows), total


async def writeback_history(
    session: AsyncSession, asset_id: uuid.UUID, limit: int
) -> tuple[list[WriteBackOut], int]:
    """An asset's write-backs, newest first (at most ``limit``), each with every attempt
    (the ledger), and how many it has: the write-back part of the asset's trace."""
    return await list_writebacks(session, PageParams(limit=limit, offset=0), asset_id=asset_id)


__all__ = [
    "Claimed",
    "DamConnection",
    "StateKeys",
    "attempts_of",
    "claim",
    "confirmed_states",
    "dam_connections",
    "desired_concepts",
    "held",
    "is_dry_run",
    "list_writebacks",
    "next_due",
    "rule_targets",
    "state_keys",
    "state_of",
    "supersede_pending",
    "writeback_history",
    "writebacks_query",
]
