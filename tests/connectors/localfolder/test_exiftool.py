"""exiftool, the reference XMP reader, agrees with what the connector writes, and vice versa.

Needs ``exiftool`` (Debian: ``libimage-exiftool-perl``). Without it these tests skip, unless
``SYNCBRIDGE_REQUIRE_EXIFTOOL=1`` is set (CI), where a missing exiftool is a failure.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest

from syncbridge.connector.types import Ref, TagChange
from tests.connectors.localfolder.conftest import MakeConnector
from tests.connectors.localfolder.dam import put

#: Keywords that need escaping or are not ASCII, to prove the XML is written correctly.
AWKWARD = ["Beach & Sun", "<draft>", 'say "cheese"', "café", "東京"]


@pytest.fixture
def exiftool() -> str:
    """The exiftool executable (fails or skips, by SYNCBRIDGE_REQUIRE_EXIFTOOL, when absent)."""
    found = shutil.which("exiftool")
    if found is not None:
        return found
    if os.environ.get("SYNCBRIDGE_REQUIRE_EXIFTOOL") == "1":
        pytest.fail("exiftool is required (SYNCBRIDGE_REQUIRE_EXIFTOOL=1) but not installed")
    pytest.skip(
        "exiftool not installed (apt-get install libimage-exiftool-perl); "
        "set SYNCBRIDGE_REQUIRE_EXIFTOOL=1 to make this a failure"
    )


async def run(*args: str) -> str:
    process = await asyncio.create_subprocess_exec(
        *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await process.communicate()
    assert process.returncode == 0, err.decode()
    return out.decode()


async def exif_tags(exiftool: str, sidecar: Path) -> dict[str, Any]:
    """Every XMP tag exiftool reads in a sidecar, keyed ``XMP-<group>:<name>``."""
    out = await run(exiftool, "-j", "-G1", "-a", str(sidecar))
    (tags,) = json.loads(out)
    return {k: v for k, v in tags.items() if k.startswith("XMP-")}


async def exif_subject(exiftool: str, sidecar: Path) -> list[str]:
    out = await run(exiftool, "-j", "-XMP-dc:Subject", str(sidecar))
    (tags,) = json.loads(out)
    subject = tags.get("Subject", [])
    return [str(k) for k in subject] if isinstance(subject, list) else [str(subject)]


async def test_exiftool_reads_exactly_the_keywords_written(
    exiftool: str, root: Path, make: MakeConnector
) -> None:
    put(root, "new.jpg")
    put(root, "tagged.jpg", keywords=[*AWKWARD, "perf:bottom-25"])
    connector = make()
    outcomes = await connector.write(
        [
            TagChange("files", "new.jpg", frozenset({"perf:top-10"})),
            TagChange("files", "tagged.jpg", frozenset({"perf:top-10", "perf:rising"})),
        ]
    )
    assert [o.status for o in outcomes] == ["applied", "applied"]
    assert await exif_subject(exiftool, root / "new.jpg.xmp") == ["perf:top-10"]
    assert await exif_subject(exiftool, root / "tagged.jpg.xmp") == [
        *AWKWARD,
        "perf:rising",
        "perf:top-10",
    ]


async def test_a_sidecar_written_by_exiftool_is_read_and_updated_keeping_its_content(
    exiftool: str, root: Path, make: MakeConnector
) -> None:
    put(root, "a.jpg")
    sidecar = root / "a.jpg.xmp"
    await run(
        exiftool,
        "-q",
        "-XMP-dc:Subject=beach",
        "-XMP-dc:Subject=perf:bottom-25",
        "-XMP-dc:Subject=sunset",
        "-XMP-dc:Title=Hero shot",
        "-XMP-dc:Creator=Ann Lee",
        "-XMP-xmp:Rating=4",
        "-XMP-photoshop:City=Lisbon",
        "-XMP-iptcCore:Location=Alfama",
        "-o",
        str(sidecar),
    )
    connector = make()
    (record,) = await connector.fetch([Ref("files", "a.jpg")])
    assert record.data["tags"] == ["beach", "perf:bottom-25", "sunset"]
    before = await exif_tags(exiftool, sidecar)

    (outcome,) = await connector.write([TagChange("files", "a.jpg", frozenset({"perf:top-10"}))])

    assert outcome.status == "applied"
    after = await exif_tags(exiftool, sidecar)
    assert after.pop("XMP-dc:Subject") == ["beach", "sunset", "perf:top-10"]
    before.pop("XMP-dc:Subject")
    assert after == before  # title, creator, rating, city, location, toolkit: all kept
    (again,) = await connector.write([TagChange("files", "a.jpg", frozenset({"perf:top-10"}))])
    assert again.status == "skipped"
