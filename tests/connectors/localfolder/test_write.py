"""Write-back into XMP sidecars: owned keywords replaced, everything else kept, atomically."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from syncbridge_localfolder.sidecar import SidecarChanged, read_sidecar, replace_sidecar
from syncbridge_localfolder.xmp import XmpDocument

from syncbridge.connector.types import Ref, TagChange
from tests.connectors.localfolder.conftest import MakeConnector
from tests.connectors.localfolder.dam import names_in, put
from tests.connectors.localfolder.test_xmp import RICH_SIDECAR, meaning


def change(path: str, *tags: str) -> TagChange:
    return TagChange("files", path, frozenset(tags))


def keywords_in(sidecar: Path) -> list[str]:
    return XmpDocument.parse(sidecar.read_bytes()).keywords()


async def test_people_keywords_stay_and_owned_ones_are_replaced(
    root: Path, make: MakeConnector
) -> None:
    put(root, "a.jpg", keywords=["beach", "perf:bottom-25", "sunset"])
    (outcome,) = await make().write([change("a.jpg", "perf:top-10", "perf:rising")])
    assert (outcome.external_id, outcome.status) == ("a.jpg", "applied")
    assert keywords_in(root / "a.jpg.xmp") == ["beach", "sunset", "perf:rising", "perf:top-10"]


async def test_a_custom_tag_prefix_decides_what_is_owned(root: Path, make: MakeConnector) -> None:
    put(root, "a.jpg", keywords=["perf:mine-now", "sb/old"])
    await make(tag_prefix="sb/").write([change("a.jpg", "sb/new")])
    assert keywords_in(root / "a.jpg.xmp") == ["perf:mine-now", "sb/new"]


async def test_other_xmp_content_survives_the_write(root: Path, make: MakeConnector) -> None:
    put(root, "a.jpg")
    sidecar = root / "a.jpg.xmp"
    sidecar.write_text(RICH_SIDECAR)
    before = XmpDocument.parse(sidecar.read_bytes())
    await make().write([change("a.jpg", "perf:top-10")])
    after = XmpDocument.parse(sidecar.read_bytes())
    dc_subject = "{http://purl.org/dc/elements/1.1/}subject"
    assert meaning(after.root, without=dc_subject) == meaning(before.root, without=dc_subject)
    assert after.keywords() == ["beach", "plage", "perf:top-10"]


async def test_a_missing_sidecar_is_created(root: Path, make: MakeConnector) -> None:
    put(root, "a.jpg")
    (outcome,) = await make().write([change("a.jpg", "perf:middle")])
    assert outcome.status == "applied"
    assert keywords_in(root / "a.jpg.xmp") == ["perf:middle"]


async def test_no_owned_tags_and_no_sidecar_writes_nothing(root: Path, make: MakeConnector) -> None:
    put(root, "a.jpg")
    (outcome,) = await make().write([change("a.jpg")])
    assert outcome.status == "skipped"
    assert not (root / "a.jpg.xmp").exists()


async def test_stem_style_writes_name_dot_xmp(root: Path, make: MakeConnector) -> None:
    put(root, "shoot/IMG_1.CR3")
    connector = make(sidecar_style="stem")
    await connector.write([change("shoot/IMG_1.CR3", "perf:top-25")])
    assert keywords_in(root / "shoot/IMG_1.xmp") == ["perf:top-25"]
    assert not (root / "shoot/IMG_1.CR3.xmp").exists()
    (record,) = await connector.fetch([Ref("files", "shoot/IMG_1.CR3")])
    assert record.data["sidecar"] == "shoot/IMG_1.xmp"
    assert record.data["tags"] == ["perf:top-25"]


async def test_ext_style_keeps_raw_and_jpeg_sidecars_apart(root: Path, make: MakeConnector) -> None:
    put(root, "IMG_1.CR3", keywords=["raw"])
    put(root, "IMG_1.JPG", keywords=["jpeg"])
    await make().write([change("IMG_1.JPG", "perf:top-10")])
    assert keywords_in(root / "IMG_1.CR3.xmp") == ["raw"]
    assert keywords_in(root / "IMG_1.JPG.xmp") == ["jpeg", "perf:top-10"]


async def test_an_unchanged_sidecar_is_not_rewritten(root: Path, make: MakeConnector) -> None:
    put(root, "a.jpg", keywords=["beach", "perf:top-10"])
    sidecar = root / "a.jpg.xmp"
    os.utime(sidecar, ns=(1_600_000_000_000_000_000, 1_600_000_000_000_000_000))
    before = os.stat(sidecar)
    (outcome,) = await make().write([change("a.jpg", "perf:top-10")])
    after = os.stat(sidecar)
    assert outcome.status == "skipped"
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)


async def test_the_write_replaces_the_file_atomically_and_leaves_no_temp_files(
    root: Path, make: MakeConnector
) -> None:
    put(root, "a.jpg", keywords=["beach"])
    sidecar = root / "a.jpg.xmp"
    os.chmod(sidecar, 0o640)
    before = os.stat(sidecar)
    await make().write([change("a.jpg", "perf:top-10")])
    after = os.stat(sidecar)
    # A new inode renamed over the old one: readers never see a half-written file.
    assert after.st_ino != before.st_ino
    assert after.st_mode == before.st_mode
    assert names_in(root) == ["a.jpg", "a.jpg.xmp"]


def test_a_sidecar_edited_between_read_and_write_is_not_overwritten(root: Path) -> None:
    sidecar = put(root, "a.jpg", keywords=["beach"]).with_name("a.jpg.xmp")
    state = read_sidecar(sidecar)
    sidecar.write_bytes(sidecar.read_bytes().replace(b"beach", b"beach-and-sun"))
    with pytest.raises(SidecarChanged):
        replace_sidecar(state, b"<x:xmpmeta xmlns:x='adobe:ns:meta/'/>")
    assert keywords_in(sidecar) == ["beach-and-sun"]
    assert names_in(root) == ["a.jpg", "a.jpg.xmp"]


async def test_a_malformed_sidecar_is_left_untouched(root: Path, make: MakeConnector) -> None:
    put(root, "a.jpg")
    (root / "a.jpg.xmp").write_bytes(b"<not-closed")
    (outcome,) = await make().write([change("a.jpg", "perf:top-10")])
    assert outcome.status == "failed"
    assert not outcome.retryable
    assert "left untouched" in (outcome.detail or "")
    assert (root / "a.jpg.xmp").read_bytes() == b"<not-closed"


async def test_a_missing_asset_fails_without_creating_a_sidecar(
    root: Path, make: MakeConnector
) -> None:
    (outcome,) = await make().write([change("gone.jpg", "perf:top-10")])
    assert (outcome.status, outcome.detail) == ("failed", "no such asset file")
    assert not (root / "gone.jpg.xmp").exists()


async def test_one_outcome_per_change_in_order(root: Path, make: MakeConnector) -> None:
    put(root, "a.jpg", keywords=["perf:top-10"])
    put(root, "b.jpg")
    outcomes = await make().write(
        [change("b.jpg", "perf:middle"), change("missing.jpg"), change("a.jpg", "perf:top-10")]
    )
    assert [(o.external_id, o.status) for o in outcomes] == [
        ("b.jpg", "applied"),
        ("missing.jpg", "failed"),
        ("a.jpg", "skipped"),
    ]
