"""Uploads are stored atomically in the root: whole and valid, or not at all."""

from __future__ import annotations

import asyncio
import hashlib
import os
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from syncbridge_csv import CsvRowError, UploadRefused, UploadTooLarge
from syncbridge_csv.uploads import STALE_PART_S, store_upload

from syncbridge.connector.spec import AcceptsUploads
from tests.connectors.csv.support import connector, ids_of, pages, rows, settings, stream, write

EXPORT = rows(*(f"2026-11-01,a{i},{i},0" for i in range(50))).encode()


async def _chunks(data: bytes, size: int = 100) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        await asyncio.sleep(0)
        yield data[start : start + size]


def _listing(root: Path) -> list[str]:
    """Everything in the root, hidden files included."""
    return sorted(str(path.relative_to(root)) for path in root.rglob("*"))


async def test_an_upload_is_stored_whole_and_read(root: Path) -> None:
    made = connector(root)
    assert isinstance(made, AcceptsUploads)
    receipt = await made.accept_upload("day1.csv", _chunks(EXPORT), 1_000_000)
    assert (receipt.file, receipt.size, receipt.streams) == ("day1.csv", len(EXPORT), ("exports",))
    assert receipt.details == {
        "sha256": hashlib.sha256(EXPORT).hexdigest(),
        "streams": {"exports": {"rows": 50, "encoding": "utf-8", "delimiter": ","}},
    }
    assert (root / "day1.csv").read_bytes() == EXPORT
    assert _listing(root) == ["day1.csv"]
    assert len(ids_of(await pages(made))) == 50


async def test_uploading_the_same_file_again_imports_nothing(root: Path) -> None:
    await store_upload(settings(root), "day1.csv", _chunks(EXPORT), 1_000_000)
    watermark = (await pages(connector(root)))[-1].next_cursor
    await store_upload(settings(root), "day1.csv", _chunks(EXPORT), 1_000_000)
    assert ids_of(await pages(connector(root), cursor=watermark)) == []


async def _failing(data: bytes) -> AsyncIterator[bytes]:
    yield data[:300]
    yield data[300:600]
    raise ConnectionResetError("client went away")


async def test_a_stream_failing_midway_leaves_the_folder_as_it_was(root: Path) -> None:
    write(root / "day1.csv", "old content")
    with pytest.raises(ConnectionResetError):
        await store_upload(settings(root), "day1.csv", _failing(EXPORT), 1_000_000)
    assert _listing(root) == ["day1.csv"]
    assert (root / "day1.csv").read_text() == "old content"


async def test_a_cancelled_upload_leaves_nothing(root: Path) -> None:
    started = asyncio.Event()

    async def stalled() -> AsyncIterator[bytes]:
        yield EXPORT[:500]
        started.set()
        await asyncio.Event().wait()
        yield b""  # pragma: no cover - never reached

    task = asyncio.create_task(store_upload(settings(root), "day1.csv", stalled(), 1_000_000))
    await started.wait()
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert _listing(root) == []


async def test_an_upload_over_the_cap_is_refused_and_not_kept(root: Path) -> None:
    with pytest.raises(UploadTooLarge, match="larger than 1000 bytes") as caught:
        await store_upload(settings(root), "day1.csv", _chunks(EXPORT), 1000)
    assert caught.value.status == 413
    assert _listing(root) == []


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("../day1.csv", "plain file name"),
        ("sub/day1.csv", "plain file name"),
        ("..\\day1.csv", "plain file name"),
        ("/etc/cron.d/x.csv", "plain file name"),
        ("..", "plain file name"),
        ("", "plain file name"),
        (".day1.csv", "hidden"),
        ("day1.csv\x00.txt", "control characters"),
        ("day1\n.csv", "control characters"),
        (" day1.csv", "edge spaces"),
        ("day1.txt", "must end in .csv"),
        (".csv", "hidden"),
        ("x" * 300 + ".csv", "longer than 255 bytes"),
    ],
)
async def test_names_that_could_escape_or_hide_are_refused(
    root: Path, name: str, reason: str
) -> None:
    with pytest.raises(UploadRefused, match=reason):
        await store_upload(settings(root), name, _chunks(EXPORT), 1_000_000)
    assert _listing(root) == []
    assert not (root.parent / "day1.csv").exists()


async def test_a_name_no_stream_reads_is_refused(root: Path) -> None:
    made = settings(root, streams={"exports": stream(pattern=["ga4-*.csv"])})
    with pytest.raises(UploadRefused, match="matches no stream's pattern"):
        await store_upload(made, "deals.csv", _chunks(EXPORT), 1_000_000)
    receipt = await store_upload(made, "GA4-day1.CSV", _chunks(EXPORT), 1_000_000)
    assert receipt.file == "GA4-day1.CSV"
    assert (root / "GA4-day1.CSV").read_bytes() == EXPORT


async def test_a_bad_upload_is_refused_with_its_line_and_not_kept(root: Path) -> None:
    write(root / "day1.csv", "old content")
    bad = EXPORT + b"2026-11-01,z,not-a-number,0\r\n"
    with pytest.raises(CsvRowError) as caught:
        await store_upload(settings(root), "day1.csv", _chunks(bad), 1_000_000)
    error = caught.value
    assert (error.file, error.line, error.column) == ("day1.csv", 52, "Views")
    assert _listing(root) == ["day1.csv"]
    assert (root / "day1.csv").read_text() == "old content"


async def test_validation_can_be_left_to_the_read(root: Path) -> None:
    bad = b"not,a,valid\r\nexport\r\n"
    receipt = await store_upload(
        settings(root), "day1.csv", _chunks(bad), 1_000_000, validate=False
    )
    assert receipt.details == {"sha256": hashlib.sha256(bad).hexdigest()}
    assert (root / "day1.csv").read_bytes() == bad


async def test_a_folder_of_that_name_is_not_replaced(root: Path) -> None:
    (root / "day1.csv").mkdir()
    with pytest.raises(UploadRefused, match="is a folder"):
        await store_upload(settings(root), "day1.csv", _chunks(EXPORT), 1_000_000)
    assert _listing(root) == ["day1.csv"]


async def test_parts_left_by_a_crash_long_ago_are_swept(root: Path) -> None:
    old = write(root / ".upload-crashed.part", "half an export")
    recent = write(root / ".upload-in-flight.part", "an upload in progress")
    long_ago = time.time() - STALE_PART_S - 60
    os.utime(old, (long_ago, long_ago))
    await store_upload(settings(root), "day1.csv", _chunks(EXPORT), 1_000_000)
    assert _listing(root) == [".upload-in-flight.part", "day1.csv"]
    assert recent.exists()
