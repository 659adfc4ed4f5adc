"""QUALITY R2, ingest durability: a `syncbridge serve` process taking 1,000 concurrent signed
webhook POSTs is killed with SIGKILL in the middle of them. Every delivery it answered with a
2xx is in the inbox (read straight from the database: nothing is restarted)."""

from __future__ import annotations

import asyncio
import json
import random
from collections import Counter
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from syncbridge_hubspot.simulator import HubSpotSimulator
from syncbridge_hubspot.webhooks import delivery_key

from syncbridge.db import open_store
from syncbridge.models import InboxEvent
from syncbridge.sandbox.world import World
from syncbridge.store.unit_of_work import in_unit_of_work
from tests.inbox_process_support import PUBLIC_URL, answering, api, connect, free_port, raw_post

DELIVERIES = 1_000
#: The POSTs start over this spread and are all in flight together: the answers keep
#: coming (a group commit's batch at a time) while the kill lands.
SPREAD_S = 1.0


async def test_r2_every_delivery_answered_2xx_survives_a_sigkill_of_the_api(
    db_url: str, tmp_path: Path
) -> None:
    rng = random.Random(2)
    sim = HubSpotSimulator(World(assets_count=200))
    async with open_store(db_url) as sessionmaker:
        # Nothing is fetched: the vendor's address only has to pass the connection's checks.
        connection_id = await connect(sessionmaker, sim, "http://127.0.0.1:9")
        deals = sorted(sim.ids("deals"), key=int)
        path = f"/webhooks/{connection_id}"
        deliveries = []
        for _ in range(DELIVERIES):
            events = [
                sim.webhooks.event("deals", rng.choice(deals), "propertyChange")
                for _ in range(rng.choice((1, 1, 1, 2, 5)))
            ]
            headers, body, _ = sim.webhooks.delivery(events, url=PUBLIC_URL + path)
            deliveries.append((events, headers, body))
        port = free_port()
        server = api(db_url, tmp_path, port)
        server.start()
        answered: dict[int, tuple[int, bytes]] = {}
        try:
            await answering(f"http://127.0.0.1:{port}/healthz", server, "the API")

            async def post(i: int) -> None:
                await asyncio.sleep(rng.uniform(0, SPREAD_S))
                _, headers, body = deliveries[i]
                answer = await raw_post(port, path, headers, body)
                if answer is not None:
                    answered[i] = answer

            storm = [asyncio.create_task(post(i)) for i in range(DELIVERIES)]
            target = rng.randint(DELIVERIES // 5, DELIVERIES // 2)
            while sum(1 for status, _ in answered.values() if status == 200) < target:
                assert server.alive, server.output()[-4000:]
                assert not all(t.done() for t in storm), Counter(s for s, _ in answered.values())
                await asyncio.sleep(0.001)
            answered_at_kill = len(answered)
            server.kill()
            await asyncio.gather(*storm)
        finally:
            server.kill()
        statuses = Counter(status for status, _ in answered.values())
        assert answered_at_kill < DELIVERIES
        assert len(answered) < DELIVERIES, "every POST was answered: the kill was not mid-storm"
        assert set(statuses) <= {200, 503}, statuses
        ok = [i for i, (status, _) in answered.items() if status == 200]
        assert len(ok) >= target
        for i in ok:
            reply = json.loads(answered[i][1])
            assert reply == {"received": len(deliveries[i][0]), "new": len(deliveries[i][0])}

        async def stored(session: AsyncSession) -> set[str]:
            keys = select(InboxEvent.delivery_key).where(InboxEvent.connection_id == connection_id)
            return set(await session.scalars(keys))

        inbox = await in_unit_of_work(sessionmaker, stored, write=False)
    missing = [i for i in ok if any(delivery_key(e) not in inbox for e in deliveries[i][0])]
    assert missing == [], f"{len(missing)} of {len(ok)} deliveries answered 200 are not stored"
