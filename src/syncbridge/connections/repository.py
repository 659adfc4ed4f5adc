"""Connection queries."""

from __future__ import annotations

import uuid

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from syncbridge.errors import NotFound
from syncbridge.models import Connection


def connections_query(*, connector: str | None = None) -> Select[Connection]:
    """Every connection, optionally of one connector."""
    stmt = select(Connection)
    if connector:
        stmt = stmt.where(Connection.connector_key == connector)
    return stmt


async def page(
    session: AsyncSession, stmt: Select[Connection], limit: int, offset: int
) -> tuple[list[Connection], int]:
    """One page by name, and the total."""
    total = (await session.execute(select(func.count()).select_from(stmt.subquery()))).scalar_one()
    rows = await session.execute(
        stmt.order_by(Connection.name, Connection.id).limit(limit).offset(offset)
    )
    return list(rows.scalars()), total


async def get(
    session: AsyncSession, connection_id: uuid.UUID, *, for_update: bool = False
) -> Connection:
    """The connection ``connection_id`` (its row locked with ``for_update``); raises
    :class:`NotFound`."""
    row = await session.get(Connection, connection_id, with_for_update=for_update)
    if row is None:
        raise NotFound(f"No connection {connection_id}.")
    return row


async def by_name(session: AsyncSession, name: str) -> Connection | None:
    """The connection called ``name``, if any."""
    stmt = select(Connection).where(Connection.name == name)
    return (await session.execute(stmt)).scalar_one_or_none()


async def all_for_update(session: AsyncSession) -> list[Connection]:
    """Every connection, locked (on PostgreSQL) for a rewrite of its secrets."""
    rows = await session.execute(
        select(Connection).order_by(Connection.created_at, Connection.id).with_for_update()
    )
    return list(rows.scalars())
