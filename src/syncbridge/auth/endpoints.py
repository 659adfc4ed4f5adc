"""``/v1/keys``: API key management (admin only)."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, status
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from syncbridge.api.deps import Admin, SessionDep
from syncbridge.api.pagination import Page, Paging, fetch_page
from syncbridge.audit.service import record
from syncbridge.auth import service
from syncbridge.auth.schemas import ApiKeyCreate, ApiKeyCreated, ApiKeyOut
from syncbridge.auth.service import Principal
from syncbridge.errors import NotFound
from syncbridge.models import ApiKey

router = APIRouter(prefix="/v1/keys", tags=["keys"])


@router.get("", operation_id="list_api_keys")
async def list_keys(session: SessionDep, _principal: Admin, paging: Paging) -> Page[ApiKeyOut]:
    """Every key (never the key itself)."""
    stmt = select(ApiKey).order_by(ApiKey.created_at, ApiKey.id)
    rows, total = await fetch_page(session, stmt, paging)
    return Page.of([ApiKeyOut.model_validate(r) for r in rows], total, paging)


@router.post("", status_code=status.HTTP_201_CREATED, operation_id="create_api_key")
async def create_key(body: ApiKeyCreate, session: SessionDep, principal: Admin) -> ApiKeyCreated:
    """Create a key; the response carries it once."""
    row, raw = await service.create_key(session, name=body.name, role=body.role)
    await _audit(session, principal, "key.create", row)
    await session.commit()
    return ApiKeyCreated(**ApiKeyOut.model_validate(row).model_dump(), key=raw)


@router.delete(
    "/{key_id:uuid}", status_code=status.HTTP_204_NO_CONTENT, operation_id="revoke_api_key"
)
async def revoke_key(key_id: uuid.UUID, session: SessionDep, principal: Admin) -> None:
    """Revoke a key; it stops working at once."""
    row = await session.get(ApiKey, key_id)
    if row is None:
        raise NotFound(f"No API key {key_id}.")
    before = _snapshot(row)
    await service.revoke_key(session, row)
    await _audit(session, principal, "key.revoke", row, before)
    await session.commit()


def _snapshot(row: ApiKey) -> dict[str, Any]:
    # The key's public view: never the key or its digest.
    return ApiKeyOut.model_validate(row).model_dump(mode="json")


async def _audit(
    session: AsyncSession,
    principal: Principal,
    action: str,
    row: ApiKey,
    before: dict[str, Any] | None = None,
) -> None:
    await record(
        session,
        actor=principal.actor,
        action=action,
        entity_type="api_key",
        entity_id=row.id,
        before=before,
        after=_snapshot(row),
    )
