"""``/v1/keys``: API key management (admin only)."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, status
from sqlalchemy import func, select

from syncbridge.api.deps import Admin, SessionDep
from syncbridge.api.pagination import Page, Paging
from syncbridge.audit.service import record
from syncbridge.auth import service
from syncbridge.auth.schemas import ApiKeyCreate, ApiKeyCreated, ApiKeyOut
from syncbridge.errors import NotFound
from syncbridge.models import ApiKey

router = APIRouter(prefix="/v1/keys", tags=["keys"])


@router.get("", operation_id="list_api_keys")
async def list_keys(session: SessionDep, _principal: Admin, paging: Paging) -> Page[ApiKeyOut]:
    """Every key (never the key itself)."""
    total = (await session.execute(select(func.count()).select_from(ApiKey))).scalar_one()
    rows = await session.execute(
        select(ApiKey).order_by(ApiKey.created_at).limit(paging.limit).offset(paging.offset)
    )
    return Page.of([ApiKeyOut.model_validate(r) for r in rows.scalars()], total, paging)


@router.post("", status_code=status.HTTP_201_CREATED, operation_id="create_api_key")
async def create_key(body: ApiKeyCreate, session: SessionDep, principal: Admin) -> ApiKeyCreated:
    """Create a key; the response carries it once."""
    row, raw = await service.create_key(session, name=body.name, role=body.role)
    out = ApiKeyOut.model_validate(row)
    await record(
        session,
        actor=principal.actor,
        action="key.create",
        entity_type="api_key",
        entity_id=row.id,
        after=out.model_dump(mode="json"),
    )
    await session.commit()
    return ApiKeyCreated(**out.model_dump(), key=raw)


@router.delete("/{key_id}", status_code=status.HTTP_204_NO_CONTENT, operation_id="revoke_api_key")
async def revoke_key(key_id: uuid.UUID, session: SessionDep, principal: Admin) -> None:
    """Revoke a key; it stops working at once."""
    row = await session.get(ApiKey, key_id)
    if row is None:
        raise NotFound(f"No API key {key_id}.")
    before = ApiKeyOut.model_validate(row).model_dump(mode="json")
    await service.revoke_key(session, row)
    await record(
        session,
        actor=principal.actor,
        action="key.revoke",
        entity_type="api_key",
        entity_id=row.id,
        before=before,
        after=ApiKeyOut.model_validate(row).model_dump(mode="json"),
    )
    await session.commit()
