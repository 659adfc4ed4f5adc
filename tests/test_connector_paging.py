"""Page iterators: every item once, and a resume cursor that picks up exactly after a page."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Any

import pytest

from syncbridge.connector.errors import PermanentConnectorError
from syncbridge.connector.paging import (
    VendorPage,
    cloudinary_next_cursor,
    hubspot_next_after,
    pages_by_cursor,
    pages_by_number,
    pages_by_offset,
)

ITEMS = list(range(23))


async def by_number(page: int, limit: int = 5) -> Sequence[int]:
    return ITEMS[(page - 1) * limit : page * limit]


async def collect(pages: AsyncIterator[VendorPage[int]]) -> list[VendorPage[int]]:
    return [p async for p in pages]


async def test_page_numbers_stop_on_a_short_page() -> None:
    pages = await collect(pages_by_number(by_number, limit=5))
    assert [p.items for p in pages][-1] == [20, 21, 22]
    assert [i for p in pages for i in p.items] == ITEMS
    assert [p.next_cursor for p in pages] == ["2", "3", "4", "5", None]


async def test_a_full_last_page_ends_with_an_empty_page() -> None:
    pages = await collect(pages_by_number(lambda n: by_number(n, limit=23), limit=23))
    assert [len(p.items) for p in pages] == [23, 0]
    assert pages[-1].next_cursor is None


async def test_resuming_a_page_number_cursor_gives_the_rest() -> None:
    first = await collect(pages_by_number(by_number, limit=5))
    rest = await collect(pages_by_number(by_number, limit=5, cursor=first[1].next_cursor))
    assert [i for p in rest for i in p.items] == ITEMS[10:]


async def test_offsets_advance_by_what_came_back() -> None:
    async def fetch(offset: int) -> Sequence[int]:
        return ITEMS[offset : offset + 10]

    pages = await collect(pages_by_offset(fetch, limit=10))
    assert [p.next_cursor for p in pages] == ["10", "20", None]
    rest = await collect(pages_by_offset(fetch, limit=10, cursor="20"))
    assert [i for p in rest for i in p.items] == ITEMS[20:]


async def test_vendor_cursors_are_followed_until_absent() -> None:
    async def fetch(cursor: str | None) -> tuple[Sequence[int], str | None]:
        start = int(cursor or 0)
        body: dict[str, Any] = {"resources": ITEMS[start : start + 8]}
        if start + 8 < len(ITEMS):
            body["next_cursor"] = str(start + 8)
        return body["resources"], cloudinary_next_cursor(body)

    pages = await collect(pages_by_cursor(fetch))
    assert [p.next_cursor for p in pages] == ["8", "16", None]
    assert [i for p in pages for i in p.items] == ITEMS


@pytest.mark.parametrize("cursor", ["abc", "-1"])
async def test_a_bad_page_cursor_is_refused(cursor: str) -> None:
    with pytest.raises(PermanentConnectorError, match="cursor"):
        await collect(pages_by_number(by_number, limit=5, cursor=cursor))


def test_hubspot_after_is_read_from_paging_next() -> None:
    assert hubspot_next_after({"results": [], "paging": {"next": {"after": "356"}}}) == "356"
    assert hubspot_next_after({"results": []}) is None
    assert cloudinary_next_cursor({"resources": []}) is None
