"""One asset file as a ``Record``: path facts, a streamed content hash and the sidecar keywords.

Blocking file I/O: the connector calls these from a worker thread.
"""

from __future__ import annotations

import hashlib
import os
import stat
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Any

from syncbridge.connector.types import Record
from syncbridge.logs import get_logger
from syncbridge_localfolder.sidecar import read_sidecar
from syncbridge_localfolder.tree import AssetTree
from syncbridge_localfolder.xmp import SidecarError

log = get_logger(__name__)

STREAM = "files"
CHUNK_BYTES = 1024 * 1024


def describe_asset(tree: AssetTree, relative: str, algorithm: str) -> Record | None:
    """The record of the asset at ``relative`` (a resolved, valid path); None if it is gone."""
    path, posix = tree.root / relative, PurePosixPath(relative)
    read_error: str | None = None
    digest: str | None
    try:
        info, digest = _hash_file(path, algorithm)
    except FileNotFoundError:
        return None  # deleted between the walk and now: the next full read shows it gone
    except PermissionError as exc:
        # Listed without a hash rather than dropped: a dropped file would look deleted.
        info, digest, read_error = os.lstat(path), None, exc.strerror
        log.warning("localfolder.file_unreadable", path=relative, reason=read_error)
    data: dict[str, Any] = {
        "path": relative,
        "name": posix.name,
        "extension": posix.suffix.lstrip(".").lower(),
        "folder": "" if str(posix.parent) == "." else str(posix.parent),
        "size": info.st_size,
        "mtime": _datetime(info.st_mtime_ns).isoformat(),
        "content_hash": digest,
        "hash_algorithm": algorithm,
    }
    if read_error is not None:
        data["read_error"] = read_error
    sidecar_facts, sidecar_mtime_ns = _sidecar_facts(tree, path)
    data |= sidecar_facts
    updated_ns = max(info.st_mtime_ns, sidecar_mtime_ns or 0)
    return Record(
        stream=STREAM,
        external_id=relative,
        data=data,
        updated_at=_datetime(updated_ns),
    )


def _hash_file(path: Path, algorithm: str) -> tuple[os.stat_result, str]:
    """``fstat`` and the hex digest of a file read in chunks (never whole into memory)."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(handle.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise FileNotFoundError(path)  # swapped for something else: not an asset now
        digest = hashlib.new(algorithm)
        while chunk := handle.read(CHUNK_BYTES):
            digest.update(chunk)
    return info, digest.hexdigest()


def _sidecar_facts(tree: AssetTree, asset: Path) -> tuple[dict[str, Any], int | None]:
    """``sidecar`` (its relative path, None when absent), ``tags``; and its mtime in ns."""
    sidecar = tree.sidecar_of(asset)
    relative = sidecar.relative_to(tree.root).as_posix()
    try:
        state = read_sidecar(sidecar)
    except SidecarError as exc:
        # Reported, not fatal: the asset is still there; write-back refuses to touch it.
        log.warning("localfolder.sidecar_unreadable", sidecar=relative, reason=str(exc))
        return {"sidecar": relative, "tags": [], "sidecar_error": str(exc)}, None
    if state.version is None:
        return {"sidecar": None, "tags": []}, None
    return {"sidecar": relative, "tags": state.keywords()}, state.version[2]


def _datetime(ns: int) -> datetime:
    """A file time in ns as an aware UTC datetime, exact to the microsecond (no float)."""
    seconds, rest = divmod(ns, 1_000_000_000)
    return datetime.fromtimestamp(seconds, tz=UTC).replace(microsecond=rest // 1000)
