"""API key queries."""

from __future__ import annotations

import uuid

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from syncbridge.models import ApiKey


def keys_query() -> Select[ApiKey]:
    """Every key, oldest first."""
    return select(ApiKey).order_by(ApiKey.created_at, ApiKey.id)


async def by_digest(session: AsyncSession, key_digest: str) -> ApiKey | None:
    """The key whose digest is ``key_digest`` (an indexed equality on a hash)."""
    stmt = select(ApiKey).where(ApiKey.digest == key_digest)
    return (await session.execute(stmt)).scalar_one_or_none()


async def get(session: AsyncSession, key_id: uuid.UUID) -> ApiKey | None:
    return await session.get(ApiKey, key_id)


async def count(session: AsyncSession, *, active_only: bool = True) -> int:
    """How many keys exist (by default only those not revoked)."""
    stmt = select(func.count()).select_from(ApiKey)
    if active_only:
        stmt = stmt.where(ApiKey.revoked_at.is_(None))
    return int((await session.execute(stmt)).scalar_one())
