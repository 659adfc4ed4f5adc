"""What the ``/v1/keys`` endpoints answer: each a single call over the key service."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from syncbridge.auth import repository, service
from syncbridge.auth.schemas import ApiKeyCreate, ApiKeyCreated, ApiKeyOut
from syncbridge.store.paging import Page, PageParams, fetch_page

__all__ = ["ApiKeyCreate", "ApiKeyCreated", "ApiKeyOut", "create_key", "list_keys", "revoke_key"]


async def list_keys(session: AsyncSession, paging: PageParams) -> Page[ApiKeyOut]:
    rows, total = await fetch_page(session, repository.keys_query(), paging)
    return Page.of([ApiKeyOut.model_validate(r) for r in rows], total, paging)


async def create_key(session: AsyncSession, body: ApiKeyCreate, *, actor: str) -> ApiKeyCreated:
    row, raw = await service.create_key(session, name=body.name, role=body.role, actor=actor)
    return ApiKeyCreated(**ApiKeyOut.model_validate(row).model_dump(), key=raw)


async def revoke_key(session: AsyncSession, key_id: uuid.UUID, *, actor: str) -> None:
    await service.revoke_key(session, key_id, actor=actor)
