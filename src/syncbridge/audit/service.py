"""Recording audit entries, in the same transaction as the change they describe."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from syncbridge.audit import repository
from syncbridge.audit.schemas import AuditEntryOut
from syncbridge.models import AuditEntry
from syncbridge.store.paging import Page, PageParams, fetch_page


async def record(
    session: AsyncSession,
    *,
    actor: str,
    action: str,
    entity_type: str,
    entity_id: object | None,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> AuditEntry:
    """Add one audit entry (flushed, not committed: the caller's transaction owns it).

    ``before``/``after`` must already be JSON-safe and must never hold a secret.
    """
    entry = AuditEntry(
        actor=actor,
        action=action,
        entity_type=entity_type,
        entity_id=None if entity_id is None else str(entity_id),
        before=before,
        after=after,
    )
    session.add(entry)
    await session.flush()
    return entry


async def list_entries(
    session: AsyncSession,
    paging: PageParams,
    *,
    entity_type: str | None = None,
    entity_id: str | None = None,
    actor: str | None = None,
    action: str | None = None,
    since: datetime | None = None,
) -> Page[AuditEntryOut]:
    """One page of the entries matching every filter given, newest first."""
    stmt = repository.audit_query(
        entity_type=entity_type, entity_id=entity_id, actor=actor, action=action, since=since
    )
    rows, total = await fetch_page(session, stmt, paging)
    return Page.of([AuditEntryOut.model_validate(r) for r in rows], total, paging)
