"""The spec as the registry finds it, its settings validation, and the sandbox materializer."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from pydantic import ValidationError
from syncbridge_localfolder import LocalFolderSettings, spec
from syncbridge_localfolder.simulator import asset_bytes, human_keywords, materialize
from syncbridge_localfolder.xmp import XmpDocument

from syncbridge.connector.registry import ConnectorRegistry
from syncbridge.connector.types import Capability, SystemKind
from syncbridge.sandbox.spec import SandboxRegistry
from syncbridge.sandbox.world import World
from tests.connectors.localfolder.conftest import MakeConnector
from tests.connectors.localfolder.dam import ids, names_in, read_all


def test_the_entry_point_loads_the_spec() -> None:
    loaded = ConnectorRegistry.from_entry_points().get("localfolder")
    assert loaded is spec
    assert loaded.kind is SystemKind.dam
    assert loaded.capabilities == {Capability.read, Capability.incremental, Capability.write_back}
    sandbox = SandboxRegistry.from_entry_points().get("localfolder")
    assert sandbox.simulator is None
    assert sandbox.materialize is not None


def test_settings_have_no_secrets_and_no_urls() -> None:
    assert spec.settings_model.secret_fields() == frozenset()
    assert spec.settings_model.url_fields() == frozenset()


@pytest.mark.parametrize(
    ("root", "reason"),
    [
        ("relative/dir", "must be an absolute path"),
        ("/nonexistent/syncbridge-dam", "does not exist"),
    ],
)
def test_a_bad_root_is_a_clear_validation_error(root: str, reason: str) -> None:
    with pytest.raises(ValidationError, match=reason) as caught:
        LocalFolderSettings(root=root)
    assert caught.value.errors()[0]["loc"] == ("root",)


def test_a_file_as_root_is_refused(tmp_path: Path) -> None:
    (tmp_path / "file").write_bytes(b"")
    with pytest.raises(ValidationError, match="is not a directory"):
        LocalFolderSettings(root=tmp_path / "file")


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("sidecar_style", "xmp"),
        ("hash_algorithm", "crc32"),
        ("hash_algorithm", "shake_128"),
        ("tag_prefix", ""),
        ("include", []),
        ("include", [" "]),
        ("page_size", 0),
        ("base_url", "http://localhost"),
    ],
)
def test_bad_settings_are_refused(tmp_path: Path, field: str, value: object) -> None:
    with pytest.raises(ValidationError) as caught:
        LocalFolderSettings(**{"root": tmp_path, field: value})
    assert caught.value.errors()[0]["loc"][0] == field


def test_defaults_are_ext_sidecars_sha256_and_the_perf_prefix(tmp_path: Path) -> None:
    settings = LocalFolderSettings(root=tmp_path)
    assert (settings.sidecar_style, settings.hash_algorithm, settings.tag_prefix) == (
        "ext",
        "sha256",
        "perf:",
    )


def test_materialize_writes_the_world_deterministically(tmp_path: Path) -> None:
    world = World(seed=7, assets_count=12)
    first = materialize(world, tmp_path / "one")
    assert materialize(world, tmp_path / "two") == first
    assert first == [asset.path for asset in world.assets()]
    assert names_in(tmp_path / "one") == names_in(tmp_path / "two")
    for path in first:
        one, two = (tmp_path / "one" / path), (tmp_path / "two" / path)
        assert one.read_bytes() == two.read_bytes()
        assert one.stat().st_mtime_ns == two.stat().st_mtime_ns


def test_materialize_puts_human_keywords_in_most_sidecars(tmp_path: Path) -> None:
    world = World(seed=7, assets_count=10)
    materialize(world, tmp_path, limit=5)
    with_sidecar = 0
    for asset in world.assets()[:5]:
        sidecar = tmp_path / (asset.path + ".xmp")
        if human_keywords(asset):
            with_sidecar += 1
            assert XmpDocument.parse(sidecar.read_bytes()).keywords() == list(asset.tags)
        else:
            assert not sidecar.exists()
    assert with_sidecar == 4
    assert not (tmp_path / world.asset(5).path).exists()


async def test_a_connector_reads_a_materialized_world(root: Path, make: MakeConnector) -> None:
    world = World(seed=3, assets_count=15)
    materialize(world, root, sidecar_style="stem")
    pages = await read_all(make(sidecar_style="stem"))
    assert sorted(ids(pages)) == sorted(asset.path for asset in world.assets())
    by_id = {r.external_id: r for p in pages for r in p.records}
    for asset in world.assets():
        record = by_id[asset.path]
        assert record.data["tags"] == human_keywords(asset)
        assert record.data["content_hash"] == hashlib.sha256(asset_bytes(asset)).hexdigest()
