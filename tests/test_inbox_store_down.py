"""Guarantee 1's other half: when the store cannot take a delivery, the vendor gets 503 (and
retries later), never a 2xx for an event that is not stored."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from syncbridge.settings import Settings
from tests.conftest import BACKEND
from tests.inbox_support import refusing_connections, sandboxed_app

pytestmark = [
    pytest.mark.embedded_worker(False),
    pytest.mark.skipif(
        BACKEND != "postgresql",
        reason="PostgreSQL can refuse connections to one database (ALLOW_CONNECTIONS false)",
    ),
]


async def test_a_store_that_refuses_connections_gets_503_and_the_vendor_retries(
    settings: Settings, db_url: str, tmp_path: Path
) -> None:
    database = make_url(db_url).database
    async with sandboxed_app(settings, tmp_path / "dam") as world:
        sim = world.simulator("hubspot")
        url = world.webhook_url("hubspot")
        deals = sorted(sim.ids("deals"))
        headers, body, _ = sim.notification("deals", deals[0], url=url)
        assert (await world.client.post(url, content=body, headers=headers)).status_code == 200
        headers2, body2, _ = sim.notification("deals", deals[1], url=url)
        async with refusing_connections(str(database)):
            refused = await world.client.post(url, content=body2, headers=headers2)
            assert refused.status_code == 503
            assert refused.headers["retry-after"]
            assert refused.headers["content-type"].startswith("application/problem+json")
        assert [e.external_id for e in await world.events()] == [deals[0]]
        # The vendor's retry, once the store is back, is taken.
        retried = await world.client.post(url, content=body2, headers=headers2)
        assert retried.status_code == 200, retried.text
        assert retried.json() == {"received": 1, "new": 1}
        assert sorted(e.external_id or "" for e in await world.events()) == sorted(deals[:2])
