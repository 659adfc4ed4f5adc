"""Re-imports change nothing; a changed or new file gives its rows; cursors resume exactly."""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import pytest
from syncbridge_csv import CsvConnector, CsvRowError
from syncbridge_csv.files import STABLE_NS, KnownFile, ReadCursor
from syncbridge_csv.parse import StreamPlan, parse_export

from syncbridge.connector.errors import PermanentConnectorError, TransientConnectorError
from syncbridge.connector.types import Page
from tests.connectors.csv.support import (
    connector,
    ids_of,
    pages,
    records,
    refusal,
    rows,
    settings,
    write,
)

DAY1 = rows(*(f"2026-11-01,a{i},{i},0" for i in range(12)))
DAY2 = rows(*(f"2026-11-02,a{i},{i},0" for i in range(5)))


async def _watermark(root: Path) -> str:
    """The cursor after a full read of ``root``."""
    read = await pages(connector(root, page_size=5))
    cursor = read[-1].next_cursor
    assert cursor is not None
    return cursor


async def test_re_importing_the_same_files_yields_nothing(root: Path) -> None:
    write(root / "day1.csv", DAY1)
    write(root / "day2.csv", DAY2)
    watermark = await _watermark(root)
    # The same bytes written again (new mtime), and copied over by a new inode.
    write(root / "day1.csv", DAY1)
    shutil.copy(root / "day2.csv", root / "copy.tmp")
    os.replace(root / "copy.tmp", root / "day2.csv")
    again = await pages(connector(root), cursor=watermark)
    assert ids_of(again) == []
    assert len(again) == 1, "one empty page carries the cursor forward"
    assert ids_of(await pages(connector(root), cursor=again[-1].next_cursor)) == []


async def test_a_changed_file_gives_all_its_rows_and_only_its_rows(root: Path) -> None:
    write(root / "day1.csv", DAY1)
    write(root / "day2.csv", DAY2)
    watermark = await _watermark(root)
    write(root / "day2.csv", DAY2.replace("2026-11-02,a3,3,0", "2026-11-02,a3,300,0"))
    got = await records(connector(root), cursor=watermark)
    assert sorted(r.external_id for r in got) == sorted(f"2026-11-02|a{i}" for i in range(5))
    assert next(r for r in got if r.external_id == "2026-11-02|a3").data["views"] == 300


async def test_a_new_file_gives_its_rows(root: Path) -> None:
    write(root / "day1.csv", DAY1)
    watermark = await _watermark(root)
    write(root / "day2.csv", DAY2)
    assert len(ids_of(await pages(connector(root), cursor=watermark))) == 5


async def test_a_deleted_file_is_forgotten_and_comes_back_when_restored(root: Path) -> None:
    write(root / "day1.csv", DAY1)
    write(root / "day2.csv", DAY2)
    watermark = await _watermark(root)
    (root / "day2.csv").unlink()
    after_delete = await pages(connector(root), cursor=watermark)
    assert ids_of(after_delete) == []
    cursor = after_delete[-1].next_cursor
    assert cursor is not None
    assert set(ReadCursor.decode(cursor).known) == {"day1.csv"}
    write(root / "day2.csv", DAY2)
    assert len(ids_of(await pages(connector(root), cursor=cursor))) == 5


def _aged(cursor: str, sha256: str | None = None) -> str:
    """The cursor as it would be had its files been hashed long after they last changed
    (with another content hash, if given)."""
    decoded = ReadCursor.decode(cursor)
    known = {
        path: replace(entry, stable=True, sha256=sha256 or entry.sha256)
        for path, entry in decoded.known.items()
    }
    return replace(decoded, known=known).encode()


async def test_a_file_trusted_by_its_size_and_times_is_not_read_again(root: Path) -> None:
    write(root / "day1.csv", DAY1)
    watermark = await _watermark(root)
    (entry,) = ReadCursor.decode(watermark).known.values()
    assert not entry.stable, "a file hashed right after it changed is not trusted by its times"
    # Were the file read, this hash would not match and its rows would come back.
    assert ids_of(await pages(connector(root), cursor=_aged(watermark, sha256="0" * 64))) == []


async def test_a_same_size_edit_with_its_mtime_restored_is_still_seen(root: Path) -> None:
    path = write(root / "day1.csv", DAY1)
    watermark = _aged(await _watermark(root))
    before = path.stat()
    write(path, DAY1.replace("a1,1,0", "a1,7,0"))
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert path.stat().st_size == before.st_size
    got = await records(connector(root), cursor=watermark)
    assert {r.external_id: r.data["views"] for r in got}["2026-11-01|a1"] == 7


