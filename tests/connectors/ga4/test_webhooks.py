"""GA4 has no webhooks: the connector refuses every delivery instead of inventing events."""

from __future__ import annotations

import pytest
from syncbridge_ga4 import spec

from syncbridge.connector.errors import InvalidWebhook
from syncbridge.connector.types import Capability

from .support import client_for, connector_for, make_simulator


def test_the_spec_does_not_offer_webhooks() -> None:
    assert Capability.webhooks not in spec.capabilities
    assert spec.capabilities == {Capability.read, Capability.incremental}


@pytest.mark.parametrize(
    "body", [b"", b"{}", b'{"property": "properties/1", "event": "report_ready"}', b"x" * 2**20]
)
async def test_every_delivery_is_refused(body: bytes) -> None:
    sim = make_simulator(assets=3)
    async with client_for(sim) as client:
        connector = connector_for(sim, client)
        with pytest.raises(InvalidWebhook, match="no webhooks"):
            await connector.parse_webhook(
                {"Content-Type": "application/json"},
                body,
                url="https://syncbridge.example.com/webhooks/ga4",
            )
