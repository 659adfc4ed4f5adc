"""The shared connector contract, run against the Cloudinary simulator."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from syncbridge_cloudinary import spec
from syncbridge_cloudinary.simulator import CloudinarySimulator

from syncbridge.connector.spec import Connector
from syncbridge.connector.testing import ConnectorContract
from syncbridge.sandbox.faults import FaultKnobs

from .support import make_simulator, settings_for


class TestCloudinaryContract(ConnectorContract):
    spec = spec
    sim: CloudinarySimulator

    async def make_connector(
        self, *, faults: FaultKnobs | None = None, **overrides: Any
    ) -> Connector:
        # The simulator's clock is the suite's virtual wall clock, so signed requests and
        # notifications are neither stale nor from the future.
        self.sim = make_simulator(faults=faults, clock=self.clock.wall)
        client = self.client_for(self.sim)
        # Small pages: fetch batches 100 ids per call, so the reads must meet the faults.
        values = {**settings_for(self.sim, page_size=3).model_dump(), **overrides}
        return spec.factory(spec.settings_model(**values), client)

    def expected_ids(self, stream: str) -> set[str]:
        assert stream == "resources"
        return set(self.sim.store.by_asset_id)

    def expected_fields(self, stream: str, external_id: str) -> Mapping[str, Any]:
        assert stream == "resources"
        resource = self.sim.store.by_asset_id[external_id]
        return {
            "public_id": resource.public_id,
            "resource_type": resource.resource_type,
            "bytes": resource.bytes,
        }

    def bad_credentials_overrides(self) -> Mapping[str, Any]:
        return {"api_secret": "not-the-secret"}

    async def signed_webhook(self) -> tuple[dict[str, str], bytes]:
        target = self.sim.store.by_asset_id[sorted(self.sim.store.by_asset_id)[0]]
        return self.sim.notification(
            "resource_tags_changed",
            target.public_id,
            resource_type=target.resource_type,
            change={"added": ["summer"], "removed": []},
        )

    def human_tags(self, external_id: str) -> set[str]:
        tags = self.sim.store.by_asset_id[external_id].tags
        return {t for t in tags if not t.startswith("perf:")}

    def injected_faults(self) -> int | None:
        middleware = self.sim.faults
        return None if middleware is None else sum(middleware.injected.values())
