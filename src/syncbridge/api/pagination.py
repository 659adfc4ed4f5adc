"""Offset pagination with a capped page size, shared by every list endpoint."""

from __future__ import annotations

from typing import Annotated, Generic, TypeVar

from fastapi import Depends, Query, Request
from pydantic import BaseModel
from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from syncbridge.errors import InvalidInput

T = TypeVar("T")


class PageParams(BaseModel):
    limit: int
    offset: int


def page_params(
    request: Request,
    limit: Annotated[int, Query(ge=1, description="Page size (capped by the server).")] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> PageParams:
    """Read ``limit``/``offset``; a limit above the cap is a 422, not a silent clamp."""
    cap: int = request.app.state.settings.page_size_max
    if limit > cap:
        raise InvalidInput(
            f"limit must be at most {cap}",
            errors=[{"field": "limit", "reason": f"must be at most {cap}"}],
        )
    return PageParams(limit=limit, offset=offset)


Paging = Annotated[PageParams, Depends(page_params)]


class Page(BaseModel, Generic[T]):
    """One page of a list: the items, the total, and where the next page starts."""

    items: list[T]
    total: int
    limit: int
    offset: int
    next_offset: int | None

    @classmethod
    def of(cls, items: list[T], total: int, params: PageParams) -> Page[T]:
        end = params.offset + len(items)
        return cls(
            items=items,
            total=total,
            limit=params.limit,
            offset=params.offset,
            next_offset=end if end < total else None,
        )


async def fetch_page(
    session: AsyncSession, stmt: Select[T], params: PageParams
) -> tuple[list[T], int]:
    """One page of the rows ``stmt`` selects (order it first), and how many there are."""
    counted = select(func.count()).select_from(stmt.order_by(None).subquery())
    total = (await session.execute(counted)).scalar_one()
    rows = await session.execute(stmt.limit(params.limit).offset(params.offset))
    return list(rows.scalars()), int(total)
