"""Scans of the folder: the resumable cursor and the page-by-page walk.

A scan walks the tree in sorted order. A **full** scan (cursor None) returns every asset; an
**incremental** scan returns assets whose change time is at or after the cursor's mark.
The change time of an asset is the latest ``mtime`` or ``ctime`` of the file and its
sidecar: ``ctime`` cannot be set by tools, so copies with preserved times (``cp -p``,
``rsync -t``, unzip), renames and restored mtimes are caught too, and a keyword edit in
the sidecar counts as a change of its asset.

Cursor (opaque to the core, JSON): ``{"v": 1, "mark": M}`` between scans; mid-scan it adds
``after`` (the last path returned), ``started`` (wall clock at the scan's first page, ns)
and ``seen`` (the highest change time returned so far). The next mark is
``max(M, min(seen, started) - lookback)``: never after the scan began, so nothing that
changed during the scan is skipped; never backwards, so empty scans do not drift.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import time
from dataclasses import dataclass, replace
from typing import Any

from syncbridge.connector.errors import PermanentConnectorError
from syncbridge_localfolder.tree import AssetTree, path_key

CURSOR_VERSION = 1


@dataclass(frozen=True)
class ScanCursor:
    """Where a scan stands; see the module docstring for the fields."""

    mark: int | None = None
    after: str | None = None
    started: int | None = None
    seen: int | None = None

    @property
    def in_progress(self) -> bool:
        """Whether this cursor points into a scan (rather than between two scans)."""
        return self.started is not None

    def begin(self, now_ns: int) -> ScanCursor:
        """The cursor of a scan starting now (a mid-scan cursor resumes as it is)."""
        return self if self.in_progress else replace(self, started=now_ns)

    def advanced(self, last_path: str, change_ns: int) -> ScanCursor:
        """After returning ``last_path``; ``change_ns`` is the highest change time so far."""
        seen = change_ns if self.seen is None else max(self.seen, change_ns)
        return replace(self, after=last_path, seen=seen)

    def finished(self, lookback_ns: int) -> ScanCursor:
        """The between-scans cursor the next incremental read starts from."""
        assert self.started is not None
        base = self.started if self.seen is None else min(self.seen, self.started)
        candidate = base - lookback_ns
        mark = candidate if self.mark is None else max(self.mark, candidate)
        return ScanCursor(mark=mark)

    def encode(self) -> str:
        """The opaque string form."""
        body: dict[str, Any] = {"v": CURSOR_VERSION, "mark": self.mark}
        if self.in_progress:
            body |= {"after": self.after, "started": self.started, "seen": self.seen}
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
            )
        except (ValueError, TypeError, binascii.Error, UnicodeDecodeError) as exc:
            raise PermanentConnectorError(f"not a localfolder cursor: {cursor!r}") from exc
        return found


@dataclass(frozen=True)
class Candidate:
    """An asset chosen for a page, before hashing: its path and change time."""

    path: str
    change_ns: int


def select_page(tree: AssetTree, cursor: ScanCursor, size: int) -> tuple[list[Candidate], bool]:
    """Up to ``size`` assets after the cursor's position passing its mark, and whether more exist.

    Only ``stat`` calls: the expensive hashing is done for the chosen files alone.
    """
    after = path_key(cursor.after) if cursor.after is not None else None
    chosen: list[Candidate] = []
    for relative, info in tree.walk(after):
        change_ns = change_time(tree, relative, info)
        if cursor.mark is not None and change_ns < cursor.mark:
            continue
        if len(chosen) == size:
            return chosen, True
        chosen.append(Candidate(relative, change_ns))
    return chosen, False


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


def _optional_str(value: object) -> str | None:
    if value is None or isinstance(value, str):
        return value
    raise TypeError("expected a string")
