"""``/v1/audit``: read the audit log."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import AfterValidator, AwareDatetime, BeforeValidator

from syncbridge.api.deps import SessionDep, UnitOfWorkRoute, Viewer
from syncbridge.api.pagination import Page, Paging
from syncbridge.audit import service
from syncbridge.audit.schemas import AuditEntryOut

router = APIRouter(prefix="/v1/audit", tags=["audit"], route_class=UnitOfWorkRoute)


def _not_a_number(value: object) -> object:
    # pydantic would read "1700000000" as a Unix time; the API promises RFC 3339 only.
    if isinstance(value, str):
        try:
            float(value)
        except ValueError:
            return value
        raise ValueError("must be an RFC 3339 date-time such as 2026-01-31T09:00:00Z")
    return value


def _in_utc_range(value: datetime | None) -> datetime | None:
    # 0001-01-01T00:00:00+14:00 is a valid RFC 3339 time that no UTC timestamp can hold.
    if value is None:
        return None
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise ValueError("must lie between years 1 and 9999 in UTC") from None


Since = Annotated[
    AwareDatetime | None,
    BeforeValidator(_not_a_number),
    AfterValidator(_in_utc_range),
    Query(description="Only entries at or after this RFC 3339 date-time (with an offset)."),
]


@router.get("", operation_id="list_audit_entries")
async def list_audit_entries(
    session: SessionDep,
    _principal: Viewer,
    paging: Paging,
    entity_type: str | None = None,
    entity_id: str | None = None,
    actor: str | None = None,
    action: str | None = None,
    since: Since = None,
) -> Page[AuditEntryOut]:
    """Every admin change, newest first: who, when, what, before and after."""
    return await service.list_entries(
        session,
        paging,
        entity_type=entity_type,
        entity_id=entity_id,
        actor=actor,
        action=action,
        since=since,
    )
