"""The resume cursor of Bynder's ``media`` stream: a ``dateModified`` watermark plus a page.

Bynder lists media ``page``/``limit`` over ``orderBy=dateModified asc`` and filters
``dateModified=<since>`` inclusively, to the second, so many media can share a timestamp.
Page numbers alone would skip or double items when media change during a read (a changed
medium jumps to the end of the order), so the cursor moves ``since`` forward to the last
timestamp of every page and restarts at page 1. The ids already read at that timestamp ride
along in ``seen`` (at most one page of them) so they are not read twice; only a block of ties
longer than a page is walked by page number. A medium that changes during the read gets a
newer ``dateModified`` and is read again later: nothing is skipped (DESIGN guarantee 3).

The watermark cursor of the last page keeps ``since`` but forgets ``seen``: the next
incremental run re-reads the media of that last second (upserts make that a no-op) and so
also catches a medium changed twice within that second.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from syncbridge.connector.errors import PermanentConnectorError

Media = Mapping[str, Any]


def modified_at(media: Media) -> datetime:
    """A medium's ``dateModified`` as an aware datetime; raises PermanentConnectorError."""
    value = media.get("dateModified")
    try:
        at = datetime.fromisoformat(str(value))
    except ValueError as exc:
        raise PermanentConnectorError(f"bynder: dateModified {value!r} is not ISO 8601") from exc
    if at.tzinfo is None:
        raise PermanentConnectorError(f"bynder: dateModified {value!r} has no time zone")
    return at


@dataclass(frozen=True)
class MediaCursor:
    """Where a ``media`` read resumes: list from ``since`` (inclusive) at ``page``."""

    since: str | None = None
    page: int = 1
    seen: tuple[str, ...] = ()

    def encode(self) -> str:
        """The cursor as the string a ``Page`` carries."""
        return json.dumps(
            {"since": self.since, "page": self.page, "seen": list(self.seen)},
            separators=(",", ":"),
        )

    @classmethod
    def decode(cls, raw: str | None) -> MediaCursor:
        """Parse ``encode``'s output (None: from the start); raises PermanentConnectorError."""
        if raw is None:
            return cls()
        try:
            data = json.loads(raw)
            since, page, seen = data["since"], data["page"], data["seen"]
        except (ValueError, TypeError, KeyError) as exc:
            raise PermanentConnectorError("bynder: not a media cursor") from exc
        valid = (
            (since is None or isinstance(since, str))
            and isinstance(page, int)
            and page >= 1
            and isinstance(seen, list)
            and all(isinstance(i, str) for i in seen)
        )
        if not valid:
            raise PermanentConnectorError("bynder: not a media cursor")
        return cls(since, page, tuple(seen))

    def params(self) -> dict[str, str]:
        """The list filter for this cursor (``page``/``limit`` are added by the reader)."""
        return {"dateModified": self.since} if self.since else {}

    def fresh(self, items: Sequence[Media]) -> list[Media]:
        """The media of a page not read already (ties at ``since`` listed in ``seen``)."""
        if not self.seen:
            return list(items)
        seen = set(self.seen)
        return [m for m in items if not (m["dateModified"] == self.since and m["id"] in seen)]

    def after(self, items: Sequence[Media]) -> MediaCursor:
        """The cursor after a full page ``items`` read with this cursor."""
        last = items[-1]["dateModified"]
        if self.since is None or modified_at(items[-1]) > _parse(self.since):
            return MediaCursor(last, 1, tuple(m["id"] for m in items if m["dateModified"] == last))
        # The whole page shares ``since``: walk the block of ties by page number.
        return MediaCursor(self.since, self.page + 1, self.seen)

    def watermark(self, items: Sequence[Media]) -> MediaCursor:
        """The cursor a later incremental read starts from, after the last (short) page."""
        return MediaCursor(items[-1]["dateModified"] if items else self.since)


def _parse(value: str) -> datetime:
    return modified_at({"dateModified": value})


__all__ = ["MediaCursor", "modified_at"]
