"""``/v1/audit``: read the audit log."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter

from syncbridge.api.deps import SessionDep, Viewer
from syncbridge.api.pagination import Page, Paging
from syncbridge.audit import repository
from syncbridge.audit.schemas import AuditEntryOut

router = APIRouter(prefix="/v1/audit", tags=["audit"])


@router.get("", operation_id="list_audit_entries")
async def list_audit_entries(
    session: SessionDep,
    _principal: Viewer,
    paging: Paging,
    entity_type: str | None = None,
    entity_id: str | None = None,
    actor: str | None = None,
    action: str | None = None,
    since: datetime | None = None,
) -> Page[AuditEntryOut]:
    """Every admin change, newest first: who, when, what, before and after."""
    stmt = repository.audit_query(
        entity_type=entity_type, entity_id=entity_id, actor=actor, action=action, since=since
    )
    rows, total = await repository.page(session, stmt, paging.limit, paging.offset)
    return Page.of([AuditEntryOut.model_validate(r) for r in rows], total, paging)
