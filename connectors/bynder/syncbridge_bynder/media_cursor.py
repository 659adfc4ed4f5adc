"""The resume cursor of Bynder's ``media`` stream: a ``dateModified`` watermark, the media
already read near it, and a page number for long blocks of ties.

Bynder lists media ``page``/``limit`` over ``orderBy=dateModified asc`` and filters
``dateModified=<T>`` to the second, "modified after" ``T`` without saying whether a medium at
exactly ``T`` is kept. The reader does not depend on it: it lists from one second before
``floor`` and drops what is older than ``floor``, so either reading gives the same media.
Many media can share a second, so ``seen`` holds what was already emitted near the watermark
(``id -> (dateModified, fingerprint)``; the fingerprint is a digest of the medium's JSON) and a
listed medium is dropped only when it is there unchanged: a medium changed again within the
same second comes back.

Page numbers alone would skip or double media that change during a read (a changed medium
jumps to the end of the order), so after every full page ``since`` and ``floor`` move to the
page's last timestamp and the listing restarts at page 1.

A block of media at or before ``since`` longer than a page (a bulk import) is walked by page
number. There a medium of the block that changes mid-walk leaves the block, every later one
shifts one place left, and the medium crossing a page boundary already walked would be
skipped. So a walk that spanned pages is not trusted: the block is walked again from page 1
(emitting only media not in ``seen``) until two consecutive walks see the same members. A
skip needs a member to leave the block (a change moves it to a later second, never back), so
the second of two equal walks saw every member (DESIGN guarantee 3: nothing skipped). Each
walk keeps an order-free digest of the members it saw (``walk``); the previous finished walk's
digest rides in ``prior``. The media of a walk's last page past the block wait for the last
walk. Walking by page number assumes Bynder keeps ties in one order from request to request
(the simulator orders them by id); walks end because a block only loses members.

The watermark cursor (the last page's) looks back: its ``floor`` lies ``lookback`` seconds
before ``since``, so the next incremental read lists those seconds again and also gets media
that Bynder's search index showed late; ``seen`` covers them, so with nothing changed the read
returns nothing. ``seen`` keeps at most ``SEEN_LIMIT`` media besides those of the newest
second (all of which it must keep); past that the look-back shrinks (``window``, from which
``seen`` is complete, moves up) rather than the cursor growing.

Cursors of the previous format (``{"since", "page", "seen": [ids], "walk"?, "prior"?}``) are
read as they were meant: the ids in ``seen`` count as read at ``since``, whatever their data.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from operator import attrgetter, itemgetter
from typing import Any

from syncbridge.connector.errors import PermanentConnectorError

Media = Mapping[str, Any]
#: id -> (dateModified as listed, fingerprint; "" when unknown: any data at that second).
Seen = Mapping[str, tuple[str, str]]

VERSION = 2
#: Media a watermark cursor remembers besides those of its newest second.
SEEN_LIMIT = 1000
_DIGEST_MOD = 1 << 128
_DIGEST = re.compile(r"[0-9a-f]+:[0-9a-f]{32}")
_PRINT = re.compile(r"(|[0-9a-f]{16})")
_SECOND = timedelta(seconds=1)
_DATE_MODIFIED = itemgetter("dateModified")
_TZINFO = attrgetter("tzinfo")


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


def _dated(items: Sequence[Media]) -> list[tuple[Media, datetime]]:
    """Each medium with its ``modified_at``, parsed in one C-level pass when they all parse
    (else one by one, for ``modified_at``'s error)."""
    try:
        times = list(map(datetime.fromisoformat, map(_DATE_MODIFIED, items)))
    except (KeyError, TypeError, ValueError):
        times = []
    if len(times) != len(items) or None in map(_TZINFO, times):
        return [(m, modified_at(m)) for m in items]
    return list(zip(items, times, strict=True))


def fingerprint(media: Media) -> str:
    """A digest of everything the listing shows of a medium."""
    raw = json.dumps(media, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.blake2b(raw.encode(), digest_size=8).hexdigest()


@dataclass(frozen=True)
class MediaStep:
    """What one listed page gives: the media to emit (each with its ``dateModified``), the
    next cursor, whether it was the last."""

    media: list[tuple[Media, datetime]]
    cursor: MediaCursor
    last: bool


@dataclass(frozen=True)
class MediaCursor:
    """Where a ``media`` read resumes: list media from ``floor`` (those at or before ``since``
    already read unless new to ``seen``) at ``page``."""

    since: str | None = None
    #: The oldest second the next listing considers (``since``, or earlier to look back).
    floor: str | None = None
    page: int = 1
    seen: Seen = field(default_factory=dict)
    #: ``seen`` holds every medium emitted from this second up to ``since``.
    window: str | None = None
    #: Digest of the block members the current walk of a tie block has seen so far.
    walk: str = ""
    #: Digest of the previous finished walk of the same block (None: no walk finished yet).
    prior: str | None = None

    def encode(self) -> str:
        """The cursor as the string a ``Page`` carries."""
        groups: dict[str, dict[str, str]] = {}
        for media_id, (stamp, printed) in sorted(self.seen.items(), key=lambda e: e[1][0]):
            groups.setdefault(stamp, {})[media_id] = printed
        data: dict[str, Any] = {
            "v": VERSION,
            "since": self.since,
            "floor": self.floor,
            "window": self.window,
            "page": self.page,
            "seen": groups,
        }
        if self.walk or self.prior is not None:
            data |= {"walk": self.walk, "prior": self.prior}
        return json.dumps(data, separators=(",", ":"))

    @classmethod
    def decode(cls, raw: str | None) -> MediaCursor:
        """Parse ``encode``'s output, or a cursor of the previous format (None: from the
        start); raises PermanentConnectorError."""
        if raw is None:
            return cls()
        try:
            data = json.loads(raw)
            cursor = _decode(data) if data.get("v") == VERSION else _decode_previous(data)
        except (ValueError, TypeError, KeyError, AttributeError, PermanentConnectorError) as exc:
            raise PermanentConnectorError("bynder: not a media cursor") from exc
        if cursor is None:
            raise PermanentConnectorError("bynder: not a media cursor")
        return cursor

    def params(self) -> dict[str, str]:
        """The list filter for this cursor (``page``/``limit`` are added by the reader).

        One second before ``floor``: "after" read inclusively or exclusively, the answer
        holds every medium from ``floor`` on.
        """
        if self.floor is None:
            return {}
        return {"dateModified": _iso(_parse(self.floor) - _SECOND)}

    def step(self, items: Sequence[Media], limit: int, lookback_s: float = 0.0) -> MediaStep:
        """The media to emit from page ``items`` (listed with this cursor) and what follows.

        ``lookback_s`` is how far before its watermark the last page's cursor looks again.
        """
        full = len(items) >= limit
        dated = _dated(items)
        if self.since is None:
            return self._leave([], dated, dated, self.seen, full=full, lookback_s=lookback_s)
        since = _parse(self.since)
        floor = _parse(self.floor or self.since)
        block = [(m, at) for m, at in dated if at <= since]
        new = [(m, at) for m, at in block if at >= floor and not self._already(m, at)]
        seen = {**self.seen, **_entries(new)}
        walk = _mix(self.walk, [m for m, _at in block])
        if full and len(block) == len(items):
            # The whole page lies at or before ``since``: walk the block by page number.
            return MediaStep(new, replace(self, page=self.page + 1, seen=seen, walk=walk), False)
        if self.page > 1 and walk != self.prior:
            # The walk spanned pages and is not confirmed by an equal one: walk it again.
            return MediaStep(new, replace(self, page=1, seen=seen, walk="", prior=walk), False)
        beyond = [(m, at) for m, at in dated if at > since]
        return self._leave(new, beyond, dated, seen, full=full, lookback_s=lookback_s)

    def _already(self, media: Media, at: datetime) -> bool:
        entry = self.seen.get(str(media["id"]))
        if entry is None or _parse(entry[0]) != at:
            return False
        return entry[1] == "" or entry[1] == fingerprint(media)

    def _leave(
        self,
        entered: list[tuple[Media, datetime]],
        fresh: list[tuple[Media, datetime]],
        dated: list[tuple[Media, datetime]],
        seen: Seen,
        *,
        full: bool,
        lookback_s: float,
    ) -> MediaStep:
        """Emit ``entered`` (already in ``seen``) and ``fresh``, and move past ``since`` to the
        last timestamp of the page ``dated``."""
        media = entered + fresh
        newest = max((at for _m, at in dated), default=None)
        if self.since is not None and (newest is None or newest < _parse(self.since)):
            newest = _parse(self.since)
        if newest is None:
            return MediaStep(media, MediaCursor(), True)
        since = _iso(newest)
        back = newest - timedelta(seconds=math.ceil(lookback_s))
        window = max(back, _parse(self.window)) if self.window and self.since else back
        recent = [(m, at) for m, at in fresh if at >= back]
        kept, window = _bounded({**seen, **_entries(recent)}, newest, window)
        if not full:
            # The watermark a later incremental read starts from, looking back to ``window``.
            floor = _iso(window)
            return MediaStep(media, MediaCursor(since, floor, 1, kept, floor), True)
        return MediaStep(media, MediaCursor(since, since, 1, kept, _iso(window)), False)


def _entries(dated: Sequence[tuple[Media, datetime]]) -> dict[str, tuple[str, str]]:
    """``seen`` entries for media listed with their ``dateModified``."""
    return {str(m["id"]): (str(m["dateModified"]), fingerprint(m)) for m, _at in dated}


def _bounded(
    seen: Seen, newest: datetime, window: datetime
) -> tuple[dict[str, tuple[str, str]], datetime]:
    """``seen`` cut to ``window``..``newest`` and to ``SEEN_LIMIT`` media besides those of
    the newest second; the window moves up past any second it had to forget."""
    by_text: dict[str, list[str]] = {}
    for media_id, (stamp, _printed) in seen.items():
        by_text.setdefault(stamp, []).append(media_id)
    by_stamp: dict[datetime, list[str]] = {}
    for stamp, ids in by_text.items():
        at = _parse(stamp)
        if at >= window:
            by_stamp.setdefault(at, []).extend(ids)
    kept = 0
    for at in sorted(by_stamp, reverse=True):
        if at != newest and kept + len(by_stamp[at]) > SEEN_LIMIT:
            window = at + _SECOND
            break
        kept += len(by_stamp[at])
    return {
        media_id: seen[media_id] for at, ids in by_stamp.items() if at >= window for media_id in ids
    }, window


def _decode(data: Mapping[str, Any]) -> MediaCursor | None:
    since, floor, window, page = data["since"], data["floor"], data["window"], data["page"]
    walk, prior, groups = data.get("walk", ""), data.get("prior"), data["seen"]
    stamps = [s for s in (since, floor, window) if s is not None]
    valid = (
        all(isinstance(s, str) for s in stamps)
        and (since is None) == (floor is None)
        and isinstance(page, int)
        and page >= 1
        and isinstance(groups, dict)
        and all(isinstance(g, dict) for g in groups.values())
        and (walk == "" or _is_digest(walk))
        and (prior is None or _is_digest(prior))
    )
    if not valid:
        return None
    for stamp in [*stamps, *groups]:
        _parse(stamp)
    seen = {}
    for stamp, group in groups.items():
        for media_id, printed in group.items():
            if not isinstance(printed, str) or not _PRINT.fullmatch(printed):
                return None
            seen[media_id] = (stamp, printed)
    return MediaCursor(since, floor, page, seen, window, walk, prior)


def _decode_previous(data: Mapping[str, Any]) -> MediaCursor | None:
    """A cursor of the format before look-back: its ``seen`` ids were read at ``since``."""
    since, page, ids = data["since"], data["page"], data["seen"]
    walk, prior = data.get("walk", ""), data.get("prior")
    valid = (
        (since is None or isinstance(since, str))
        and isinstance(page, int)
        and page >= 1
        and isinstance(ids, list)
        and all(isinstance(i, str) for i in ids)
        and (walk == "" or _is_digest(walk))
        and (prior is None or _is_digest(prior))
    )
    if not valid or (since is None and ids):
        return None
    if since is not None:
        _parse(since)
    seen = dict.fromkeys(ids, (since, ""))
    return MediaCursor(since, since, page, seen, since, walk, prior)


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


def _iso(at: datetime) -> str:
    """Bynder's date format: UTC, to the second, ``Z``."""
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


__all__ = ["SEEN_LIMIT", "MediaCursor", "MediaStep", "fingerprint", "modified_at"]
