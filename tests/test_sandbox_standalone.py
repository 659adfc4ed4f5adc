"""Every installed simulator, served on its own as `syncbridge sandbox serve <key>` does,
answers a connection built from the settings it prints (issue 8: standalone and mounted;
mounted is ``test_sandbox_embedded.py``)."""

from __future__ import annotations

import httpx
import pytest

from syncbridge.connector.http import create_http_client
from syncbridge.connector.registry import ConnectorRegistry
from syncbridge.sandbox.cli import build_simulator
from syncbridge.sandbox.faults import FaultKnobs
from syncbridge.sandbox.spec import SandboxRegistry
from syncbridge.sandbox.world import World

SIMULATED = sorted(
    key
    for key, spec in SandboxRegistry.from_entry_points().load_all().items()
    if not isinstance(spec, Exception) and spec.simulator is not None
)


def test_every_http_vendor_ships_a_simulator() -> None:
    assert set(SIMULATED) == {"bynder", "cloudinary", "ga4", "hubspot", "salesforce"}


@pytest.mark.parametrize("key", SIMULATED)
async def test_a_standalone_simulator_answers_the_connection_it_prints(key: str) -> None:
    sandbox = SandboxRegistry.from_entry_points().get(key)
    simulator = build_simulator(sandbox, World(seed=7, assets_count=40), FaultKnobs())
    printed = dict(simulator.connection_settings("http://127.0.0.1:9001"))
    spec = ConnectorRegistry.from_entry_points().get(key)
    settings = spec.settings_model.model_validate(printed)
    transport = httpx.ASGITransport(app=simulator)
    async with create_http_client(transport=transport) as client:
        connector = spec.factory(settings, client)
        try:
            result = await connector.check()
        finally:
            await connector.aclose()
    assert result.ok, result.detail
