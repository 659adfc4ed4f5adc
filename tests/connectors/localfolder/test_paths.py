"""Nothing outside the root is read or written: escaping refs are refused, links not followed."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from syncbridge.connector.errors import PermanentConnectorError
from syncbridge.connector.types import Ref, TagChange
from tests.connectors.localfolder.conftest import MakeConnector
from tests.connectors.localfolder.dam import ids, names_in, put, read_all

ESCAPES = [
    "../secret.jpg",
    "a/../../secret.jpg",
    "/etc/passwd",
    "./a.jpg",
    "a//b.jpg",
    "a/./b.jpg",
    "",
    "a.jpg\x00.png",
    "linked-dir/outside.jpg",
    "linked-file.jpg",
]


@pytest.fixture
def outside(root: Path) -> Path:
    """A file next to the root, plus links inside the root that point at it."""
    secret = root.parent / "secret.jpg"
    secret.write_bytes(b"not yours")
    (root.parent / "elsewhere").mkdir()
    (root.parent / "elsewhere" / "outside.jpg").write_bytes(b"not yours either")
    os.symlink(root.parent / "elsewhere", root / "linked-dir")
    os.symlink(secret, root / "linked-file.jpg")
    put(root, "a.jpg")
    return secret


@pytest.mark.parametrize("ref", ESCAPES)
@pytest.mark.usefixtures("outside")
async def test_fetch_refuses_a_ref_that_escapes_root(make: MakeConnector, ref: str) -> None:
    with pytest.raises(PermanentConnectorError):
        await make().fetch([Ref("files", ref)])


@pytest.mark.parametrize("ref", ESCAPES)
@pytest.mark.usefixtures("outside")
async def test_write_refuses_a_ref_that_escapes_root_and_writes_nothing(
    root: Path, make: MakeConnector, ref: str
) -> None:
    before = names_in(root.parent)
    changes = [
        TagChange("files", "a.jpg", frozenset({"perf:x"})),
        TagChange("files", ref, frozenset({"perf:x"})),
    ]
    with pytest.raises(PermanentConnectorError):
        await make().write(changes)
    # Refs are checked before anything is written, so the valid change did not land either,
    # and no sidecar appeared next to a file outside the root.
    assert names_in(root.parent) == before


@pytest.mark.usefixtures("outside")
async def test_the_walk_does_not_follow_links(make: MakeConnector) -> None:
    assert ids(await read_all(make())) == ["a.jpg"]


async def test_a_link_inside_root_is_not_an_asset_but_its_target_is(
    root: Path, make: MakeConnector
) -> None:
    put(root, "real/b.jpg")
    os.symlink(root / "real", root / "alias")
    os.symlink(root / "real" / "b.jpg", root / "c.jpg")
    connector = make()
    assert ids(await read_all(connector)) == ["real/b.jpg"]
    with pytest.raises(PermanentConnectorError, match="symbolic link"):
        await connector.fetch([Ref("files", "alias/b.jpg")])


async def test_a_sidecar_that_is_a_link_is_neither_read_nor_replaced(
    root: Path, make: MakeConnector
) -> None:
    put(root, "a.jpg")
    target = root.parent / "target.xmp"
    target.write_bytes(
        b"<x:xmpmeta xmlns:x='adobe:ns:meta/'><rdf:RDF xmlns:rdf='http://www.w3.org/1999/02/22-rdf-syntax-ns#'/></x:xmpmeta>"
    )
    os.symlink(target, root / "a.jpg.xmp")
    (outcome,) = await make().write([TagChange("files", "a.jpg", frozenset({"perf:x"}))])
    assert outcome.status == "failed"
    assert b"perf:x" not in target.read_bytes()


async def test_a_linked_root_is_used_through_its_real_path(
    tmp_path: Path, make: MakeConnector, root: Path
) -> None:
    put(root, "a.jpg")
    linked = tmp_path / "linked-root"
    os.symlink(root, linked)
    connector = make(root=linked)
    assert ids(await read_all(connector)) == ["a.jpg"]
    (record,) = await connector.fetch([Ref("files", "a.jpg")])
    assert record.external_id == "a.jpg"


async def test_a_ref_of_another_stream_is_refused(make: MakeConnector) -> None:
    with pytest.raises(PermanentConnectorError, match="no stream"):
        await make().fetch([Ref("media", "a.jpg")])