def test_only_files_unchanged_for_a_while_are_trusted_by_their_times() -> None:
    changed = 1_000_000_000_000
    assert not KnownFile.stamped(1, changed, changed, "h", changed + STABLE_NS - 1).stable
    assert KnownFile.stamped(1, changed, changed, "h", changed + STABLE_NS).stable


async def test_any_page_cursor_resumes_exactly_after_that_page(root: Path) -> None:
    write(root / "day1.csv", DAY1)
    write(root / "day2.csv", DAY2)
    write(root / "day3.csv", rows("2026-11-03,z,1,0"))
    full = await pages(connector(root, page_size=5))
    assert [len(p.records) for p in full] == [5, 5, 2, 5, 1]
    for k, page in enumerate(full[:-1]):
        rest = ids_of(await pages(connector(root, page_size=5), cursor=page.next_cursor))
        assert rest == ids_of(full[k + 1 :]), k


async def test_a_file_changed_mid_read_is_read_again_whole(root: Path) -> None:
    write(root / "day1.csv", DAY1)
    first = (await pages(connector(root, page_size=5)))[0]
    write(root / "day1.csv", DAY1.replace("a0,0,0", "a0,9,0"))
    rest = await records(connector(root, page_size=5), cursor=first.next_cursor)
    assert len(rest) == 12
    assert rest[0].data["views"] == 9


async def test_a_read_resumes_at_a_bad_file_until_it_is_fixed(root: Path) -> None:
    write(root / "a.csv", DAY1)
    write(root / "b.csv", rows("2026-11-02,b,x,0"))
    write(root / "c.csv", rows("2026-11-03,c,1,0"))
    made = connector(root, page_size=5)
    seen = [page async for page in _until_error(made)]
    assert len(ids_of(seen)) == 12
    cursor = seen[-1].next_cursor
    error, again = await refusal(made, cursor=cursor)
    assert (error.file, again) == ("b.csv", [])
    write(root / "b.csv", rows("2026-11-02,b,1,0"))
    assert ids_of(await pages(made, cursor=cursor)) == ["2026-11-02|b", "2026-11-03|c"]


async def test_a_file_changing_while_it_is_read_is_a_transient_error(root: Path) -> None:
    path = write(root / "day1.csv", DAY1)
    plan = StreamPlan("exports", settings(root).streams["exports"], 1_048_576)

    appended: list[bool] = []

    def append_while_reading(batch: object) -> None:
        del batch
        if not appended:
            with path.open("a", encoding="utf-8") as handle:
                handle.write("2026-11-09,late,1,0\r\n")
            appended.append(True)

    with pytest.raises(TransientConnectorError, match="changed while it was read"):
        parse_export(root, "day1.csv", plan, append_while_reading, batch=1)


async def test_garbage_cursors_and_unknown_streams_are_refused(root: Path) -> None:
    write(root / "day1.csv", DAY1)
    made = connector(root)
    for cursor in ["not-a-cursor", "eJyrVgpLzSlWslIqS8wpTVWqBQApRwUJ", "A" * 200]:
        with pytest.raises(PermanentConnectorError, match="not a csv cursor"):
            await pages(made, cursor=cursor)
    with pytest.raises(PermanentConnectorError, match="no stream 'deals'"):
        await pages(made, "deals")


async def test_a_stream_with_too_many_files_is_refused(root: Path) -> None:
    for day in range(1, 5):
        write(root / f"day{day}.csv", rows(f"2026-11-0{day},a,1,0"))
    with pytest.raises(PermanentConnectorError, match="more than 3 files"):
        await pages(connector(root, max_files=3))


@pytest.mark.skipif(not Path("/proc/self/fd").exists(), reason="counts Linux's open files")
async def test_a_read_abandoned_midway_releases_its_spool(root: Path) -> None:
    # Larger than the spool's page cache, so that its rows spill to a temporary file.
    wide = "x" * 1000
    write(root / "day1.csv", rows(*(f"2026-11-01,{wide}{i},{i},0" for i in range(6000))))
    made = connector(root, page_size=5)
    before = _open_files()
    reading = made.read("exports", None)
    first = await anext(reading)
    assert len(first.records) == 5
    assert _open_files() > before, "the file's rows are spooled while its pages are read"
    await reading.aclose()
    assert _open_files() == before


def _open_files() -> int:
    return len(os.listdir("/proc/self/fd"))


async def _until_error(made: CsvConnector) -> AsyncIterator[Page]:
    """Pages of a full read until it fails with a bad file (the failure is swallowed)."""
    try:
        async for page in made.read("exports", None):
            yield page
    except CsvRowError:
        return
