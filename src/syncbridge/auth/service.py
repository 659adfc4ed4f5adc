"""Creating, revoking and verifying API keys. Keys are random; only their SHA-256 digest is
stored. Every creation and revocation is audited and bumps the ``api_keys`` store revision,
which is what :class:`KeyCache` checks, so a revoked key stops working at once everywhere."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from syncbridge.audit.service import record
from syncbridge.auth import repository
from syncbridge.errors import NotFound
from syncbridge.models import ApiKey, utcnow
from syncbridge.store import revisions

KEY_PREFIX = "sbk_"
ENTITY = "api_key"


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
        """Who to record in the audit log: the key's name (names need not be unique) and id,
        within the 200 characters the log keeps."""
        return f"key:{self.name[:150]} ({self.key_id})"


def digest(raw_key: str) -> str:
    """The stored form of a key. Keys carry 256 bits of entropy, so a plain hash suffices."""
    return hashlib.sha256(raw_key.encode()).hexdigest()


def snapshot(row: ApiKey) -> dict[str, Any]:
    """A key's audit form: its public view, never the key or its digest."""
    return {
        "id": str(row.id),
        "name": row.name,
        "role": row.role,
        "prefix": row.prefix,
        "created_at": row.created_at.isoformat() if row.created_at else None,
        "revoked_at": row.revoked_at.isoformat() if row.revoked_at else None,
    }


async def create_key(
    session: AsyncSession, *, name: str, role: Role, actor: str
) -> tuple[ApiKey, str]:
    """Create a key, audited; returns the row and the raw key, never retrievable again."""
    await revisions.lock_for_write(session, revisions.API_KEYS)
    raw = KEY_PREFIX + secrets.token_urlsafe(32)
    row = ApiKey(
        name=name,
        role=role.value,
        prefix=raw[: len(KEY_PREFIX) + 6],
        digest=digest(raw),
        created_at=utcnow(),
    )
    session.add(row)
    await session.flush()
    await record(
        session,
        actor=actor,
        action="key.create",
        entity_type=ENTITY,
        entity_id=row.id,
        after=snapshot(row),
    )
    return row, raw


async def revoke_key(session: AsyncSession, key_id: uuid.UUID, *, actor: str) -> ApiKey:
    """Revoke a key (idempotent), audited; raises NotFound."""
    await revisions.lock_for_write(session, revisions.API_KEYS)
    row = await repository.get(session, key_id)
    if row is None:
        raise NotFound(f"No API key {key_id}.")
    if row.revoked_at is not None:
        return row
    before = snapshot(row)
    row.revoked_at = utcnow()
    await session.flush()
    await record(
        session,
        actor=actor,
        action="key.revoke",
        entity_type=ENTITY,
        entity_id=row.id,
        before=before,
        after=snapshot(row),
    )
    return row


async def authenticate(session: AsyncSession, raw_key: str) -> Principal | None:
    """The principal for ``raw_key``, or None when it is unknown or revoked."""
    row = await repository.by_digest(session, digest(raw_key))
    if row is None or row.revoked_at is not None:
        return None
    return Principal(key_id=str(row.id), name=row.name, role=Role(row.role))


async def count_keys(session: AsyncSession, *, active_only: bool = True) -> int:
    """How many keys exist (by default only those not revoked)."""
    return await repository.count(session, active_only=active_only)


class KeyCache:
    """Authenticated keys, kept for as long as the ``api_keys`` revision stays the same.

    Each request reads the store revisions (one small query, shared with the read models of
    the same request), so a key revoked by any process is refused by every process from its
    next request on.
    """

    def __init__(self) -> None:
        self._revision: int | None = None
        self._principals: dict[str, Principal] = {}

    async def authenticate(self, session: AsyncSession, raw_key: str) -> Principal | None:
        """The principal of ``raw_key`` (None: unknown or revoked), in ``session``'s
        transaction."""
        key_digest = digest(raw_key)
        revision = (await revisions.current(session)).get(revisions.API_KEYS)
        if revision != self._revision:
            self._principals, self._revision = {}, revision
        cached = self._principals.get(key_digest)
        if cached is not None:
            return cached
        principal = await authenticate(session, raw_key)
        if principal is not None and revision == self._revision:
            self._principals[key_digest] = principal
        return principal
