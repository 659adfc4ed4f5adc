"""Reading a folder: records, full and incremental scans, resuming a scan mid-way."""

from __future__ import annotations

import base64
import hashlib
import os
from pathlib import Path

import pytest
from syncbridge_localfolder.scan import EDGE_MAX

from syncbridge.connector.errors import InvalidWebhook, PermanentConnectorError
from syncbridge.connector.types import Ref
from tests.connectors.localfolder.conftest import MakeConnector
from tests.connectors.localfolder.dam import (
    advance_fs_clock,
    ids,
    latest_change_ns,
    put,
    read_all,
)


async def test_a_record_carries_path_facts_hash_and_sidecar_keywords(
    root: Path, make: MakeConnector
) -> None:
    path = put(root, "Brand/spring/hero.JPG", b"jpeg bytes", keywords=["beach", "perf:top-10"])
    os.utime(path, ns=(1_700_000_000_123_456_789, 1_700_000_000_123_456_789))
    (page,) = await read_all(make())
    (record,) = page.records
    assert record.stream == "files"
    assert record.external_id == "Brand/spring/hero.JPG"
    assert record.data == {
        "path": "Brand/spring/hero.JPG",
        "name": "hero.JPG",
        "extension": "jpg",
        "folder": "Brand/spring",
        "size": 10,
        "mtime": "2023-11-14T22:13:20.123456+00:00",
        "content_hash": hashlib.sha256(b"jpeg bytes").hexdigest(),
        "hash_algorithm": "sha256",
        "sidecar": "Brand/spring/hero.JPG.xmp",
        "tags": ["beach", "perf:top-10"],
    }


async def test_hash_algorithm_is_configurable(root: Path, make: MakeConnector) -> None:
    put(root, "a.png", b"x" * 3_000_000)  # several chunks
    (page,) = await read_all(make(hash_algorithm="blake2b"))
    assert page.records[0].data["content_hash"] == hashlib.blake2b(b"x" * 3_000_000).hexdigest()


async def test_full_read_is_sorted_paged_and_leaves_out_sidecars_and_hidden_files(
    root: Path, make: MakeConnector
) -> None:
    for name in ("b/2.jpg", "a.jpg", "a/z.jpg", "b/1.jpg", "c.pdf"):
        put(root, name, keywords=["x"])
    put(root, ".hidden.jpg")
    put(root, ".cache/deep.jpg")
    put(root, "orphan.xmp")
    pages = await read_all(make(page_size=2))
    # Walk order: folder "a" before file "a.jpg" (sorted by path segments).
    assert ids(pages) == ["a/z.jpg", "a.jpg", "b/1.jpg", "b/2.jpg", "c.pdf"]
    assert [len(page.records) for page in pages] == [2, 2, 1]
    assert all(page.next_cursor for page in pages)


async def test_include_patterns_choose_the_assets(root: Path, make: MakeConnector) -> None:
    for name in ("x/a.jpg", "x/b.png", "c.JPG", "d.pdf"):
        put(root, name)
    pages = await read_all(make(include=["*.jpg", "*.JPG"]))
    assert ids(pages) == ["c.JPG", "x/a.jpg"]


async def test_an_empty_folder_reads_as_one_empty_page_with_a_watermark(
    make: MakeConnector,
) -> None:
    pages = await read_all(make())
    assert [page.records for page in pages] == [[]]
    assert pages[0].next_cursor is not None


async def test_resume_mid_scan_continues_without_skipping_or_doubling(
    root: Path, make: MakeConnector
) -> None:
    for i in range(7):
        put(root, f"f{i}.jpg")
    connector = make(page_size=2)
    first = (await read_all(connector))[:2]  # a crash after two committed pages
    position = first[-1].next_cursor
    # Files added behind the position wait for the next scan; files ahead of it are read now.
    put(root, "f9.jpg")
    put(root, "f0a.jpg")
    rest = await read_all(connector, position)
    assert ids(first) == ["f0.jpg", "f1.jpg", "f2.jpg", "f3.jpg"]
    assert ids(rest) == ["f4.jpg", "f5.jpg", "f6.jpg", "f9.jpg"]
    # The scan's watermark is not later than the scan's start, so f0a.jpg is not lost.
    later = await read_all(connector, rest[-1].next_cursor)
    assert "f0a.jpg" in ids(later)


