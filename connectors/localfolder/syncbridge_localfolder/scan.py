"""Scans of the folder: the resumable cursor and the page-by-page walk.

A scan walks the tree in sorted order. A **full** scan (cursor None) returns every asset; an
**incremental** scan returns assets whose change time is at or after the cursor's mark.
The change time of an asset is the latest ``mtime`` or ``ctime`` of the file and its
sidecar: ``ctime`` cannot be set by tools, so copies with preserved times (``cp -p``,
``rsync -t``, unzip), renames and restored mtimes are caught too, and a keyword edit in
the sidecar counts as a change of its asset.

Cursor (opaque to the core, JSON): ``{"v": 1, "mark": M, "edge": [...]}`` between scans;
mid-scan it adds ``after`` (the last path returned), ``started`` (wall clock at the scan's
first page, ns), ``seen`` (the highest change time returned so far) and ``pending``. The
next mark is ``max(M, min(seen, started) - lookback)``: never after the scan began, so
nothing that changed during the scan is skipped; never backwards, so empty scans do not
drift.

The look-back makes the next scan meet again the assets that changed just before this one
began. ``edge`` lists those (a short hash of the path and the change time, at most
``EDGE_MAX``): the next incremental scan skips an asset whose change time is still the one
listed, so a read with nothing changed returns nothing, and an asset changed since (another
change time) comes back. ``pending`` collects the next edge during a scan; past
``EDGE_MAX`` entries it is dropped (``null``) and those assets are simply read once more,
which upsert by content hash makes harmless. Cursors without the two fields (written before
they existed) are read as having an empty edge.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from syncbridge.connector.errors import PermanentConnectorError
from syncbridge.connector.folders import path_key
from syncbridge_localfolder.tree import AssetTree

CURSOR_VERSION = 1
#: At most this many assets are remembered at a scan's edge (see the module docstring).
EDGE_MAX = 256

EdgeEntry = tuple[str, int]


def edge_key(path: str) -> str:
    """A short, stable stand-in for a path in the cursor (the cursor stays small)."""
    return hashlib.blake2b(path.encode("utf-8", "surrogatepass"), digest_size=8).hexdigest()


@dataclass(frozen=True)
class ScanCursor:
    """Where a scan stands; see the module docstring for the fields."""

    mark: int | None = None
    after: str | None = None
    started: int | None = None
    seen: int | None = None
    #: The previous scan's edge: assets to skip while their change time is unchanged.
    edge: frozenset[EdgeEntry] = frozenset()
    #: This scan's edge so far (None: more than ``EDGE_MAX``, not kept).
    pending: tuple[EdgeEntry, ...] | None = ()

    @property
    def in_progress(self) -> bool:
        """Whether this cursor points into a scan (rather than between two scans)."""
        return self.started is not None

    def begin(self, now_ns: int) -> ScanCursor:
        """The cursor of a scan starting now (a mid-scan cursor resumes as it is)."""
        return self if self.in_progress else replace(self, started=now_ns)

    def skips(self, path: str, change_ns: int) -> bool:
        """Whether the previous scan's edge holds this asset unchanged."""
        return bool(self.edge) and (edge_key(path), change_ns) in self.edge

    def paged(
        self, skipped: Sequence[Candidate], chosen: Sequence[Candidate], lookback_ns: int
    ) -> ScanCursor:
        """After a page: ``skipped`` (unchanged assets of the previous edge met on the way)
        and ``chosen`` (returned, in order) each remembered for the next edge if it may fall
        inside it, the position after the last one returned."""
        after, seen = self.after, self.seen
        pending = None if self.pending is None else dict(self.pending)
        floor: int | None = None
        for candidate, returned in [*((c, False) for c in skipped), *((c, True) for c in chosen)]:
            if returned:
                after = candidate.path
                seen = candidate.change_ns if seen is None else max(seen, candidate.change_ns)
            if pending is not None:
                # After the first asset the floor only rises (it may drop once, when ``seen``
                # is first set, but then nothing lies under it): an entry under it stays
                # under it, so entries are dropped only on the first asset, when ``pending``
                # would outgrow ``EDGE_MAX``, and at the end.
                first = floor is None
                floor = self._floor(lookback_ns, seen)
                key = edge_key(candidate.path)
                pending.pop(key, None)
                if candidate.change_ns >= floor:
                    pending[key] = candidate.change_ns
                if first or len(pending) > EDGE_MAX:
                    pending = {k: ns for k, ns in pending.items() if ns >= floor}
                    pending = pending if len(pending) <= EDGE_MAX else None
        if pending is not None and floor is not None:
            pending = {k: ns for k, ns in pending.items() if ns >= floor}
        kept = None if pending is None else tuple(pending.items())
        return replace(self, after=after, seen=seen, pending=kept)

    def _floor(self, lookback_ns: int, seen: int | None = None) -> int:
        """Where the next mark will lie at the lowest, given what the scan has seen so far
        (``seen``, by default the cursor's)."""
        assert self.started is not None
        seen = self.seen if seen is None else seen
        base = self.started if seen is None else min(seen, self.started)
        return base - lookback_ns

    def finished(self, lookback_ns: int) -> ScanCursor:
        """The between-scans cursor the next incremental read starts from."""
        candidate = self._floor(lookback_ns)
        mark = candidate if self.mark is None else max(self.mark, candidate)
        edge = frozenset(e for e in self.pending or () if e[1] >= mark)
        return ScanCursor(mark=mark, edge=edge)

    def encode(self) -> str:
        """The opaque string form."""
        body: dict[str, Any] = {"v": CURSOR_VERSION, "mark": self.mark}
        if self.edge:
            body["edge"] = sorted([k, ns] for k, ns in self.edge)
        if self.in_progress:
            body |= {"after": self.after, "started": self.started, "seen": self.seen}
            body["pending"] = None if self.pending is None else [list(e) for e in self.pending]
        raw = json.dumps(body, separators=(",", ":"), sort_keys=True).encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @classmethod
    def decode(cls, cursor: str | None) -> ScanCursor:
        """Parse a cursor; None is the start of a full scan. Raises PermanentConnectorError."""
        if cursor is None:
            return cls()
        try:
            raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
            body = json.loads(raw)
            if not isinstance(body, dict) or body.get("v") != CURSOR_VERSION:
                raise ValueError("unknown cursor version")
            found = cls(
                mark=_optional_int(body.get("mark")),
                after=_optional_str(body.get("after")),
                started=_optional_int(body.get("started")),
                seen=_optional_int(body.get("seen")),
                edge=frozenset(_entries(body.get("edge", []))),
                pending=_pending(body.get("pending", [])),
            )
        except (ValueError, TypeError, binascii.Error, UnicodeDecodeError) as exc:
            raise PermanentConnectorError(f"not a localfolder cursor: {cursor!r}") from exc
        return found


