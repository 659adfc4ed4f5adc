"""First start: one audited admin key for a development store, never one in production."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from syncbridge.auth.service import Role, authenticate
from syncbridge.bootstrap import bootstrap_store
from syncbridge.models import ApiKey, AuditEntry
from syncbridge.settings import Settings


async def test_development_store_gets_one_audited_admin_key(
    settings: Settings, session: AsyncSession
) -> None:
    raw = await bootstrap_store(settings)
    assert raw is not None
    principal = await authenticate(session, raw)
    assert principal is not None
    assert principal.role is Role.admin
    audit = (
        await session.execute(select(AuditEntry).where(AuditEntry.action == "key.create"))
    ).scalar_one()
    assert audit.actor == "bootstrap"
    assert raw not in str(audit.after)
    assert await bootstrap_store(settings) is None


async def test_no_new_key_after_every_key_was_revoked(
    settings: Settings, session: AsyncSession
) -> None:
    raw = await bootstrap_store(settings)
    assert raw is not None
    key = (await session.execute(select(ApiKey))).scalar_one()
    key.revoked_at = key.created_at
    await session.commit()
    assert await bootstrap_store(settings) is None


async def test_production_store_gets_no_key(settings: Settings, session: AsyncSession) -> None:
    production = settings.model_copy(update={"environment": "production"})
    assert await bootstrap_store(production) is None
    assert (await session.execute(select(ApiKey))).first() is None
