"""The shared connector contract, run against a folder materialized from the sandbox world."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from syncbridge_localfolder import spec
from syncbridge_localfolder.simulator import human_keywords, materialize

from syncbridge.connector.spec import Connector
from syncbridge.connector.testing import ConnectorContract
from syncbridge.sandbox.faults import FaultKnobs
from syncbridge.sandbox.world import World


class TestLocalFolderContract(ConnectorContract):
    spec = spec
    world = World(seed=42, assets_count=57)

    @pytest.fixture(autouse=True)
    def _folder(self, tmp_path: Path) -> None:
        self.tmp = tmp_path
        self.made = 0

    async def make_connector(
        self, *, faults: FaultKnobs | None = None, **overrides: Any
    ) -> Connector:
        # A folder has no transport to break: ``faults`` does not apply (see the skip below).
        del faults
        self.made += 1
        self.root = self.tmp / f"dam-{self.made}"
        self.root.mkdir()
        self.paths = {path: i for i, path in enumerate(materialize(self.world, self.root))}
        settings = spec.settings_model(**{"root": self.root, "page_size": 10, **overrides})
        return spec.factory(settings, self.client_for(_no_http))

    def expected_ids(self, stream: str) -> set[str]:
        assert stream == "files"
        return set(self.paths)

    def expected_fields(self, stream: str, external_id: str) -> Mapping[str, Any]:
        assert stream == "files"
        path = self.root / external_id
        return {
            "name": path.name,
            "size": path.stat().st_size,
            "content_hash": hashlib.sha256(path.read_bytes()).hexdigest(),
        }

    async def modify_item(self, stream: str, external_id: str) -> None:
        assert stream == "files"
        with (self.root / external_id).open("ab") as handle:
            handle.write(b"edited")

    def human_tags(self, external_id: str) -> set[str]:
        return set(human_keywords(self.world.asset(self.paths[external_id])))

    def write_target(self, stream: str) -> str:
        return next(p for p in sorted(self.expected_ids(stream)) if self.human_tags(p))

    async def test_read_through_vendor_faults_equals_fault_free_read(self) -> None:
        pytest.skip("localfolder makes no vendor calls: there is no transport to inject faults in")


async def _no_http(*_asgi: Any) -> None:
    raise AssertionError("the localfolder connector must not make HTTP calls")
