"""Sorted key lists behind the simulator's listings, and the keyset cursors that page them.

Every listing of the Admin API resources family is served from one sorted list of keys
(creation order ``(created_at, asset_id)``, public-id order ``(public_id, asset_id)`` or tag
names), kept true by the store on every edit. A page is a bisect plus a slice of
``max_results + 1`` keys: it costs about the page, never the product environment.

Cursors are opaque hex (as Cloudinary's look) holding the listing's identity (its kind, its
direction and its lower bound) and the last key served. A cursor names a position, not an
offset, so a page boundary never moves when resources are added, removed or retagged; a
cursor handed to a different listing is refused (400 ``Invalid next_cursor``).
"""

from __future__ import annotations

import bisect
import json
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any

from syncbridge_cloudinary.simulator_errors import CloudinaryApiError

#: ``(created_at timestamp, asset_id)``: creation order, ties broken by asset id.
TimeKey = tuple[float, str]
#: ``(public_id, asset_id)``: public-id order.
NameKey = tuple[str, str]
#: An index's name: ``(family, *scope)``, e.g. ``("tag", "image", "sale")``.
IndexName = tuple[Hashable, ...]
#: Longer cursors are refused before they are decoded.
MAX_CURSOR_CHARS = 2048


class SortedKeys:
    """Sorted, duplicate-free keys of one listing; insert and remove keep the order."""

    __slots__ = ("keys",)

    def __init__(self, keys: list[Any] | None = None) -> None:
        self.keys: list[Any] = keys if keys is not None else []

    def __len__(self) -> int:
        return len(self.keys)

    def add(self, key: Any) -> None:
        at = bisect.bisect_left(self.keys, key)
        if at == len(self.keys) or self.keys[at] != key:
            self.keys.insert(at, key)

    def discard(self, key: Any) -> None:
        at = bisect.bisect_left(self.keys, key)
        if at < len(self.keys) and self.keys[at] == key:
            del self.keys[at]


class IndexFamily:
    """Sorted key lists by index name (``("tag", "image", "sale")``...); empty ones dropped."""

    def __init__(self) -> None:
        self.lists: dict[IndexName, SortedKeys] = {}

    def get(self, name: IndexName) -> list[Any]:
        """The sorted keys under ``name`` (empty when none)."""
        found = self.lists.get(name)
        return found.keys if found is not None else []

    def add(self, name: IndexName, key: Any) -> None:
        self.lists.setdefault(name, SortedKeys()).add(key)

    def discard(self, name: IndexName, key: Any) -> None:
        found = self.lists.get(name)
        if found is not None:
            found.discard(key)
            if not found:
                del self.lists[name]

    def append_unsorted(self, name: IndexName, key: Any) -> None:
        """Bulk loading: append now, :meth:`sort_all` once at the end."""
        self.lists.setdefault(name, SortedKeys()).keys.append(key)

    def sort_all(self) -> None:
        for found in self.lists.values():
            found.keys = sorted(set(found.keys))


#: The types of a key's parts, checked before a cursor's key is compared with stored keys.
TIME_KEY_TYPES: tuple[tuple[type, ...], ...] = ((int, float), (str,))
NAME_KEY_TYPES: tuple[tuple[type, ...], ...] = ((str,), (str,))
TAG_KEY_TYPES: tuple[tuple[type, ...], ...] = ((str,),)


@dataclass(frozen=True)
class Listing:
    """What a cursor is valid for: the listing's kind, direction and lower bound."""

    kind: str
    key_types: tuple[tuple[type, ...], ...] = TIME_KEY_TYPES
    descending: bool = False
    floor: tuple[Any, ...] | None = None

    def encode(self, last: tuple[Any, ...]) -> str:
        """The opaque ``next_cursor`` after ``last``."""
        data = [self.kind, self.descending, self.floor, list(last)]
        return json.dumps(data, separators=(",", ":")).encode().hex()

    def decode(self, cursor: str) -> tuple[Any, ...]:
        """The last key a cursor of this listing served; 400 for any other cursor."""
        data: Any = None
        if len(cursor) <= MAX_CURSOR_CHARS:
            try:
                data = json.loads(bytes.fromhex(cursor))
            except (ValueError, UnicodeDecodeError):
                data = None
        floor = list(self.floor) if self.floor is not None else None
        if (
            not isinstance(data, list)
            or len(data) != 4
            or data[:3] != [self.kind, self.descending, floor]
            or not self._fits(data[3])
        ):
            raise CloudinaryApiError(400, "Invalid next_cursor")
        return tuple(data[3])

    def _fits(self, key: Any) -> bool:
        return (
            isinstance(key, list)
            and len(key) == len(self.key_types)
            and all(
                isinstance(part, types) and not isinstance(part, bool)
                for part, types in zip(key, self.key_types, strict=True)
            )
        )


def page_of(
    keys: list[Any],
    listing: Listing,
    *,
    max_results: int,
    cursor: str | None,
    while_: Callable[[Any], bool] | None = None,
) -> tuple[list[Any], str | None]:
    """One page of ``keys`` (sorted ascending) in the listing's direction, from its floor.

    ``while_`` ends the listing at the first key it refuses (a prefix run). Returns the page's
    keys and the cursor after it, None when nothing follows.
    """
    after = listing.decode(cursor) if cursor else None
    low = bisect.bisect_left(keys, listing.floor) if listing.floor is not None else 0
    if listing.descending:
        high = bisect.bisect_left(keys, after) if after is not None else len(keys)
        chunk = keys[max(low, high - max_results - 1) : high][::-1]
    else:
        start = max(low, bisect.bisect_right(keys, after)) if after is not None else low
        chunk = keys[start : start + max_results + 1]
    if while_ is not None:
        ended = next((i for i, key in enumerate(chunk) if not while_(key)), None)
        chunk = chunk if ended is None else chunk[:ended]
    if len(chunk) > max_results:
        page = chunk[:max_results]
        return page, listing.encode(page[-1])
    return chunk, None


__all__ = [
    "MAX_CURSOR_CHARS",
    "NAME_KEY_TYPES",
    "TAG_KEY_TYPES",
    "TIME_KEY_TYPES",
    "IndexFamily",
    "IndexName",
    "Listing",
    "NameKey",
    "SortedKeys",
    "TimeKey",
    "page_of",
]
