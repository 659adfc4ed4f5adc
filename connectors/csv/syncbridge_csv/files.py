"""The export files of a stream: the confined walk, and the read cursor that remembers them.

The walk never leaves the root: it does not follow symbolic links, skips hidden files and
folders (a leading ``.``: uploads in progress are hidden), and matches each file's POSIX
path relative to the root, case-insensitively, against the connection's ``include`` and the
stream's ``pattern`` (``fnmatch``; ``*`` crosses folders).

Cursor (opaque to the core): zlib-compressed JSON, base64url, ``{"v": 1, "files": {path:
[size, mtime_ns, ctime_ns, sha256, stable]}, "at": [path, sha256, rows] | null}``. ``files``
are the files whose rows have been delivered, as they were then; ``at`` is the file a read
stopped in and how many of its rows were delivered (``rows`` may be all of them). A file
whose size and times are those recorded is unchanged without being read again, provided it
was ``stable`` when recorded (its last change at least ``STABLE_NS`` before it was hashed:
a file changed within the file system's clock tick of a read could otherwise keep the same
times). Otherwise its content hash decides.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, replace
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

from syncbridge.connector.errors import PermanentConnectorError
from syncbridge.connector.folders import walk_files
from syncbridge.logs import get_logger

log = get_logger(__name__)

CURSOR_VERSION = 1
#: A file whose last change is this close to its hashing is re-hashed next time.
STABLE_NS = 2_000_000_000
#: The most a cursor may inflate to.
MAX_CURSOR_BYTES = 64 * 1024 * 1024


def matches(relative: str, patterns: Sequence[str]) -> bool:
    """Whether a relative POSIX path matches one of ``patterns``, case-insensitively."""
    folded = relative.casefold()
    return any(fnmatchcase(folded, pattern.casefold()) for pattern in patterns)


def list_files(
    root: Path, include: Sequence[str], patterns: Sequence[str], limit: int, stream: str
) -> list[tuple[str, os.stat_result]]:
    """A stream's files in walk order with their ``lstat``; refuses more than ``limit``."""
    found: list[tuple[str, os.stat_result]] = []
    for relative, info in walk_files(root):
        if matches(relative, include) and matches(relative, patterns):
            found.append((relative, info))
            if len(found) > limit:
                raise PermanentConnectorError(
                    f"stream {stream!r} matches more than {limit} files (max_files); "
                    "move old exports out of the folder or raise the limit"
                )
    return found


@dataclass(frozen=True)
class KnownFile:
    """A file as it was when its rows were delivered."""

    size: int
    mtime_ns: int
    ctime_ns: int
    sha256: str
    stable: bool

    @classmethod
    def of(cls, info: os.stat_result, sha256: str, hashed_at_ns: int) -> KnownFile:
        """The record of a file hashed at ``hashed_at_ns`` with ``info`` (its ``stat``)."""
        return cls.stamped(info.st_size, info.st_mtime_ns, info.st_ctime_ns, sha256, hashed_at_ns)

    @classmethod
    def stamped(
        cls, size: int, mtime_ns: int, ctime_ns: int, sha256: str, hashed_at_ns: int
    ) -> KnownFile:
        """The record of a file of these size and times, hashed at ``hashed_at_ns``."""
        stable = max(mtime_ns, ctime_ns) + STABLE_NS <= hashed_at_ns
        return cls(size, mtime_ns, ctime_ns, sha256, stable)

    def unchanged(self, info: os.stat_result) -> bool:
        """Whether ``info`` proves the file unchanged without reading it."""
        return self.stable and (self.size, self.mtime_ns, self.ctime_ns) == (
            info.st_size,
            info.st_mtime_ns,
            info.st_ctime_ns,
        )


@dataclass(frozen=True)
class Position:
    """The file a read is in, its content hash, and how many of its rows were delivered."""

    file: str
    sha256: str
    rows: int


@dataclass(frozen=True)
class ReadCursor:
    """See the module docstring."""

    known: dict[str, KnownFile]
    at: Position | None = None

    def at_row(self, file: str, sha256: str, rows: int) -> ReadCursor:
        """After delivering ``rows`` rows of ``file``."""
        return replace(self, at=Position(file, sha256, rows))

    def completed(self, file: str, entry: KnownFile, rows: int) -> ReadCursor:
        """After delivering the last row of ``file``."""
        return ReadCursor({**self.known, file: entry}, Position(file, entry.sha256, rows))

    def remember(self, file: str, entry: KnownFile) -> ReadCursor:
        """The same position, with ``file`` known as ``entry`` (an unchanged file re-stat'ed)."""
        return replace(self, known={**self.known, file: entry})

    def finished(self, present: set[str]) -> ReadCursor:
        """The cursor between reads: files that are gone are forgotten."""
        return ReadCursor({p: e for p, e in self.known.items() if p in present})

    def encode(self) -> str:
        """The opaque string form."""
        body: dict[str, Any] = {
            "v": CURSOR_VERSION,
            "files": {
                path: [e.size, e.mtime_ns, e.ctime_ns, e.sha256, e.stable]
                for path, e in sorted(self.known.items())
            },
            "at": None if self.at is None else [self.at.file, self.at.sha256, self.at.rows],
        }
        raw = json.dumps(body, separators=(",", ":")).encode()
        return base64.urlsafe_b64encode(zlib.compress(raw, 6)).decode().rstrip("=")

    @classmethod
    def decode(cls, cursor: str | None) -> ReadCursor:
        """Parse a cursor (None: a full read); raises PermanentConnectorError."""
        if cursor is None:
            return cls({})
        try:
            packed = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
            inflater = zlib.decompressobj()
            raw = inflater.decompress(packed, MAX_CURSOR_BYTES)
            if inflater.unconsumed_tail or not inflater.eof:
                raise ValueError("cursor too large or truncated")
            body = json.loads(raw)
            if not isinstance(body, dict) or body.get("v") != CURSOR_VERSION:
                raise ValueError("unknown cursor version")
            return cls(_known(body["files"]), _position(body["at"]))
        except (ValueError, TypeError, KeyError, binascii.Error, zlib.error) as exc:
            raise PermanentConnectorError(f"not a csv cursor: {cursor[:80]!r}") from exc


def _known(files: object) -> dict[str, KnownFile]:
    if not isinstance(files, dict):
        raise TypeError("files")
    known: dict[str, KnownFile] = {}
    for path, entry in files.items():
        if not isinstance(entry, list) or len(entry) != 5:
            raise TypeError("file entry")
        size, mtime, ctime, sha, stable = entry
        if not all(_is_int(v) for v in (size, mtime, ctime)):
            raise TypeError("file entry numbers")
        if not isinstance(sha, str) or not isinstance(stable, bool):
            raise TypeError("file entry hash")
        known[str(path)] = KnownFile(size, mtime, ctime, sha, stable)
    return known


def _position(at: object) -> Position | None:
    if at is None:
        return None
    if not isinstance(at, list) or len(at) != 3:
        raise TypeError("at")
    file, sha, rows = at
    if not isinstance(file, str) or not isinstance(sha, str) or not _is_int(rows) or rows < 0:
        raise TypeError("at fields")
    return Position(file, sha, rows)


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
