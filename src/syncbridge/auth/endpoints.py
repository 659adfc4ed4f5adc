"""``/v1/keys``: API key management (admin only)."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, status

from syncbridge.api.deps import Admin, SessionDep, UnitOfWorkRoute
from syncbridge.api.pagination import Page, Paging
from syncbridge.auth import views

router = APIRouter(prefix="/v1/keys", tags=["keys"], route_class=UnitOfWorkRoute)


@router.get("", operation_id="list_api_keys")
async def list_keys(
    session: SessionDep, _principal: Admin, paging: Paging
) -> Page[views.ApiKeyOut]:
    """Every key (never the key itself)."""
    return await views.list_keys(session, paging)


@router.post("", status_code=status.HTTP_201_CREATED, operation_id="create_api_key")
async def create_key(
    body: views.ApiKeyCreate, session: SessionDep, principal: Admin
) -> views.ApiKeyCreated:
    """Create a key; the response carries it once."""
    return await views.create_key(session, body, actor=principal.actor)


@router.delete(
    "/{key_id:uuid}", status_code=status.HTTP_204_NO_CONTENT, operation_id="revoke_api_key"
)
async def revoke_key(key_id: uuid.UUID, session: SessionDep, principal: Admin) -> None:
    """Revoke a key; it stops working at once."""
    await views.revoke_key(session, key_id, actor=principal.actor)
