"""Creating and verifying API keys. Keys are random; only their SHA-256 digest is stored."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from syncbridge.models import ApiKey, utcnow

KEY_PREFIX = "sbk_"


class Role(StrEnum):
    viewer = "viewer"
    editor = "editor"
    admin = "admin"

    def allows(self, needed: Role) -> bool:
        """True when this role includes everything ``needed`` may do."""
        order = [Role.viewer, Role.editor, Role.admin]
        return order.index(self) >= order.index(needed)


@dataclass(frozen=True)
class Principal:
    """Who is calling: the key's id, name and role."""

    key_id: str
    name: str
    role: Role

    @property
    def actor(self) -> str:
        return f"key:{self.name}"


def digest(raw_key: str) -> str:
    """The stored form of a key. Keys carry 256 bits of entropy, so a plain hash suffices."""
    return hashlib.sha256(raw_key.encode()).hexdigest()


async def create_key(session: AsyncSession, *, name: str, role: Role) -> tuple[ApiKey, str]:
    """Create a key; returns the row and the raw key, which is never retrievable again."""
    raw = KEY_PREFIX + secrets.token_urlsafe(32)
    row = ApiKey(name=name, role=role.value, prefix=raw[: len(KEY_PREFIX) + 6], digest=digest(raw))
    session.add(row)
    await session.flush()
    return row, raw


async def authenticate(session: AsyncSession, raw_key: str) -> Principal | None:
    """The principal for ``raw_key``, or None when it is unknown or revoked.

    The lookup is by digest (an indexed equality on a hash), so timing reveals nothing
    about the key itself.
    """
    row = (
        await session.execute(select(ApiKey).where(ApiKey.digest == digest(raw_key)))
    ).scalar_one_or_none()
    if row is None or row.revoked_at is not None:
        return None
    return Principal(key_id=str(row.id), name=row.name, role=Role(row.role))


async def revoke_key(session: AsyncSession, key: ApiKey) -> None:
    key.revoked_at = utcnow()
    await session.flush()


async def count_keys(session: AsyncSession, *, active_only: bool = True) -> int:
    """How many keys exist (by default only those not revoked)."""
    stmt = select(func.count()).select_from(ApiKey)
    if active_only:
        stmt = stmt.where(ApiKey.revoked_at.is_(None))
    return (await session.execute(stmt)).scalar_one()