async def test_incremental_read_returns_changes_since_the_mark_and_not_the_edge_again(
    root: Path, tmp_path: Path, make: MakeConnector
) -> None:
    for name in ("a.jpg", "b.jpg", "c.jpg"):
        put(root, name)
    scratch = tmp_path / "clock"
    advance_fs_clock(scratch, max(os.stat(root / n).st_ctime_ns for n in ("a.jpg", "b.jpg")))
    (root / "c.jpg").write_bytes(b"newest")  # c.jpg alone holds the latest change time
    connector = make(incremental_lookback_s=0)
    watermark = (await read_all(connector))[-1].next_cursor

    unchanged = await read_all(connector, watermark)
    # The mark is inclusive, so c.jpg lies at it; the cursor's edge remembers it unchanged.
    assert ids(unchanged) == [], "nothing changed, so nothing comes back"

    advance_fs_clock(scratch, (root / "c.jpg").stat().st_ctime_ns)
    (root / "a.jpg").write_bytes(b"edited")
    changed = await read_all(connector, watermark)
    assert ids(changed) == ["a.jpg"]


async def test_an_asset_at_the_edge_that_changes_again_comes_back(
    root: Path, tmp_path: Path, make: MakeConnector
) -> None:
    put(root, "a.jpg")
    put(root, "c.jpg")
    connector = make()  # the default look-back: both files lie inside it
    watermark = (await read_all(connector))[-1].next_cursor
    assert ids(await read_all(connector, watermark)) == []
    advance_fs_clock(tmp_path / "clock", latest_change_ns(root))
    (root / "c.jpg").write_bytes(b"edited")
    assert ids(await read_all(connector, watermark)) == ["c.jpg"]


async def test_a_crowded_edge_is_not_kept_and_its_assets_are_read_once_more(
    root: Path, make: MakeConnector
) -> None:
    names = [f"f{i:04d}.jpg" for i in range(EDGE_MAX + 1)]
    for name in names:
        put(root, name)
    connector = make(page_size=100)
    watermark = (await read_all(connector))[-1].next_cursor
    assert watermark is not None
    assert len(watermark) < 1_000, "the cursor stays small"
    # Harmless: upsert by content hash drops them; but none is lost either way.
    assert ids(await read_all(connector, watermark)) == names


async def test_a_cursor_from_before_the_edge_existed_is_still_read(
    root: Path, make: MakeConnector
) -> None:
    put(root, "a.jpg")
    old = base64.urlsafe_b64encode(b'{"mark":0,"v":1}').decode().rstrip("=")
    assert ids(await read_all(make(), old)) == ["a.jpg"]


async def test_incremental_read_sees_a_keyword_edit_in_the_sidecar(
    root: Path, tmp_path: Path, make: MakeConnector
) -> None:
    put(root, "a.jpg", keywords=["beach"])
    put(root, "b.jpg", keywords=["city"])
    scratch = tmp_path / "clock"
    advance_fs_clock(scratch, latest_change_ns(root))
    put(root, "z.jpg")  # the newest file, so the mark lies after a.jpg and b.jpg
    connector = make(incremental_lookback_s=0)
    watermark = (await read_all(connector))[-1].next_cursor
    advance_fs_clock(scratch, (root / "z.jpg").stat().st_ctime_ns)
    sidecar = root / "a.jpg.xmp"
    sidecar.write_bytes(sidecar.read_bytes().replace(b"beach", b"dune"))
    changed = await read_all(connector, watermark)
    assert ids(changed) == ["a.jpg"]
    assert changed[0].records[0].data["tags"] == ["dune"]


