"""Offset paging over ``Select`` statements: a neutral store helper every list uses."""

from __future__ import annotations

from typing import Generic, TypeVar

from pydantic import BaseModel
from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

T = TypeVar("T")


class PageParams(BaseModel):
    """Which slice of a list to read."""

    limit: int
    offset: int


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
