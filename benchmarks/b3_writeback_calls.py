"""B3, vendor-call economy of write-back: a write-back pass over 100,000 assets per DAM with
1 % of them changed, against the minimum (issue 10, item 7; QUALITY B3).

The store is built directly (no sync): the Bynder and Cloudinary simulators' assets of one
sandbox ``World`` as stored assets, the default taxonomy and tag rule, one desired tag per
asset, and the write-back state of a pass already delivered (confirmed = desired; the DAM
holds the old tier). Then 1 % of the desired tags change tier and it times and counts:

- planning (:func:`syncbridge.writeback.service.plan_writebacks`): write-backs planned;
- sending (:func:`syncbridge.writeback.sending.send_writebacks`, per connection): the vendor
  calls made, by kind, against the minimum: one write per changed asset (Bynder), or per
  group of up to 1,000 public ids (Cloudinary: one ``tags`` call per resource type, command
  and tag; a tier change is one ``add`` and one ``remove``).

Reads are reported apart: the sender re-reads each changed asset (``fetch``) and the
connectors read before they write (Bynder per medium, Cloudinary 100 ids a call).

    .venv/bin/python benchmarks/b3_writeback_calls.py                    # SQLite, 100,000
    .venv/bin/python benchmarks/b3_writeback_calls.py --db postgresql --assets 20000
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import shutil
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import httpx
from cryptography.fernet import Fernet
from fastapi import FastAPI
from sqlalchemy import insert, select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from syncbridge_bynder.simulator import BynderSimulator
from syncbridge_bynder.simulator import simulator as bynder_simulator
from syncbridge_cloudinary.simulator import CloudinarySimulator
from syncbridge_cloudinary.simulator import simulator as cloudinary_simulator

from syncbridge.bootstrap import load_default_taxonomy
from syncbridge.connections.schemas import ConnectionCreate
from syncbridge.connections.secrets import SecretBox
from syncbridge.connections.service import ConnectionContext, create_connection
from syncbridge.connections.ssrf import origins
from syncbridge.connector.registry import ConnectorRegistry
from syncbridge.connector.spec import HostPolicy
from syncbridge.db import create_engine, migrate, open_store
from syncbridge.models import Asset, DesiredTag, TagRule, WriteBackState, utcnow
from syncbridge.sandbox.world import World
from syncbridge.store.unit_of_work import in_unit_of_work
from syncbridge.tagging.defaults import load_default_tag_rules
from syncbridge.writeback.landing import OwnedState
from syncbridge.writeback.sending import SendPolicy, SendReport, send_writebacks
from syncbridge.writeback.service import plan_writebacks

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
PUBLIC_URL = "http://127.0.0.1:8000"
TIERS = ("perf:top-10", "perf:top-25", "perf:middle", "perf:bottom-25", "perf:insufficient-data")
BATCH = 10_000
Sessionmaker = async_sessionmaker[AsyncSession]


def say(line: str) -> None:
    print(line, flush=True)  # noqa: T201


def load() -> str:
    one, five, _ = os.getloadavg()
    return f"load {one:.2f} (1 min), {five:.2f} (5 min) on {os.cpu_count()} CPUs"


def chunks(rows: list[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    for start in range(0, len(rows), BATCH):
        yield rows[start : start + BATCH]


class Counted(httpx.AsyncBaseTransport):
    """The simulators in process; counts calls by (connector, method, endpoint kind) and
    notes when each arrives (on ``clock``)."""

    def __init__(self, app: FastAPI, clock: Callable[[], float] = time.monotonic) -> None:
        self.inner = httpx.ASGITransport(app=app)
        self.clock = clock
        self.calls: Counter[tuple[str, str, str]] = Counter()
        self.arrivals: dict[str, list[float]] = {}

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        parts = request.url.path.split("/")  # /sandbox/<key>/...
        key = parts[2] if len(parts) > 2 else "?"
        self.calls[(key, request.method, _kind(key, request.url.path))] += 1
        self.arrivals.setdefault(key, []).append(self.clock())
        return await self.inner.handle_async_request(request)


def _kind(key: str, path: str) -> str:
    if key == "cloudinary":
        return path.rsplit("/", 1)[-1] if "/image/" in path or "/video/" in path else "admin"
    return "metaproperty" if "/metaproperties/" in path else "media"


@dataclass
class Bench:
    """A store with DAM connections to in-process simulators of one world."""

    sessionmaker: Sessionmaker
    ctx: ConnectionContext
    transport: Counted
    bynder: BynderSimulator
    cloudinary: CloudinarySimulator
    connections: dict[str, uuid.UUID] = field(default_factory=dict)
    #: Per connector: external id -> (store asset id, resource type).
    assets: dict[str, dict[str, tuple[uuid.UUID, str]]] = field(default_factory=dict)
    rule_id: uuid.UUID | None = None


def simulators(world: World) -> tuple[BynderSimulator, CloudinarySimulator, FastAPI]:
    bynder = bynder_simulator(world)
    cloudinary = cloudinary_simulator(world)
    app = FastAPI()
    app.mount("/sandbox/bynder", bynder)
    app.mount("/sandbox/cloudinary", cloudinary)
    return bynder, cloudinary, app


@asynccontextmanager
async def bench_store(
    url: str,
    world: World,
    *,
    clock: Callable[[], float] = time.monotonic,
    bynder_settings: dict[str, Any] | None = None,
) -> AsyncIterator[Bench]:
    """A migrated store at ``url`` with Bynder and Cloudinary connections (the Bynder one
    with ``bynder_settings`` over the simulator's), the default taxonomy and tag rule, and
    every simulator asset stored (no desired tags yet)."""
    bynder, cloudinary, app = simulators(world)
    registry = ConnectorRegistry.from_entry_points()
    ctx = ConnectionContext(
        registry=registry,
        box=SecretBox([Fernet.generate_key()]),
        allow_local=True,
        allowed_origins=origins([PUBLIC_URL]),
        policy=HostPolicy(),
    )
    async with open_store(url) as sessionmaker:
        bench = Bench(sessionmaker, ctx, Counted(app, clock), bynder, cloudinary)

        async def setup(session: AsyncSession) -> None:
            await load_default_taxonomy(session)
            await load_default_tag_rules(session, "bench")
            for key, sim in (("bynder", bynder), ("cloudinary", cloudinary)):
                settings = dict(sim.connection_settings(f"{PUBLIC_URL}/sandbox/{key}"))
                if key == "bynder":
                    settings |= bynder_settings or {}
                body = ConnectionCreate(connector=key, name=f"bench-{key}", settings=settings)
                created = await create_connection(session, ctx, body, actor="bench")
                bench.connections[key] = created.id
            bench.rule_id = await session.scalar(select(TagRule.id))

        await in_unit_of_work(sessionmaker, setup)
        await _store_assets(bench)
        yield bench


async def _store_assets(bench: Bench) -> None:
    rows: list[dict[str, Any]] = []
    now = utcnow()
    found: dict[str, list[tuple[str, str, dict[str, Any]]]] = {
        "bynder": [
            (mid, "image", {"tags": list(m.get("tags") or [])})
            for mid, m in bench.bynder.portal.media.items()
        ],
        "cloudinary": [
            (aid, r.resource_type, {"tags": list(r.tags), "resource_type": r.resource_type})
            for aid, r in bench.cloudinary.store.by_asset_id.items()
        ],
    }
    stream = {"bynder": "media", "cloudinary": "resources"}
    for key, items in found.items():
        bench.assets[key] = {}
        for external_id, resource_type, data in items:
            asset_id = uuid.uuid4()
            bench.assets[key][external_id] = (asset_id, resource_type)
            rows.append(
                {
                    "id": asset_id,
                    "connection_id": bench.connections[key],
                    "stream": stream[key],
                    "external_id": external_id,
                    "data": data,
                    "content_hash": "0" * 64,
                    "first_seen_at": now,
                    "updated_at": now,
                }
            )
    await insert_rows(bench.sessionmaker, Asset, rows)


async def insert_rows(sessionmaker: Sessionmaker, model: Any, rows: list[dict[str, Any]]) -> None:
    for chunk in chunks(rows):

        async def work(session: AsyncSession, chunk: list[dict[str, Any]] = chunk) -> None:
            await session.execute(insert(model), chunk)

        await in_unit_of_work(sessionmaker, work)


def desired_row(bench: Bench, asset_id: uuid.UUID, concept: str) -> dict[str, Any]:
    return {
        "asset_id": asset_id,
        "rule_id": bench.rule_id,
        "rule_version": 1,
        "concept": concept,
        "cohort": "none/none",
        "cohort_size": 1,
        "sample": 0.0,
        "window_start": date(2026, 11, 1).isoformat(),
        "window_end": date(2026, 11, 28).isoformat(),
        "computed_at": utcnow(),
    }


async def send_all(bench: Bench, policy: SendPolicy) -> dict[str, SendReport]:
    """Send every connection's ready write-backs (one sender each, as the job would)."""
    reports = {}
    http = httpx.AsyncClient(transport=bench.transport)

    async def fenced(work: Any) -> Any:
        return await in_unit_of_work(bench.sessionmaker, work)

    try:
        for key, connection_id in bench.connections.items():
            reports[key] = await send_writebacks(
                bench.sessionmaker,
                bench.ctx,
                http,
                connection_id,
                fenced=fenced,
                check=lambda: None,
                owner="bench",
                policy=policy,
            )
    finally:
        await http.aclose()
    return reports


# --- B3 -------------------------------------------------------------------------------------


async def _delivered(bench: Bench, changed_every: int) -> dict[str, dict[str, tuple[str, str]]]:
    """Desired tags and confirmed states of a pass already delivered; every
    ``changed_every``-th asset's desired tier then changes. Returns, per connector, the
    changed assets' (old, new) tiers by external id."""
    desired: list[dict[str, Any]] = []
    states: list[dict[str, Any]] = []
    changed: dict[str, dict[str, tuple[str, str]]] = {}
    now = utcnow()
    for key, assets in bench.assets.items():
        changed[key] = {}
        for index, (external_id, (asset_id, _rt)) in enumerate(sorted(assets.items())):
            old = TIERS[index % len(TIERS)]
            new = TIERS[(index + 1) % len(TIERS)] if index % changed_every == 0 else old
            desired.append(desired_row(bench, asset_id, new))
            old_key = OwnedState(frozenset({old})).key()
            states.append(
                {
                    "asset_id": asset_id,
                    "connection_id": bench.connections[key],
                    "confirmed_tags": [old],
                    "confirmed_key": old_key,
                    "planned_key": old_key,
                    "confirmed_metadata": {},
                    "confirmed_at": now,
                    "planned_version": 1,
                    "planned_tags": [old],
                    "planned_metadata": {},
                    "planned_dry_run": False,
                    "updated_at": now,
                }
            )
            if new != old:
                changed[key][external_id] = (old, new)
                # The DAM holds what the last pass wrote (only these are ever read).
                if key == "bynder":
                    tags = list(bench.bynder.portal.media[external_id].get("tags") or [])
                    bench.bynder.edit_tags(external_id, [*tags, old])
                else:
                    resource = bench.cloudinary.store.by_asset_id[external_id]
                    bench.cloudinary.set_tags(external_id, [*resource.tags, old])
    await insert_rows(bench.sessionmaker, DesiredTag, desired)
    await insert_rows(bench.sessionmaker, WriteBackState, states)
    return changed


def _minimum(bench: Bench, changed: dict[str, dict[str, tuple[str, str]]]) -> dict[str, int]:
    groups: Counter[tuple[str, str, str]] = Counter()
    for external_id, (old, new) in changed["cloudinary"].items():
        resource_type = bench.assets["cloudinary"][external_id][1]
        groups[(resource_type, "add", new)] += 1
        groups[(resource_type, "remove", old)] += 1
    return {
        "bynder": len(changed["bynder"]),
        "cloudinary": sum(math.ceil(n / 1000) for n in groups.values()),
    }


async def measure(url: str, assets: int, changed_every: int) -> None:
    world = World(assets_count=assets)
    started = time.perf_counter()
    async with bench_store(url, world) as bench:
        changed = await _delivered(bench, changed_every)
        built = time.perf_counter() - started
        counts = {k: len(v) for k, v in bench.assets.items()}
        say(f"  store built in {built:.1f} s: {counts} assets, {load()}")
        t0 = time.perf_counter()

        async def plan(session: AsyncSession) -> Any:
            return await plan_writebacks(session)

        result = await in_unit_of_work(bench.sessionmaker, plan)
        t1 = time.perf_counter()
        say(f"  planning: {result.total:,} write-backs in {t1 - t0:.2f} s")
        reports = await send_all(bench, SendPolicy(batch=1000))
        t2 = time.perf_counter()
        attempts = {k: r.attempts for k, r in reports.items()}
        say(f"  sending: {t2 - t1:.2f} s; attempts {attempts}")
        minimum = _minimum(bench, changed)
        calls = bench.transport.calls
        for key in ("bynder", "cloudinary"):
            writes = sum(
                n
                for (k, m, kind), n in calls.items()
                if k == key and m == "POST" and kind not in ("metaproperty",)
            )
            reads = sum(n for (k, m, _), n in calls.items() if k == key and m == "GET")
            other = sum(
                n
                for (k, m, kind), n in calls.items()
                if k == key and m == "POST" and kind == "metaproperty"
            )
            ratio = writes / minimum[key] if minimum[key] else float("nan")
            say(
                f"  {key}: {len(changed[key]):,} of {counts[key]:,} changed; writes {writes:,} "
                f"vs minimum {minimum[key]:,} (ratio {ratio:.2f}); reads {reads:,}"
                + (f"; option creations {other}" if other else "")
            )
        await _check(bench, changed)
        async with bench.sessionmaker() as session:
            left = await session.scalar(
                text("SELECT count(*) FROM writebacks WHERE status <> 'done'")
            )
        say(f"  write-backs not done: {left}")


async def _check(bench: Bench, changed: dict[str, dict[str, tuple[str, str]]]) -> None:
    bench.bynder.apply_pending()
    wrong = 0
    for external_id, (_old, new) in changed["bynder"].items():
        owned = [t for t in bench.bynder.media(external_id)["tags"] if t.startswith("perf:")]
        wrong += owned != [new]
    for external_id, (_old, new) in changed["cloudinary"].items():
        tags = bench.cloudinary.store.by_asset_id[external_id].tags
        wrong += [t for t in tags if t.startswith("perf:")] != [new]
    say(f"  changed assets not holding their new tier: {wrong}")


# --- stores ---------------------------------------------------------------------------------


async def pg(sql: str) -> None:
    engine = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            await conn.execute(text(sql))
    finally:
        await engine.dispose()


def with_store(db: str, run: Callable[[str], Any]) -> None:
    """Run ``run(url)`` on a fresh migrated store of kind ``db``, removed afterwards."""
    if db == "sqlite":
        folder = tempfile.mkdtemp(prefix="writeback-")
        try:
            url = f"sqlite+aiosqlite:///{folder}/bench.db"
            migrate(url)
            asyncio.run(run(url))
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        return
    name = f"sbbench_{uuid.uuid4().hex[:8]}"
    asyncio.run(pg(f'CREATE DATABASE "{name}"'))
    try:
        url = f"{PG_ADMIN.rsplit('/', 1)[0]}/{name}"
        migrate(url)
        asyncio.run(run(url))
    finally:
        asyncio.run(pg(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--db", choices=("sqlite", "postgresql", "both"), default="sqlite")
    parser.add_argument("--assets", type=int, default=100_000, help="world assets (per DAM)")
    parser.add_argument("--changed-every", type=int, default=100, help="1 in N changes tier")
    args = parser.parse_args()
    for db in ("sqlite", "postgresql") if args.db == "both" else (args.db,):
        say(f"{db}: {args.assets:,} assets per DAM, 1 in {args.changed_every} changed; {load()}")
        with_store(db, lambda url: measure(url, args.assets, args.changed_every))
        say(f"  after: {load()}")


if __name__ == "__main__":
    main()
