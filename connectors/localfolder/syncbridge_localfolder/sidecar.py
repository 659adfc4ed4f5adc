"""Sidecar files on disk: read one safely, and replace one atomically.

Blocking file I/O: the connector calls these from a worker thread.
"""

from __future__ import annotations

import contextlib
import os
import stat
from dataclasses import dataclass
from pathlib import Path

from syncbridge_localfolder.xmp import SidecarError, XmpDocument

#: Real sidecars are kilobytes; a bigger one is not worth parsing (or is hostile).
MAX_SIDECAR_BYTES = 8 * 1024 * 1024
#: Mode of a new sidecar before the umask, like any file a tool creates.
NEW_FILE_MODE = 0o666


class SidecarChanged(Exception):
    """The sidecar changed on disk between our read and our write: try again later."""


@dataclass(frozen=True)
class SidecarState:
    """A sidecar as read: its document (None: no file) and what identifies that version."""

    path: Path
    document: XmpDocument | None
    #: ``(inode, size, mtime_ns)`` of the version read, None when there was no file.
    version: tuple[int, int, int] | None
    mode: int | None

    def keywords(self) -> list[str]:
        """The keywords the sidecar holds now (none when there is no sidecar)."""
        return self.document.keywords() if self.document is not None else []


def read_sidecar(path: Path) -> SidecarState:
    """Read and parse the sidecar at ``path``; a missing file is an empty state.

    Raises ``SidecarError`` for a link, a non-file, an oversized or malformed sidecar.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except FileNotFoundError:
        return SidecarState(path, None, None, None)
    except OSError as exc:  # ELOOP: the sidecar is a symbolic link
        raise SidecarError(f"cannot open sidecar safely: {exc.strerror}") from exc
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(handle.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise SidecarError("sidecar is not a regular file")
        if info.st_size > MAX_SIDECAR_BYTES:
            raise SidecarError(f"sidecar is larger than {MAX_SIDECAR_BYTES} bytes")
        data = handle.read(MAX_SIDECAR_BYTES + 1)
    return SidecarState(path, XmpDocument.parse(data), _version(info), stat.S_IMODE(info.st_mode))


def replace_sidecar(state: SidecarState, data: bytes) -> None:
    """Write ``data`` as the sidecar atomically: temp file in the same folder, then rename.

    Readers see the old file or the new one, never half of one. Raises ``SidecarChanged`` when
    the file on disk is no longer the version ``state`` was read from (a person or another
    tool wrote it meanwhile), so their edit is not lost.
    """
    path = state.path
    temp = path.with_name(f".{path.name}.{os.getpid()}.{os.urandom(4).hex()}.tmp")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, NEW_FILE_MODE)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        if state.mode is not None:
            os.chmod(temp, state.mode)
        if _current_version(path) != state.version:
            raise SidecarChanged(f"{path.name} changed while it was being updated")
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp)
        raise
    _sync_directory(path.parent)


def _version(info: os.stat_result) -> tuple[int, int, int]:
    return (info.st_ino, info.st_size, info.st_mtime_ns)


def _current_version(path: Path) -> tuple[int, int, int] | None:
    try:
        return _version(os.lstat(path))
    except FileNotFoundError:
        return None


def _sync_directory(directory: Path) -> None:
    """Make the rename durable (POSIX: the directory entry lives in the directory)."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
