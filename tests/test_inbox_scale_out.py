"""Scale-out (DESIGN "Scheduling and scale-out"): two `syncbridge serve` processes and three
`syncbridge worker` processes against one PostgreSQL end where one API and one worker end.
The same deliveries, duplicates included (split across both APIs), give the same handled
inbox and the same store, which is the vendor's state."""

from __future__ import annotations

import asyncio
import random
import signal
import uuid
from collections import Counter
from pathlib import Path

import httpx
import pytest

from syncbridge.db import open_store
from tests.conftest import BACKEND
from tests.inbox_process_support import (
    Answers,
    Child,
    Sessionmaker,
    Storm,
    Vendor,
    answering,
    api,
    check_exactly_once,
    connect,
    free_port,
    fresh_state,
    inbox_at_rest,
    outcome,
    send_to,
    served_hubspot,
    stored_state,
    storm,
    worker,
)

pytestmark = pytest.mark.skipif(BACKEND != "postgresql", reason="scale-out is PostgreSQL's")

#: 100 deals and 250 contacts.
ASSETS = 1000
EVENTS = 1_500
DUPLICATE_DELIVERIES = 300
SINGLES = 150
#: Connections the scaled-out processes serve at once (one processor per connection at a
#: time, so the workers apply events of different connections side by side).
SCALED = 3


async def _deliver(
    db_url: str,
    folder: Path,
    sessionmaker: Sessionmaker,
    vendor: Vendor,
    plan: Storm,
    connections: list[uuid.UUID],
    *,
    apis: int,
    workers: int,
) -> Answers:
    """Start ``apis`` API and ``workers`` worker processes, send every delivery of ``plan``
    to each connection (interleaved, spread over the APIs), wait until every inbox is at
    rest, and stop them all."""
    name = f"{apis}x{workers}"
    ports = [free_port() for _ in range(apis)]
    servers = [api(db_url, folder, port, f"api-{name}-{i}") for i, port in enumerate(ports)]
    processors = [worker(db_url, folder, f"worker-{name}-{i}") for i in range(workers)]
    children: list[Child] = [*servers, *processors]
    for child in children:
        child.start()
    try:
        for server, port in zip(servers, ports, strict=True):
            await answering(f"http://127.0.0.1:{port}/healthz", server, "an API")
        targets = [
            (f"http://127.0.0.1:{ports[(i + j) % apis]}/webhooks/{connection_id}", delivery)
            for i, delivery in enumerate(plan.deliveries)
            for j, connection_id in enumerate(connections)
        ]
        async with httpx.AsyncClient(timeout=120) as client:
            answers = await send_to(client, vendor.sim, targets, concurrency=16)
        for _ in range(1200):  # a bound that only stops a hung test
            rest = [await inbox_at_rest(sessionmaker, c) for c in connections]
            if all(rest):
                break
            for child in children:
                assert child.alive, child.output()[-4000:]
            await asyncio.sleep(0.25)
    finally:
        codes = [child.stop() for child in children]
    # uvicorn shuts down cleanly, then re-raises the SIGTERM it caught.
    assert all(code in (0, -signal.SIGTERM) for code in codes), codes
    return answers


async def test_two_apis_and_three_workers_end_where_one_api_and_one_worker_end(
    db_url: str, tmp_path: Path
) -> None:
    rng = random.Random(3)
    async with served_hubspot(tmp_path, ASSETS) as vendor, open_store(db_url) as sessionmaker:
        scaled = [await connect(sessionmaker, vendor.sim, vendor.base_url) for _ in range(SCALED)]
        single = await connect(sessionmaker, vendor.sim, vendor.base_url)
        plan = storm(
            vendor,
            rng,
            distinct=EVENTS,
            duplicate_deliveries=DUPLICATE_DELIVERIES,
            singles=SINGLES,
        )
        answers = [
            (scaled, await _deliver(db_url, tmp_path, sessionmaker, vendor, plan, scaled,
                                    apis=2, workers=3)),
            ([single], await _deliver(db_url, tmp_path, sessionmaker, vendor, plan, [single],
                                      apis=1, workers=1)),
        ]  # fmt: skip
        results = {c: await outcome(sessionmaker, c) for c in [*scaled, single]}
        truth = await fresh_state(sessionmaker, single, iter(sorted(plan.objects)))

    for connections, answered in answers:
        assert answered.errors == []
        assert answered.statuses == {200: len(plan.deliveries) * len(connections)}
        assert answered.new == EVENTS * len(connections)
    for result in results.values():
        check_exactly_once(result, plan)
        assert stored_state(result.records) == truth
        assert {j.status for j in result.jobs if j.kind == "inbox.process"} == {"done"}

    def inbox(connection_id: uuid.UUID) -> Counter[tuple[str, str, str | None, str, str | None]]:
        return Counter(
            (e.delivery_key, e.stream, e.external_id, e.status, e.outcome)
            for e in results[connection_id].events
        )

    for connection_id in scaled:
        assert inbox(connection_id) == inbox(single)
    # The scaled-out workers shared the work (each connection's events, one at a time).
    applied = [
        (tmp_path / f"worker-2x3-{i}.log").read_text().count('"inbox.events_applied"')
        for i in range(3)
    ]
    assert sum(applied) == sum(len({e.run_id for e in results[c].events}) for c in scaled)
