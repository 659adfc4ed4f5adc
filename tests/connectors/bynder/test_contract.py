"""The shared connector contract, run against the Bynder simulator."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from syncbridge_bynder import spec
from syncbridge_bynder.simulator import BynderSimulator

from syncbridge.connector.registry import ConnectorRegistry
from syncbridge.connector.spec import Connector
from syncbridge.connector.testing import ConnectorContract
from syncbridge.sandbox.cli import build_simulator
from syncbridge.sandbox.faults import FaultKnobs
from syncbridge.sandbox.spec import SandboxRegistry
from syncbridge.sandbox.world import World

from .support import make_simulator, settings_for


class TestBynderContract(ConnectorContract):
    spec = spec
    sim: BynderSimulator

    async def make_connector(
        self, *, faults: FaultKnobs | None = None, **overrides: Any
    ) -> Connector:
        self.sim = make_simulator(faults=faults)
        # Bynder's advised 3 s wait before fetching stays on: the suite runs on virtual time.
        settings = settings_for(self.sim, fetch_delay_s=3.0, rate_limit_block_s=300.0)
        values = {**settings.model_dump(), **overrides}
        return spec.factory(spec.settings_model(**values), self.client_for(self.sim))

    def expected_ids(self, stream: str) -> set[str]:
        if stream == "media":
            return set(self.sim.portal.media)
        return set(self.sim.portal.metaproperties)

    def expected_fields(self, stream: str, external_id: str) -> Mapping[str, Any]:
        if stream == "media":
            medium = self.sim.media(external_id)
            return {k: medium[k] for k in ("name", "dateModified", "tags", "type")}
        return {"name": self.sim.portal.metaproperties[external_id]["name"]}

    def bad_credentials_overrides(self) -> Mapping[str, Any]:
        return {"permanent_token": "not-the-token"}

    async def modify_item(self, stream: str, external_id: str) -> None:
        assert stream == "media"
        self.sim.edit_tags(external_id, [*self.sim.media(external_id)["tags"], "edited"])

    async def signed_webhook(self) -> tuple[dict[str, str], bytes]:
        media_id = sorted(self.sim.portal.media)[0]
        return self.sim.notification("asset_bank.media.updated", media_id)

    def human_tags(self, external_id: str) -> set[str]:
        return {t for t in self.sim.media(external_id)["tags"] if not t.startswith("perf:")}

    async def settle(self) -> None:
        self.sim.apply_pending()

    def injected_faults(self) -> int | None:
        middleware = self.sim.fault_middleware
        return None if middleware is None else sum(middleware.injected.values())


def test_entry_point_resolves_to_the_spec() -> None:
    assert ConnectorRegistry.from_entry_points().get("bynder") is spec


def test_sandbox_builds_the_simulator_with_its_credentials() -> None:
    sandbox = SandboxRegistry.from_entry_points().get("bynder")
    app = build_simulator(sandbox, World(seed=1, assets_count=3), FaultKnobs())
    assert isinstance(app, BynderSimulator)
    info = app.sandbox_info
    assert info["token"]
    assert info["cert_pem"].startswith("-----BEGIN CERTIFICATE-----")
    assert set(info) >= {"topic_arn", "owned_metaproperty_id"}
