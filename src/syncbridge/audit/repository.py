"""Audit queries."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Select, select

from syncbridge.models import AuditEntry


def audit_query(
    *,
    entity_type: str | None = None,
    entity_id: str | None = None,
    actor: str | None = None,
    action: str | None = None,
    since: datetime | None = None,
) -> Select[AuditEntry]:
    """Entries matching every filter given, newest first."""
    stmt = select(AuditEntry).order_by(AuditEntry.id.desc())
    if entity_type:
        stmt = stmt.where(AuditEntry.entity_type == entity_type)
    if entity_id:
        stmt = stmt.where(AuditEntry.entity_id == entity_id)
    if actor:
        stmt = stmt.where(AuditEntry.actor == actor)
    if action:
        stmt = stmt.where(AuditEntry.action == action)
    if since:
        stmt = stmt.where(AuditEntry.at >= since)
    return stmt
