"""Storing an uploaded export in the connection's folder, atomically.

``store_upload`` is what ``POST /v1/connections/{id}/uploads`` calls (through the
connector's ``accept_upload``). The bytes go to a
hidden temporary file in the root (``.upload-*.part``: the walk skips hidden files, so a
read never sees it), are synced to disk, checked against every stream whose pattern the
name matches (the same strict parse a read does: a bad file is refused with its file, line,
column and reason), and only then renamed over the final name with ``os.replace``. A reader
sees the old file or the new one, never a part; a failure at any point (a refused name, the
size cap, a bad row, a dropped connection, a cancelled task) removes the temporary file and
leaves the folder as it was.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, BinaryIO

from syncbridge.connector.types import UploadReceipt
from syncbridge.logs import get_logger
from syncbridge_csv.errors import UploadRefused, UploadTooLarge
from syncbridge_csv.files import matches
from syncbridge_csv.parse import StreamPlan
from syncbridge_csv.settings import CsvSettings
from syncbridge_csv.validated import ValidatedFile

log = get_logger(__name__)

#: The longest file name most file systems store (bytes, UTF-8).
MAX_NAME_BYTES = 255
UPLOAD_PREFIX = ".upload-"
#: A part file this old is debris of an upload a crash cut short.
STALE_PART_S = 24 * 3600


def upload_name(settings: CsvSettings, filename: str) -> tuple[str, list[str]]:
    """The checked file name and the streams it belongs to; raises :class:`UploadRefused`.

    A name is one path segment (no folder, no ``..``), not hidden, printable, ending in
    ``.csv``, and matched by ``include`` and at least one stream's ``pattern``.
    """
    name = filename
    if not name or name in (".", "..") or "/" in name or "\\" in name:
        raise UploadRefused(f"upload name {filename!r} must be a plain file name, no folder")
    if not name.isprintable() or name != name.strip():
        raise UploadRefused(f"upload name {filename!r} has control characters or edge spaces")
    if name.startswith("."):
        raise UploadRefused(f"upload name {filename!r} is hidden (starts with '.')")
    if len(name.encode("utf-8", "surrogatepass")) > MAX_NAME_BYTES:
        raise UploadRefused(f"upload name is longer than {MAX_NAME_BYTES} bytes")
    if not name.casefold().endswith(".csv") or len(name) <= len(".csv"):
        raise UploadRefused(f"upload name {filename!r} must end in .csv")
    streams = [
        stream
        for stream, declared in sorted(settings.streams.items())
        if matches(name, settings.include) and matches(name, declared.pattern)
    ]
    if not streams:
        raise UploadRefused(
            f"upload name {filename!r} matches no stream's pattern, so no read would see it"
        )
    return name, streams


async def store_upload(
    settings: CsvSettings,
    filename: str,
    chunks: AsyncIterator[bytes],
    max_bytes: int,
    *,
    validate: bool = True,
) -> UploadReceipt:
    """Store an upload as ``root/filename``, replacing a file of that name; what it stored.

    The receipt names the file, its size, the streams that read it and, in ``details``, its
    ``sha256`` and (when validated) per stream its ``rows``, ``encoding`` and ``delimiter``.
    Raises :class:`UploadRefused` (name), :class:`UploadTooLarge` (more than ``max_bytes``),
    ``CsvRowError`` (``validate`` and the content is bad for a stream it belongs to); on any
    error, cancellation included, nothing is left behind.
    """
    if max_bytes < 1:
        raise ValueError("max_bytes must be positive")
    name, streams = upload_name(settings, filename)
    root, fd, temporary = await asyncio.to_thread(_open_part, settings.root)
    part = Path(temporary)
    details: dict[str, Any] = {}
    try:
        with os.fdopen(fd, "wb") as handle:
            size, details["sha256"] = await _receive(handle, chunks, max_bytes, name)
            await asyncio.to_thread(_sync, handle)
        if validate:
            plans = [
                StreamPlan(stream, settings.streams[stream], settings.max_row_chars)
                for stream in streams
            ]
            details["streams"] = await asyncio.to_thread(_validate, root, part.name, name, plans)
        await asyncio.to_thread(_publish, part, root / name)
    except BaseException:
        # Synchronous on purpose: a cancelled task must not await again before cleaning up.
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise
    log.info("csv.upload_stored", file=name, size=size, streams=streams)
    return UploadReceipt(file=name, size=size, streams=tuple(streams), details=details)


async def _receive(
    handle: BinaryIO, chunks: AsyncIterator[bytes], max_bytes: int, name: str
) -> tuple[int, str]:
    size, digest = 0, hashlib.sha256()
    async for chunk in chunks:
        size += len(chunk)
        if size > max_bytes:
            raise UploadTooLarge(f"upload {name!r} is larger than {max_bytes} bytes")
        digest.update(chunk)
        await asyncio.to_thread(handle.write, chunk)
    return size, digest.hexdigest()


def _open_part(root: Path) -> tuple[Path, int, str]:
    resolved = root.resolve()
    _sweep_stale_parts(resolved)
    fd, temporary = tempfile.mkstemp(dir=resolved, prefix=UPLOAD_PREFIX, suffix=".part")
    return resolved, fd, temporary


def _sync(handle: BinaryIO) -> None:
    handle.flush()
    os.fsync(handle.fileno())


def _sweep_stale_parts(root: Path) -> None:
    """Remove parts that uploads cut short by a crash left behind long ago."""
    cutoff = time.time() - STALE_PART_S
    for stale in root.glob(f"{UPLOAD_PREFIX}*.part"):
        with contextlib.suppress(OSError):
            if stale.lstat().st_mtime < cutoff:
                stale.unlink()


def _validate(
    root: Path, part: str, name: str, plans: list[StreamPlan]
) -> dict[str, dict[str, Any]]:
    facts: dict[str, dict[str, Any]] = {}
    for plan in plans:
        valid = ValidatedFile.parse(root, part, plan, shown_as=name)
        valid.close()
        found = valid.facts
        facts[plan.name] = {
            "rows": found.rows,
            "encoding": found.encoding,
            "delimiter": found.delimiter,
        }
    return facts


def _publish(part: Path, target: Path) -> None:
    try:
        os.replace(part, target)
    except IsADirectoryError as exc:
        raise UploadRefused(f"{target.name!r} is a folder in the connection's root") from exc
    # The rename is durable once the folder's entry is on disk.
    directory = os.open(target.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)
