"""Page iterators for the vendors' paging styles, each page with the cursor to resume after it.

A connector hands these a small ``fetch`` coroutine that makes one vendor call and turns
the answer into items; the iterator keeps the paging state and yields :class:`VendorPage`
objects whose ``next_cursor`` is a string the connector can put in its own ``Page``.

* :func:`pages_by_number`: ``page``/``limit`` over bare arrays, stop on a short page (Bynder).
* :func:`pages_by_offset`: ``offset``/``limit`` (GA4, AEM), stop on a short page.
* :func:`pages_by_cursor`: an opaque cursor from each answer (Cloudinary ``next_cursor``,
  HubSpot ``paging.next.after``), stop when there is none.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from syncbridge.connector.errors import PermanentConnectorError

T = TypeVar("T")


@dataclass(frozen=True)
class VendorPage(Generic[T]):
    """The items of one vendor page, and the cursor to resume after it (None: no more)."""

    items: list[T]
    next_cursor: str | None


def _int_cursor(cursor: str | None, default: int, what: str) -> int:
    if cursor is None:
        return default
    try:
        value = int(cursor)
    except ValueError:
        value = -1
    if value < 0:
        raise PermanentConnectorError(f"not a {what} cursor: {cursor!r}")
    return value


async def pages_by_number(
    fetch: Callable[[int], Awaitable[Sequence[T]]],
    *,
    limit: int,
    cursor: str | None = None,
    first_page: int = 1,
) -> AsyncIterator[VendorPage[T]]:
    """Pages ``first_page, first_page + 1, ...`` until a page holds fewer than ``limit`` items.

    ``fetch(page)`` returns that page's items; the cursor is the next page number. A full last
    page costs one more call, which returns an empty final page.
    """
    page = _int_cursor(cursor, first_page, "page-number")
    while True:
        items = list(await fetch(page))
        done = len(items) < limit
        yield VendorPage(items, None if done else str(page + 1))
        if done:
            return
        page += 1


async def pages_by_offset(
    fetch: Callable[[int], Awaitable[Sequence[T]]],
    *,
    limit: int,
    cursor: str | None = None,
) -> AsyncIterator[VendorPage[T]]:
    """Offsets ``0, limit, 2 * limit, ...`` until a page holds fewer than ``limit`` items."""
    offset = _int_cursor(cursor, 0, "offset")
    while True:
        items = list(await fetch(offset))
        done = len(items) < limit
        offset += len(items)
        yield VendorPage(items, None if done else str(offset))
        if done:
            return


async def pages_by_cursor(
    fetch: Callable[[str | None], Awaitable[tuple[Sequence[T], str | None]]],
    *,
    cursor: str | None = None,
) -> AsyncIterator[VendorPage[T]]:
    """Follow the vendor's own cursor: ``fetch(cursor)`` returns ``(items, next_cursor)``."""
    while True:
        items, next_cursor = await fetch(cursor)
        next_cursor = next_cursor or None
        yield VendorPage(list(items), next_cursor)
        if next_cursor is None:
            return
        cursor = next_cursor


def cloudinary_next_cursor(body: Mapping[str, Any]) -> str | None:
    """Cloudinary's ``next_cursor`` (absent on the last page)."""
    value = body.get("next_cursor")
    return str(value) if value else None


def hubspot_next_after(body: Mapping[str, Any]) -> str | None:
    """HubSpot's ``paging.next.after`` (``paging`` is absent on the last page)."""
    paging = body.get("paging")
    following = paging.get("next") if isinstance(paging, Mapping) else None
    after = following.get("after") if isinstance(following, Mapping) else None
    return str(after) if after else None


__all__ = [
    "VendorPage",
    "cloudinary_next_cursor",
    "hubspot_next_after",
    "pages_by_cursor",
    "pages_by_number",
    "pages_by_offset",
]