@dataclass(frozen=True)
class Candidate:
    """An asset chosen for a page, before hashing: its path and change time."""

    path: str
    change_ns: int


def select_page(
    tree: AssetTree, cursor: ScanCursor, size: int
) -> tuple[list[Candidate], list[Candidate], bool]:
    """Up to ``size`` assets after the cursor's position passing its mark, the unchanged
    assets of the previous edge met on the way (skipped), and whether more exist.

    Only ``stat`` calls: the expensive hashing is done for the chosen files alone.
    """
    after = path_key(cursor.after) if cursor.after is not None else None
    chosen: list[Candidate] = []
    skipped: list[Candidate] = []
    for relative, info in tree.walk(after):
        change_ns = change_time(tree, relative, info)
        if cursor.mark is not None and change_ns < cursor.mark:
            continue
        if len(chosen) == size:
            return chosen, skipped, True
        if cursor.skips(relative, change_ns):
            skipped.append(Candidate(relative, change_ns))
            continue
        chosen.append(Candidate(relative, change_ns))
    return chosen, skipped, False


def change_time(tree: AssetTree, relative: str, info: os.stat_result) -> int:
    """The latest mtime/ctime of an asset file and of its sidecar, in ns."""
    latest = max(info.st_mtime_ns, info.st_ctime_ns)
    try:
        side = os.lstat(tree.sidecar_of(tree.root / relative))
    except FileNotFoundError:
        return latest
    return max(latest, side.st_mtime_ns, side.st_ctime_ns)


def now_ns() -> int:
    """The wall clock in ns, the same clock file times come from."""
    return time.time_ns()


def _optional_int(value: object) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError("expected an integer")
    return value


def _pending(value: object) -> tuple[EdgeEntry, ...] | None:
    return None if value is None else _entries(value)


def _entries(value: object) -> tuple[EdgeEntry, ...]:
    if not isinstance(value, list) or len(value) > EDGE_MAX:
        raise TypeError("expected a list of at most EDGE_MAX edge entries")
    out: list[EdgeEntry] = []
    for item in value:
        if not (isinstance(item, list) and len(item) == 2 and isinstance(item[0], str)):
            raise TypeError("expected [key, change time]")
        change = _optional_int(item[1])
        if change is None:
            raise TypeError("expected a change time")
        out.append((item[0], change))
    return tuple(out)


def _optional_str(value: object) -> str | None:
    if value is None or isinstance(value, str):
        return value
    raise TypeError("expected a string")
