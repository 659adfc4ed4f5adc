"""Helpers to fill a folder DAM and read it back (plain functions, shared by the tests)."""

from __future__ import annotations

from pathlib import Path

from syncbridge_localfolder.connector import LocalFolderConnector
from syncbridge_localfolder.xmp import XmpDocument

from syncbridge.connector.types import Page


def put(
    root: Path, relative: str, content: bytes = b"pixels", keywords: list[str] | None = None
) -> Path:
    """Write an asset file (and, with ``keywords``, an ``ext``-style sidecar holding them)."""
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    if keywords is not None:
        document = XmpDocument.new()
        document.replace_keywords(keywords)
        path.with_name(path.name + ".xmp").write_bytes(document.to_bytes())
    return path


def advance_fs_clock(scratch: Path, beyond_ns: int) -> None:
    """Wait (by touching ``scratch``) until file times are later than ``beyond_ns``.

    File times come from a coarse kernel clock; tests that need "changed strictly after"
    call this instead of sleeping a guessed amount.
    """
    while True:
        scratch.write_bytes(b"tick")
        if scratch.stat().st_ctime_ns > beyond_ns:
            return


def latest_change_ns(folder: Path) -> int:
    """The latest ctime of the files directly in ``folder``."""
    return max(path.stat().st_ctime_ns for path in folder.iterdir())


def names_in(folder: Path) -> list[str]:
    """Sorted relative paths of everything under ``folder``."""
    return sorted(path.relative_to(folder).as_posix() for path in folder.rglob("*"))


def ids(pages: list[Page]) -> list[str]:
    """External ids of a read, in order."""
    return [record.external_id for page in pages for record in page.records]


async def read_all(connector: LocalFolderConnector, cursor: str | None = None) -> list[Page]:
    """Every page of one read of ``files``."""
    return [page async for page in connector.read("files", cursor)]
