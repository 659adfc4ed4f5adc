"""The resume cursor of Bynder's ``media`` stream: a ``dateModified`` watermark plus a page.

Bynder lists media ``page``/``limit`` over ``orderBy=dateModified asc`` and filters
``dateModified=<since>`` inclusively, to the second, so many media can share a timestamp.
Page numbers alone would skip or double items when media change during a read (a changed
medium jumps to the end of the order), so the cursor moves ``since`` forward to the last
timestamp of every page and restarts at page 1. The ids already read at that timestamp ride
along in ``seen`` so they are not read twice.

Only a block of ties longer than a page (a bulk import) is walked by page number. There a
medium of the block that changes mid-walk leaves the block, every later one shifts one place
left, and the medium crossing a page boundary already walked would be skipped. So a walk that
spanned pages is not trusted: the block is walked again from page 1 (reading only ids not in
``seen``) until two consecutive walks see the same block members. A skip needs a member of
the walk to leave the block (a change moves it to a later second, never back), so the second
of two equal walks saw every member (DESIGN guarantee 3: nothing skipped). Each walk keeps an
order-free digest of the members it saw (``walk``), the previous finished walk's digest rides
in ``prior``. The media of a walk's last page that lie past the block wait for the last walk.
``seen`` grows to the size of the block while it is walked. Walking by page number at all
assumes Bynder keeps ties in one order from request to request (the simulator orders them by
id); walks end because a block only loses members, one per change.

The watermark cursor of the last page keeps ``since`` but forgets ``seen``: the next
incremental run re-reads the media of that last second (upserts make that a no-op) and so
also catches a medium changed twice within that second.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from syncbridge.connector.errors import PermanentConnectorError

Media = Mapping[str, Any]

_DIGEST_MOD = 1 << 128
_DIGEST = re.compile(r"[0-9a-f]+:[0-9a-f]{32}")


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
class MediaStep:
    """What one listed page gives: the media to emit, the next cursor, whether it was the last."""

    media: list[Media]
    cursor: MediaCursor
    last: bool


@dataclass(frozen=True)
class MediaCursor:
    """Where a ``media`` read resumes: list from ``since`` (inclusive) at ``page``."""

    since: str | None = None
    page: int = 1
    seen: tuple[str, ...] = ()
    #: Digest of the block members the current walk of a tie block has seen so far.
    walk: str = ""
    #: Digest of the previous finished walk of the same block (None: no walk finished yet).
    prior: str | None = None

    def encode(self) -> str:
        """The cursor as the string a ``Page`` carries."""
        data: dict[str, Any] = {"since": self.since, "page": self.page, "seen": list(self.seen)}
        if self.walk or self.prior is not None:
            data |= {"walk": self.walk, "prior": self.prior}
        return json.dumps(data, separators=(",", ":"))

    @classmethod
    def decode(cls, raw: str | None) -> MediaCursor:
        """Parse ``encode``'s output (None: from the start); raises PermanentConnectorError."""
        if raw is None:
            return cls()
        try:
            data = json.loads(raw)
            since, page, seen = data["since"], data["page"], data["seen"]
            walk, prior = data.get("walk", ""), data.get("prior")
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            raise PermanentConnectorError("bynder: not a media cursor") from exc
        valid = (
            (since is None or isinstance(since, str))
            and isinstance(page, int)
            and page >= 1
            and isinstance(seen, list)
            and all(isinstance(i, str) for i in seen)
            and (walk == "" or _is_digest(walk))
            and (prior is None or _is_digest(prior))
        )
        if not valid:
            raise PermanentConnectorError("bynder: not a media cursor")
        return cls(since, page, tuple(seen), walk, prior)

    def params(self) -> dict[str, str]:
        """The list filter for this cursor (``page``/``limit`` are added by the reader)."""
        return {"dateModified": self.since} if self.since else {}

    def step(self, items: Sequence[Media], limit: int) -> MediaStep:
        """The media to emit from page ``items`` (listed with this cursor) and what follows."""
        full = len(items) >= limit
        if self.since is None:
            return self._leave(list(items), items, full=full)
        since = _parse(self.since)
        block = [m for m in items if modified_at(m) == since]
        already = set(self.seen)
        new = [m for m in block if m["id"] not in already]
        seen = self.seen + tuple(m["id"] for m in new)
        walk = _mix(self.walk, block)
        if full and len(block) == len(items):
            # The whole page shares ``since``: walk the block of ties by page number.
            return MediaStep(
                new, MediaCursor(self.since, self.page + 1, seen, walk, self.prior), False
            )
        if self.page > 1 and walk != self.prior:
            # The walk spanned pages and is not confirmed by an equal one: walk it again.
            return MediaStep(new, MediaCursor(self.since, 1, seen, "", walk), False)
        beyond = [m for m in items if modified_at(m) != since]
        return self._leave(new + beyond, items, full=full)

    def _leave(self, emit: list[Media], items: Sequence[Media], *, full: bool) -> MediaStep:
        """Emit ``emit`` and move past ``since`` to the last timestamp of ``items``."""
        if not full:
            # The watermark a later incremental read starts from.
            return MediaStep(
                emit, MediaCursor(items[-1]["dateModified"] if items else self.since), True
            )
        last = modified_at(items[-1])
        ties = tuple(m["id"] for m in items if modified_at(m) == last)
        return MediaStep(emit, MediaCursor(items[-1]["dateModified"], 1, ties), False)


def _mix(digest: str, block: Sequence[Media]) -> str:
    """``digest`` (of a multiset of ids) with the ids of ``block`` added, order-free."""
    count, total = (int(part, 16) for part in digest.split(":")) if digest else (0, 0)
    for media in block:
        hashed = hashlib.blake2b(str(media["id"]).encode(), digest_size=16).digest()
        total = (total + int.from_bytes(hashed, "big")) % _DIGEST_MOD
    return f"{count + len(block):x}:{total:032x}"


def _is_digest(value: object) -> bool:
    return isinstance(value, str) and _DIGEST.fullmatch(value) is not None


def _parse(value: str) -> datetime:
    return modified_at({"dateModified": value})


__all__ = ["MediaCursor", "MediaStep", "modified_at"]
