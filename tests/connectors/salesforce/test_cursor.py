"""The resume cursor: a page admitted at once moves it exactly as its rows one by one would."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import pairwise

from hypothesis import given, settings
from hypothesis import strategies as st
from syncbridge_salesforce.cursor import MAX_SEEN, ModstampCursor

T0 = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
Key = tuple[datetime, str]


def sf_id(n: int) -> str:
    return f"003Hs{n:010d}IAA"


def one_by_one(cursor: ModstampCursor, keys: list[Key]) -> list[bool]:
    return [cursor.admit(stamp, record_id) for stamp, record_id in keys]


def state(cursor: ModstampCursor) -> tuple[object, ...]:
    return cursor.boundary, cursor.seen, cursor.after, cursor.encode()


def same_moves(start: ModstampCursor, pages: list[list[Key]]) -> None:
    paged, single = ModstampCursor.decode(start.encode()), ModstampCursor.decode(start.encode())
    for keys in pages:
        assert paged.admit_sorted(keys) == one_by_one(single, keys)
        assert state(paged) == state(single)
        assert ModstampCursor.decode(paged.encode()) == paged


keys_strategy = st.lists(st.tuples(st.integers(0, 4), st.integers(0, 12)), max_size=40).map(
    lambda pairs: sorted((T0 + timedelta(seconds=s), sf_id(i)) for s, i in pairs)
)


@settings(max_examples=300, deadline=None)
@given(
    keys=keys_strategy,
    cuts=st.lists(st.integers(0, 40), max_size=3),
    boundary=st.none() | st.integers(0, 4),
    seen=st.lists(st.integers(0, 12), max_size=5, unique=True),
    after=st.none() | st.integers(0, 12),
)
def test_pages_move_the_cursor_as_their_rows_do(
    keys: list[Key], cuts: list[int], boundary: int | None, seen: list[int], after: int | None
) -> None:
    if boundary is None:
        start = ModstampCursor()
    else:
        start = ModstampCursor(
            T0 + timedelta(seconds=boundary),
            [sf_id(i) for i in sorted(seen)],
            None if after is None else sf_id(after),
        )
    # The pages of one read: consecutive slices of the rows in order.
    bounds = [0, *sorted(min(c, len(keys)) for c in cuts), len(keys)]
    same_moves(start, [keys[a:b] for a, b in pairwise(bounds)])


def test_a_tie_block_longer_than_the_cursor_keeps_moves_it_as_its_rows_do() -> None:
    block = [(T0, sf_id(i)) for i in range(2 * MAX_SEEN + 150)]
    before = [(T0 - timedelta(seconds=1), sf_id(i)) for i in range(3)]
    same_moves(ModstampCursor(), [before + block[:500], block[500:], block[-3:]])
    same_moves(ModstampCursor(), [before + block + block[-1:]])
    same_moves(ModstampCursor(T0, [sf_id(7)]), [block])


def test_rows_up_to_the_boundary_are_admitted_unless_read() -> None:
    cursor = ModstampCursor(T0, [sf_id(2)])
    keys = [
        (T0 - timedelta(seconds=1), sf_id(9)),
        (T0, sf_id(1)),
        (T0, sf_id(2)),
        (T0, sf_id(3)),
        (T0 + timedelta(seconds=1), sf_id(0)),
        (T0 + timedelta(seconds=1), sf_id(0)),
        (T0 + timedelta(seconds=1), sf_id(4)),
    ]
    assert cursor.admit_sorted(keys) == [False, True, False, True, True, False, True]
    assert cursor.boundary == T0 + timedelta(seconds=1)
    assert cursor.seen == [sf_id(0), sf_id(4)]
    assert cursor.after is None
