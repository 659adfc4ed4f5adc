"""The shared connector contract, run against the HubSpot simulator."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from syncbridge_hubspot import spec
from syncbridge_hubspot.sandbox import sandbox
from syncbridge_hubspot.settings import HubSpotSettings
from syncbridge_hubspot.simulator import HubSpotSimulator

from syncbridge.connector.registry import ConnectorRegistry
from syncbridge.connector.spec import Connector
from syncbridge.connector.testing import ConnectorContract
from syncbridge.sandbox.faults import FaultKnobs
from syncbridge.sandbox.spec import SandboxRegistry

from . import support


class TestHubSpotContract(ConnectorContract):
    spec = spec
    sim: HubSpotSimulator

    async def make_connector(
        self, *, faults: FaultKnobs | None = None, **overrides: Any
    ) -> Connector:
        # The simulator shares the suite's virtual clock: its rate windows and the webhook
        # timestamps it signs move with the connector's limiter and verifier.
        self.sim = support.make_simulator(
            faults=faults, monotonic=self.clock, wall_clock=self.clock.wall
        )
        settings = support.settings_for(self.sim, **overrides)
        return spec.factory(settings, self.client_for(self.sim))

    def expected_ids(self, stream: str) -> set[str]:
        return self.sim.ids(stream)

    def expected_fields(self, stream: str, external_id: str) -> Mapping[str, Any]:
        return support.expected_fields(self.sim, stream, external_id)

    def bad_credentials_overrides(self) -> Mapping[str, Any]:
        return {"access_token": "pat-na1-not-the-token"}

    async def modify_item(self, stream: str, external_id: str) -> None:
        if stream == "campaigns":
            self.sim.modify(stream, external_id, {"hs_notes": "edited in the contract test"})
        elif stream == "contacts":
            self.sim.modify(stream, external_id, {"lifecyclestage": "customer"})
        elif stream == "companies":
            self.sim.modify(stream, external_id, {"domain": "edited.example.com"})
        else:
            self.sim.modify(stream, external_id, {"dealstage": "closedwon", "amount": "1234.5"})

    async def signed_webhook(self) -> tuple[dict[str, str], bytes]:
        deal = sorted(self.sim.ids("deals"))[0]
        headers, body, _ = self.sim.notification(
            "deals",
            deal,
            property_name="dealstage",
            property_value="closedwon",
            url=self.webhook_url,
        )
        return headers, body

    def injected_faults(self) -> int | None:
        middleware = self.sim.fault_middleware
        return None if middleware is None else sum(middleware.injected.values())


def test_entry_points_resolve_to_the_specs() -> None:
    assert ConnectorRegistry.from_entry_points().get("hubspot") is spec
    assert SandboxRegistry.from_entry_points().get("hubspot") is sandbox


def test_sandbox_spec_builds_a_simulator_with_working_settings() -> None:
    assert sandbox.key == "hubspot"
    assert sandbox.simulator is not None
    sim = sandbox.simulator(support.world(), faults=FaultKnobs())
    settings = HubSpotSettings(**sim.connection_settings("http://127.0.0.1:9001"))
    assert spec.settings_model is HubSpotSettings
    assert settings.base_url == "http://127.0.0.1:9001"
    assert settings.client_secret is not None
