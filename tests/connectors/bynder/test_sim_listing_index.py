"""The Bynder simulator's indexed listing answers exactly what filtering and sorting every
medium answers (issue 7, item 7: a page costs about the page)."""

from __future__ import annotations

import itertools

import pytest
from syncbridge_bynder.sim_state import BynderPortal

from syncbridge.sandbox.world import World

ORDERS = [
    "dateModified asc",
    "dateModified desc",
    "dateCreated asc",
    "dateCreated desc",
    "name asc",
    "name desc",
]


@pytest.fixture(scope="module")
def portal() -> BynderPortal:
    made = BynderPortal(World(seed=7, assets_count=120))
    # Many media sharing one second, as a bulk import leaves them.
    for media_id in itertools.islice(made.media, 0, 120, 3):
        made.edit(media_id, dateModified="2026-03-01T10:00:00+00:00")
    return made


@pytest.mark.parametrize("order", ORDERS)
@pytest.mark.parametrize("since", [None, "2026-03-01T10:00:00Z", "2000-01-01T00:00:00Z"])
@pytest.mark.parametrize(("page", "limit"), [(1, 7), (3, 7), (2, 50), (9, 50), (1, 1000)])
def test_an_indexed_page_is_the_page_of_the_full_listing(
    portal: BynderPortal, order: str, since: str | None, page: int, limit: int
) -> None:
    params = {"orderBy": order, **({"dateModified": since} if since else {})}
    expected = portal.listing(params)
    chunk, total, _matched = portal.listing_page(params, page, limit)
    assert total == len(expected)
    assert [m["id"] for m in chunk] == [
        m["id"] for m in expected[(page - 1) * limit : page * limit]
    ]


def test_an_edit_moves_the_medium_in_the_index(portal: BynderPortal) -> None:
    params = {"orderBy": "dateModified asc"}
    first = portal.listing_page(params, 1, 1)[0][0]["id"]
    portal.edit(first, dateModified="2099-01-01T00:00:00+00:00")
    last = len(portal.media)
    last_page, total, _ = portal.listing_page(params, last, 1)
    assert total == last
    assert last_page[0]["id"] == first