async def test_incremental_read_also_sees_a_content_change_with_restored_mtime(
    root: Path, tmp_path: Path, make: MakeConnector
) -> None:
    old = 1_600_000_000_000_000_000
    path = put(root, "a.jpg", b"version-1")
    put(root, "b.jpg")
    os.utime(path, ns=(old, old))
    advance_fs_clock(tmp_path / "clock", latest_change_ns(root))
    put(root, "z.jpg")
    connector = make(incremental_lookback_s=0)
    watermark = (await read_all(connector))[-1].next_cursor
    advance_fs_clock(tmp_path / "clock", (root / "z.jpg").stat().st_ctime_ns)
    path.write_bytes(b"version-2")
    os.utime(path, ns=(old, old))  # as a restore or `touch -r` would leave it
    # ctime cannot be set back, so the change is seen without waiting for the full read.
    assert ids(await read_all(connector, watermark)) == ["a.jpg"]


async def test_a_content_change_with_restored_mtime_shows_in_the_full_read(
    root: Path, make: MakeConnector
) -> None:
    path = put(root, "a.jpg", b"version-1")
    os.utime(path, ns=(1_600_000_000_000_000_000, 1_600_000_000_000_000_000))
    connector = make()
    before = (await read_all(connector))[0].records[0].data
    path.write_bytes(b"version-2")
    os.utime(path, ns=(1_600_000_000_000_000_000, 1_600_000_000_000_000_000))
    after = (await read_all(connector))[0].records[0].data
    assert after["mtime"] == before["mtime"]
    assert after["size"] == before["size"]
    assert after["content_hash"] != before["content_hash"]


async def test_a_deleted_file_is_absent_from_the_next_full_read(
    root: Path, make: MakeConnector
) -> None:
    put(root, "a.jpg")
    put(root, "b.jpg")
    connector = make()
    assert ids(await read_all(connector)) == ["a.jpg", "b.jpg"]
    (root / "a.jpg").unlink()
    assert ids(await read_all(connector)) == ["b.jpg"]


async def test_fetch_returns_current_state_and_leaves_out_missing_and_non_assets(
    root: Path, make: MakeConnector
) -> None:
    put(root, "a.jpg", keywords=["k"])
    put(root, ".hidden.jpg")
    connector = make()
    fetched = await connector.fetch(
        [
            Ref("files", "a.jpg"),
            Ref("files", "gone.jpg"),
            Ref("files", "a.jpg.xmp"),
            Ref("files", ".hidden.jpg"),
        ]
    )
    assert [r.external_id for r in fetched] == ["a.jpg"]
    assert fetched[0].data["tags"] == ["k"]


async def test_a_malformed_sidecar_is_reported_on_the_record(
    root: Path, make: MakeConnector
) -> None:
    put(root, "a.jpg")
    (root / "a.jpg.xmp").write_bytes(b"<x:xmpmeta")
    (record,) = await make().fetch([Ref("files", "a.jpg")])
    assert record.data["tags"] == []
    assert "not well-formed" in record.data["sidecar_error"]


@pytest.mark.parametrize("cursor", ["garbage", "eyJ2Ijo5fQ", "eyJ2IjoxLCJtYXJrIjoieCJ9"])
async def test_a_foreign_cursor_is_refused(make: MakeConnector, cursor: str) -> None:
    with pytest.raises(PermanentConnectorError, match="not a localfolder cursor"):
        await read_all(make(), cursor)


async def test_an_unknown_stream_is_refused(make: MakeConnector) -> None:
    with pytest.raises(PermanentConnectorError, match="no stream 'media'"):
        [page async for page in make().read("media", None)]


async def test_webhooks_are_refused_because_a_folder_sends_none(make: MakeConnector) -> None:
    with pytest.raises(InvalidWebhook, match="no webhooks"):
        await make().parse_webhook({}, b"{}")


async def test_check_counts_the_assets(root: Path, make: MakeConnector) -> None:
    put(root, "a.jpg", keywords=["x"])
    put(root, "b/c.png")
    result = await make().check()
    assert result.ok, result.detail
    assert result.account["files"] == 2


async def test_check_fails_when_the_root_is_gone(root: Path, make: MakeConnector) -> None:
    connector = make()
    os.rmdir(root)
    result = await connector.check()
    assert not result.ok
    assert "not a directory" in result.detail
