"""The shared connector contract, run against the GA4 simulator.

The contract reads the last four days (``start_date=3``) with a two-day look-back: GA4 revises
only its last days, so the item the contract changes (a third of the way through the sorted
ids, i.e. on the second of the four days) must lie where revisions happen, and the first day
lies outside the look-back, so a connector that re-reads everything fails the no-change test.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import date, timedelta
from typing import Any

from syncbridge_ga4 import spec
from syncbridge_ga4.report import id_day
from syncbridge_ga4.sandbox import sandbox
from syncbridge_ga4.settings import Ga4Settings
from syncbridge_ga4.simulator import Ga4Simulator

from syncbridge.connector.registry import ConnectorRegistry
from syncbridge.connector.spec import Connector
from syncbridge.connector.testing import ConnectorContract
from syncbridge.sandbox.faults import FaultKnobs
from syncbridge.sandbox.spec import SandboxRegistry
from syncbridge.sandbox.world import LATE_DAYS, World

from .support import BASE, expected_records, last_days, make_simulator, settings_for, stranger

DAYS = 4
LOOKBACK = 2


class TestGa4Contract(ConnectorContract):
    spec = spec
    sim: Ga4Simulator

    async def make_connector(
        self, *, faults: FaultKnobs | None = None, **overrides: Any
    ) -> Connector:
        # The simulator's wall clock is the suite's virtual one: JWT times and quota hours
        # agree with the connector's.
        self.sim = make_simulator(faults=faults, wall_clock=self.clock.wall)
        settings = settings_for(self.sim, page_size=10, start_date=DAYS - 1, lookback_days=LOOKBACK)
        values = {**settings.model_dump(), **overrides}
        return spec.factory(spec.settings_model(**values), self.client_for(self.sim))

    def _expected(self) -> dict[str, dict[str, Any]]:
        return expected_records(self.sim, days=last_days(self.sim, DAYS))

    def expected_ids(self, stream: str) -> set[str]:
        assert stream == "asset_performance"
        return set(self._expected())

    def expected_fields(self, stream: str, external_id: str) -> Mapping[str, Any]:
        assert stream == "asset_performance"
        return self._expected().get(external_id, {"<unknown id>": external_id})

    def incremental_rereads(self, stream: str) -> set[str]:
        # The watermark is the last day read (today); the look-back re-reads it and the
        # LOOKBACK days before it.
        window = set(last_days(self.sim, LOOKBACK + 1))
        return {i for i in self.expected_ids(stream) if id_day(i) in window}

    def bad_credentials_overrides(self) -> Mapping[str, Any]:
        key = stranger().key_file(token_uri=f"{BASE}/token")
        return {"service_account_json": json.dumps(key)}

    async def modify_item(self, stream: str, external_id: str) -> None:
        assert stream == "asset_performance"
        day = id_day(external_id)
        assert day is not None
        late = self.sim.world.analytics_end - timedelta(days=LATE_DAYS - 1)
        assert day >= late, f"GA4 revises only its last {LATE_DAYS} days, not {day}"
        self.sim.revise()

    def injected_faults(self) -> int | None:
        middleware = self.sim.fault_middleware
        return None if middleware is None else sum(middleware.injected.values())


def test_the_contract_world_has_data_on_every_day_it_reads() -> None:
    sim = make_simulator()
    days = last_days(sim, DAYS)
    assert all(sim.rows(d) for d in days)
    assert days[-1] == sim.world.analytics_end == date(2026, 11, 30)


def test_sandbox_builds_the_simulator_and_settings_that_reach_it() -> None:
    assert sandbox.key == spec.key == "ga4"
    assert sandbox.simulator is not None
    app = sandbox.simulator(World(seed=1, assets_count=3), faults=FaultKnobs())
    assert isinstance(app, Ga4Simulator)
    settings = Ga4Settings(**app.connection_settings("http://127.0.0.1:9001"))
    assert settings.token_endpoint() == "http://127.0.0.1:9001/token"
    assert settings.base_url == "http://127.0.0.1:9001"
    assert settings.property_id == app.sandbox_info["property_id"]


def test_the_entry_points_resolve_to_the_spec_and_the_sandbox() -> None:
    assert ConnectorRegistry.from_entry_points().get("ga4") is spec
    assert SandboxRegistry.from_entry_points().get("ga4") is sandbox
