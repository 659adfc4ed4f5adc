"""QUALITY R9 at its scale: 5,000 write-backs to Bynder's simulator enforcing 100 requests
per 10 s per client IP (and blocking the IP after), sent by three workers, each as its own
process with its own client, on virtual time shared by the limiters and the simulator. The
simulator also answers a few calls with an injected 429 carrying ``Retry-After``.

The store is built directly, without a sync: the simulator's media as stored assets, one
desired tier each, planned in five rounds of 1,000 (each round queues a send job that
whichever worker claims it runs, its limiter seeded with the calls of the sender before it).
Checked: every write-back done and every medium holding its desired tier; no window of 10 s
holding more than 100 calls; the simulator's own limit never answered 429; and after each
injected 429 with ``Retry-After: N`` the next call arrives at least N s later.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from datetime import date
from typing import Any

import httpx
from cryptography.fernet import Fernet
from fastapi import FastAPI
from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from syncbridge_bynder.simulator import BynderSimulator
from syncbridge_bynder.simulator import simulator as bynder_simulator

from syncbridge.bootstrap import load_default_taxonomy
from syncbridge.connections.schemas import ConnectionCreate
from syncbridge.connections.secrets import SecretBox
from syncbridge.connections.service import ConnectionContext, create_connection
from syncbridge.connections.ssrf import origins
from syncbridge.connector.ratelimit import TimeSource, override_time
from syncbridge.connector.registry import ConnectorRegistry
from syncbridge.connector.spec import HostPolicy
from syncbridge.jobs import HandlerRegistry, Worker
from syncbridge.jobs.services import JobServices
from syncbridge.models import Asset, DesiredTag, TagRule, WriteBack, utcnow
from syncbridge.sandbox.faults import FaultKnobs
from syncbridge.sandbox.world import World
from syncbridge.store.unit_of_work import in_unit_of_work
from syncbridge.tagging.defaults import load_default_tag_rules
from syncbridge.writeback.service import PlanResult, plan_writebacks
from tests.test_writeback_faults import Timed, VirtualTime, busiest_window, run_due
from tests.writeback_support import PREFIX, Sessionmaker

pytest_plugins = ["tests.store_fixtures"]

PUBLIC_URL = "http://127.0.0.1:8000"
LIMIT, WINDOW_S = 100, 10.0
CHANGES, ROUNDS, WORKERS = 5000, 5, 3
#: Above the connection's floor for a 429 (its block, one window), so the header decides.
RETRY_AFTER_S = 30
TIER = "perf:middle"


class Answered(Timed):
    """``Timed``, also noting each Bynder API call with its answer, in the order the calls
    arrive, in ``calls`` (shared by every worker's transport)."""

    def __init__(self, app: FastAPI, clock: VirtualTime, calls: list[tuple[float, int]]) -> None:
        super().__init__(app, clock)
        self.calls = calls

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if not request.url.path.startswith("/sandbox/bynder/api/"):
            return await super().handle_async_request(request)
        index = len(self.calls)
        self.calls.append((self.clock.now(), 0))
        response = await super().handle_async_request(request)
        self.calls[index] = (self.calls[index][0], response.status_code)
        return response


@dataclass
class Portal:
    """A store with one Bynder connection to the simulator, its media stored as assets."""

    sim: BynderSimulator
    app: FastAPI
    ctx: ConnectionContext
    connection_id: uuid.UUID
    rule_id: uuid.UUID
    #: Media id -> stored asset id, in the simulator's order.
    assets: dict[str, uuid.UUID]


async def portal(sessionmaker: Sessionmaker, clock: VirtualTime) -> Portal:
    world = World(assets_count=CHANGES)
    faults = FaultKnobs(rate_429=0.001, retry_after_s=RETRY_AFTER_S, seed=9)
    sim = bynder_simulator(
        world, faults=faults, rate_limit=LIMIT, rate_window_s=WINDOW_S, rate_block_s=WINDOW_S
    )
    sim.rate_limit.clock = clock.now
    app = FastAPI()
    app.mount("/sandbox/bynder", sim)
    ctx = ConnectionContext(
        registry=ConnectorRegistry.from_entry_points(),
        box=SecretBox([Fernet.generate_key()]),
        allow_local=True,
        allowed_origins=origins([PUBLIC_URL]),
        policy=HostPolicy(),
    )
    settings = sim.connection_settings(f"{PUBLIC_URL}/sandbox/bynder") | {
        "rate_limit_requests": LIMIT,
        "rate_limit_period_s": WINDOW_S,
        "rate_limit_block_s": WINDOW_S,
        "fetch_delay_s": 0,
    }

    async def setup(session: AsyncSession) -> tuple[uuid.UUID, uuid.UUID]:
        await load_default_taxonomy(session)
        await load_default_tag_rules(session, "test")
        body = ConnectionCreate(connector="bynder", name="r9-bynder", settings=settings)
        created = await create_connection(session, ctx, body, actor="test")
        rule_id = await session.scalar(select(TagRule.id))
        assert rule_id is not None
        return created.id, rule_id

    connection_id, rule_id = await in_unit_of_work(sessionmaker, setup)
    now = utcnow()
    assets = {media_id: uuid.uuid4() for media_id in sim.portal.media}
    assert len(assets) == CHANGES
    rows = [
        {
            "id": asset_id,
            "connection_id": connection_id,
            "stream": "media",
            "external_id": media_id,
            "data": {"tags": list(sim.portal.media[media_id].get("tags") or [])},
            "content_hash": "0" * 64,
            "first_seen_at": now,
            "updated_at": now,
        }
        for media_id, asset_id in assets.items()
    ]
    await in_unit_of_work(sessionmaker, lambda s: s.execute(insert(Asset), rows))
    return Portal(sim, app, ctx, connection_id, rule_id, assets)


async def plan_round(sessionmaker: Sessionmaker, p: Portal, media: list[str]) -> PlanResult:
    """Desire a tier on ``media`` and plan (one write-back each, one send job queued)."""
    rows: list[dict[str, Any]] = [
        {
            "asset_id": p.assets[media_id],
            "rule_id": p.rule_id,
            "rule_version": 1,
            "concept": TIER,
            "cohort": "none/none",
            "cohort_size": 1,
            "sample": 0.0,
            "window_start": date(2026, 11, 1).isoformat(),
            "window_end": date(2026, 11, 28).isoformat(),
            "computed_at": utcnow(),
        }
        for media_id in media
    ]

    async def work(session: AsyncSession) -> PlanResult:
        await session.execute(insert(DesiredTag), rows)
        return await plan_writebacks(session)

    return await in_unit_of_work(sessionmaker, work)


async def test_r9_three_workers_write_back_5000_changes_within_the_vendors_limit(
    engine: AsyncEngine, sessionmaker: Sessionmaker
) -> None:
    clock = VirtualTime()
    p = await portal(sessionmaker, clock)
    calls: list[tuple[float, int]] = []
    timed = [Answered(p.app, clock, calls) for _ in range(WORKERS)]
    clients = [httpx.AsyncClient(transport=t) for t in timed]
    # Three workers, each with its own client and connectors: as three processes.
    workers = [
        Worker(
            engine,
            HandlerRegistry.load(),
            services=JobServices(connections=p.ctx, http=client),
            listen=False,
            owner=f"worker-{i}",
        )
        for i, client in enumerate(clients)
    ]
    media = list(p.assets)
    per_round = CHANGES // ROUNDS
    try:
        with override_time(TimeSource(clock=clock.now, sleep=clock.sleep, wall_clock=clock.now)):
            for r in range(ROUNDS):
                planned = await plan_round(
                    sessionmaker, p, media[r * per_round : (r + 1) * per_round]
                )
                assert planned.planned == {p.connection_id: per_round}
                # All three run until nothing is due; whichever claims the send job sends.
                order = workers[r % WORKERS :] + workers[: r % WORKERS]
                async with asyncio.TaskGroup() as group:
                    for runner in order:
                        group.create_task(run_due(runner))
    finally:
        for client in clients:
            await client.aclose()

    async def read(session: AsyncSession) -> list[WriteBack]:
        return list(await session.scalars(select(WriteBack)))

    rows = await in_unit_of_work(sessionmaker, read, write=False)
    assert len(rows) == CHANGES
    assert {w.status for w in rows} == {"done"}
    p.sim.apply_pending()
    by_asset = {asset_id: media_id for media_id, asset_id in p.assets.items()}
    for w in rows:
        held = [str(t) for t in p.sim.portal.media[by_asset[w.asset_id]]["tags"]]
        assert sorted(t for t in held if t.startswith(PREFIX)) == sorted(w.desired_tags)
    assert all(w.desired_tags == [TIER] for w in rows)

    arrivals = [at for at, _ in calls]
    assert sorted(arrivals) == sorted(at for t in timed for at in t.arrivals)
    # The sender's re-read and the write each (the connector merges with that re-read).
    assert len(arrivals) >= 2 * CHANGES
    assert busiest_window(arrivals, WINDOW_S) <= LIMIT
    assert p.sim.rate_limited == 0  # the simulator's own limit was never hit
    injected = [i for i, (_, status) in enumerate(calls) if status == 429]
    middleware = p.sim.fault_middleware
    assert middleware is not None
    assert len(injected) == middleware.injected["429"] >= 1
    for i in injected:
        assert i + 1 < len(calls)  # the call was retried
        assert calls[i + 1][0] - calls[i][0] >= RETRY_AFTER_S
    assert sum(1 for t in timed if t.arrivals) >= 2  # the sending changed hands
