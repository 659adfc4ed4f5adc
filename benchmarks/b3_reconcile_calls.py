"""B3, vendor-call economy of reconciliation: reconcile 100,000 assets per DAM with 1 % drift
and count the vendor calls against the minimum (issue 12; QUALITY B3: calls made = list
pages + one write per changed asset, ratio 1.00).

The store is built directly from one sandbox ``World`` served by the Bynder and Cloudinary
simulators in process: every asset carries its performance tier at the DAM (one of five, by
position), the store holds what a full read of each DAM returns (read once, through the
connectors, before counting starts), the desired tier of every asset, and the write-back
state of a pass confirmed an hour ago. Then, in each DAM, 1 % of the assets drift, in four
equal parts: assets added at the DAM (missing locally), assets edited at the DAM (stale),
assets deleted at the DAM (extra in the store) and assets whose owned tag a person removed
(the only ones that need a write).

A reconciliation run is queued and a worker (the real job handlers) runs it and everything
it queues to the end: the run, the inbox processing of its events, the write-back sending.
The simulators' calls are counted by kind at the transport and compared with the minimum:
the list pages the run read, plus one write per stripped Bynder medium, plus one ``tags``
call per (resource type, tier) group of up to 1,000 stripped Cloudinary resources. A second
run right after must find nothing and make only its list pages.

    .venv/bin/python benchmarks/b3_reconcile_calls.py                     # SQLite, 100,000
    .venv/bin/python benchmarks/b3_reconcile_calls.py --db postgresql --assets 20000

The Bynder connection runs without the owned metaproperty (``--metaproperty`` keeps it):
with it, each sender also reads the metaproperty's options once (and creates the options
it lacks), calls that are neither list pages nor per-asset writes.
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import json
import math
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from syncbridge_bynder.media_cursor import modified_at
from syncbridge_bynder.sim_params import iso

from syncbridge.connector.spec import Connector
from syncbridge.connector.types import Record
from syncbridge.inbox import jobs as inbox_jobs
from syncbridge.jobs import HandlerRegistry, Job, Worker
from syncbridge.jobs.services import JobServices
from syncbridge.models import Asset, Connection, Run, WriteBack, WriteBackState, utcnow
from syncbridge.reconcile import jobs as reconcile_jobs
from syncbridge.reconcile.service import plan_reconcile
from syncbridge.sandbox.world import World
from syncbridge.store.unit_of_work import in_unit_of_work
from syncbridge.sync import pages
from syncbridge.sync.encoding import Encoded, encode
from syncbridge.sync.service import build_connector
from syncbridge.writeback import jobs as writeback_jobs
from syncbridge.writeback.landing import OwnedState

try:  # run as a script (benchmarks/ on sys.path) or imported as benchmarks.b3_...
    from b3_writeback_calls import (  # type: ignore[import-not-found,unused-ignore]
        TIERS,
        Bench,
        Counted,
        bench_store,
        desired_row,
        insert_rows,
        load,
        say,
        with_store,
    )
except ImportError:  # pragma: no cover
    from benchmarks.b3_writeback_calls import (
        TIERS,
        Bench,
        Counted,
        bench_store,
        desired_row,
        insert_rows,
        load,
        say,
        with_store,
    )

PREFIX = "perf:"
STREAMS = {"bynder": "media", "cloudinary": "resources"}
KINDS = ("added", "stale", "deleted", "stripped")


class Calls(Counted):
    """Counts each call by (DAM, kind): list pages, single reads, writes, others."""

    def __init__(self, inner: Counted) -> None:
        super().__init__(inner.inner.app)  # type: ignore[attr-defined]
        self.kinds: Counter[tuple[str, str]] = Counter()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        key = path.split("/")[2] if path.count("/") > 2 else "?"
        self.kinds[(key, call_kind(key, request.method, path))] += 1
        return await super().handle_async_request(request)

    def take(self) -> Counter[tuple[str, str]]:
        out = Counter(self.kinds)
        self.kinds.clear()
        return out


def call_kind(key: str, method: str, path: str) -> str:
    """``list`` (a page of the full read), ``read`` (one asset or a batch by id),
    ``write`` (a tag/metadata write), or ``other``."""
    tail = path.split("/sandbox/", 1)[-1]
    if key == "bynder":
        if "/metaproperties/" in tail:
            return "other"
        if method == "POST":
            return "write"
        return "list" if tail.rstrip("/").endswith("v4/media") else "read"
    if key == "cloudinary":
        last = tail.rstrip("/").rsplit("/", 1)[-1]
        if method == "POST":
            return "write" if last in ("tags", "context", "metadata") else "other"
        return "read" if last in ("by_asset_ids", "upload") else "list"
    return "other"


# --- the store in sync with the DAMs -------------------------------------------------------


def tier_of(index: int) -> str:
    return TIERS[index % len(TIERS)]


def tag_the_dams(bench: Bench) -> dict[str, dict[str, str]]:
    """Every asset carries its tier at the DAM (as the last pass wrote it): external id ->
    tier, per DAM."""
    tiers: dict[str, dict[str, str]] = {"bynder": {}, "cloudinary": {}}
    portal = bench.bynder.portal
    for index, media_id in enumerate(sorted(portal.media)):
        # Written long ago: the modification stamps stay as the world made them (stamping
        # 100,000 media with one second would make every read walk that block twice).
        tags = list(portal.media[media_id].get("tags") or [])
        portal.edit(media_id, tags=[*tags, tier_of(index)])
        tiers["bynder"][media_id] = tier_of(index)
    for index, asset_id in enumerate(sorted(bench.cloudinary.store.by_asset_id)):
        resource = bench.cloudinary.store.by_asset_id[asset_id]
        bench.cloudinary.set_tags(asset_id, [*resource.tags, tier_of(index)])
        tiers["cloudinary"][asset_id] = tier_of(index)
    bench.bynder.apply_pending()
    return tiers


async def store_the_read(bench: Bench, http: httpx.AsyncClient) -> dict[str, dict[str, Any]]:
    """Replace the stored assets with what a full read of each DAM returns (real data and
    content hashes, as a sync stores them). Returns each DAM's asset ids by external id."""

    async def clear(session: AsyncSession) -> list[Connection]:
        await session.execute(Asset.__table__.delete())
        return list(await session.scalars(select(Connection)))

    connections = await in_unit_of_work(bench.sessionmaker, clear)
    ids: dict[str, dict[str, Any]] = {}
    past = utcnow() - timedelta(hours=2)
    for connection in connections:
        key = connection.connector_key
        connector = build_connector(bench.ctx, connection, http)
        rows: list[dict[str, Any]] = []
        ids[key] = {}
        try:
            async for external_id, item in _listed(bench, key, connector):
                asset_id = uuid.uuid4()
                ids[key][external_id] = asset_id
                rows.append(
                    {
                        "id": asset_id,
                        "connection_id": connection.id,
                        "stream": STREAMS[key],
                        "external_id": external_id,
                        "data": item.record.data,
                        "content_hash": item.hash,
                        "vendor_updated_at": item.record.updated_at,
                        "first_seen_at": past,
                        "updated_at": past,
                    }
                )
        finally:
            await connector.aclose()
        await insert_rows(bench.sessionmaker, Asset, rows)
    return ids


async def _listed(
    bench: Bench, key: str, connector: Connector
) -> AsyncIterator[tuple[str, Encoded]]:
    """Each asset of the DAM as a full read encodes it. Bynder's media are taken from the
    simulator as its listing encodes them (the connector's record of a listed medium is its
    JSON), which is much faster than its reader's walk; Cloudinary's are read."""
    if key == "bynder":
        for media_id in bench.bynder.portal.media:
            media = json.loads(bench.bynder.portal.encoded(media_id))
            item = encode(Record(STREAMS[key], media_id, media, updated_at=modified_at(media)))
            assert isinstance(item, Encoded)
            yield media_id, item
        return
    async for page in connector.read(STREAMS[key], None):
        for external_id, item in pages.prepare(page).live.items():
            yield external_id, item


async def confirm_pass(
    bench: Bench, ids: dict[str, dict[str, Any]], tiers: dict[str, dict[str, str]]
) -> None:
    """Desired tiers and the write-back states of a pass confirmed an hour ago."""
    desired: list[dict[str, Any]] = []
    states: list[dict[str, Any]] = []
    at = utcnow() - timedelta(hours=1)
    for key, assets in ids.items():
        for external_id, asset_id in assets.items():
            tier = tiers[key][external_id]
            desired.append(desired_row(bench, asset_id, tier))
            state_key = OwnedState(frozenset({tier})).key()
            states.append(
                {
                    "asset_id": asset_id,
                    "connection_id": bench.connections[key],
                    "confirmed_tags": [tier],
                    "confirmed_key": state_key,
                    "planned_key": state_key,
                    "confirmed_metadata": {},
                    "confirmed_at": at,
                    "planned_version": 1,
                    "planned_tags": [tier],
                    "planned_metadata": {},
                    "planned_dry_run": False,
                    "updated_at": at,
                }
            )
    from syncbridge.models import DesiredTag

    await insert_rows(bench.sessionmaker, DesiredTag, desired)
    await insert_rows(bench.sessionmaker, WriteBackState, states)


# --- drift ----------------------------------------------------------------------------------


def inject(bench: Bench, percent: float) -> dict[str, dict[str, list[str]]]:
    """``percent`` of each DAM's assets drift, in four equal parts (see the module doc)."""
    out: dict[str, dict[str, list[str]]] = {}
    portal, store = bench.bynder.portal, bench.cloudinary.store
    for key in STREAMS:
        assets = sorted(portal.media) if key == "bynder" else sorted(store.by_asset_id)
        part = max(1, round(len(assets) * percent / 100 / len(KINDS)))
        picked = {kind: assets[i * part : (i + 1) * part] for i, kind in enumerate(KINDS)}
        found = out[key] = {kind: [] for kind in KINDS}
        for n, like in enumerate(picked["added"]):
            if key == "bynder":
                medium = copy.deepcopy(portal.media[like])
                medium["id"] = media_id = f"00000000-B3RE-C0NC-0000-{n:012d}"
                medium["tags"] = [t for t in medium["tags"] if not str(t).startswith(PREFIX)]
                medium["dateModified"] = iso(portal.now())
                portal.media[media_id] = medium
                portal.edit(media_id)
                found["added"].append(media_id)
            else:
                source = store.by_asset_id[like]
                asset_id = f"{n + 1:032x}"
                store.add(
                    dataclasses.replace(
                        source,
                        asset_id=asset_id,
                        public_id=f"{source.public_id}-added-{n}",
                        tags=[t for t in source.tags if not t.startswith(PREFIX)],
                        context=dict(source.context),
                        metadata=dict(source.metadata),
                    )
                )
                found["added"].append(asset_id)
        for external_id in picked["stale"]:
            if key == "bynder":
                portal.edit(
                    external_id, description="Retouched by hand", dateModified=iso(portal.now())
                )
            else:
                resource = store.by_asset_id[external_id]
                store.set_context(resource, {**resource.context, "alt": "Retouched by hand"})
            found["stale"].append(external_id)
        for external_id in picked["deleted"]:
            if key == "bynder":
                portal.delete(external_id)
            else:
                store.delete(external_id)
            found["deleted"].append(external_id)
        for external_id in picked["stripped"]:
            if key == "bynder":
                tags = bench.bynder.media(external_id)["tags"]
                bench.bynder.edit_tags(external_id, [t for t in tags if not t.startswith(PREFIX)])
            else:
                tags = store.by_asset_id[external_id].tags
                bench.cloudinary.set_tags(
                    external_id, [t for t in tags if not t.startswith(PREFIX)]
                )
            found["stripped"].append(external_id)
    bench.bynder.apply_pending()
    return out


def minimum_writes(
    bench: Bench, drift: dict[str, dict[str, list[str]]], tiers: dict[str, dict[str, str]]
) -> dict[str, int]:
    """One write per stripped Bynder medium; one ``tags`` ``add`` call per (resource type,
    tier) group of up to 1,000 stripped Cloudinary resources."""
    groups: Counter[tuple[str, str]] = Counter()
    for asset_id in drift["cloudinary"]["stripped"]:
        resource_type = bench.cloudinary.store.by_asset_id[asset_id].resource_type
        groups[(resource_type, tiers["cloudinary"][asset_id])] += 1
    return {
        "bynder": len(drift["bynder"]["stripped"]),
        "cloudinary": sum(math.ceil(n / 1000) for n in groups.values()),
    }


# --- running --------------------------------------------------------------------------------


def the_loop() -> HandlerRegistry:
    """The handlers of the loop measured: the run, the inbox processing of its events and
    the write-back sending. What processing queues besides (classification, metrics and
    scoring of the assets it wrote) stays queued: it calls no DAM, and a scoring run over
    this store, which has no facts, would replace the desired tiers the drift is judged
    against."""
    registry = HandlerRegistry()
    for register in (inbox_jobs.register, reconcile_jobs.register, writeback_jobs.register):
        register(registry)
    return registry


async def reconcile_to_the_end(bench: Bench, http: httpx.AsyncClient) -> tuple[Run, float]:
    """Queue a reconciliation and run every job until none is left; the run and the time."""

    async def queue(session: AsyncSession) -> uuid.UUID:
        run = await plan_reconcile(
            session, bench.ctx, http, connection_id=None, requested_by="bench"
        )
        return run.id

    run_id = await in_unit_of_work(bench.sessionmaker, queue)
    engine = bench.sessionmaker.kw["bind"]
    worker = Worker(
        engine,
        the_loop(),
        services=JobServices(connections=bench.ctx, http=http),
        listen=False,
        owner="bench",
    )
    started = time.perf_counter()
    while True:

        async def due(session: AsyncSession) -> None:
            now = utcnow()
            await session.execute(update(Job).where(Job.status == "queued").values(run_after=now))
            await session.execute(
                update(WriteBack).where(WriteBack.status == "pending").values(run_after=now)
            )

        await in_unit_of_work(bench.sessionmaker, due)
        if not await worker.run_once():
            break
    elapsed = time.perf_counter() - started

    async def left(session: AsyncSession) -> list[str]:
        kinds = await session.scalars(select(Job.kind).where(Job.status == "queued"))
        return sorted(set(kinds))

    say(f"  left queued (not vendor work): {await in_unit_of_work(bench.sessionmaker, left)}")
    run = await in_unit_of_work(bench.sessionmaker, lambda s: s.get(Run, run_id), write=False)
    assert run is not None
    return run, elapsed


def report_calls(
    label: str, calls: Counter[tuple[str, str]], run: Run, minimum: dict[str, int]
) -> None:
    assert run.report is not None
    for key in STREAMS:
        lists = calls[(key, "list")]
        writes = calls[(key, "write")]
        reads = calls[(key, "read")]
        other = calls[(key, "other")]
        made = lists + writes + reads + other
        least = lists + minimum[key]
        say(
            f"  {label} {key}: calls {made:,} = {lists:,} list pages + {writes:,} writes + "
            f"{reads:,} reads + {other:,} other; minimum {least:,} = {lists:,} list pages + "
            f"{minimum[key]:,} writes; ratio {made / least:.3f}"
        )


async def measure(
    url: str, assets: int, percent: float, metaproperty: bool, show_report: bool = False
) -> None:
    world = World(assets_count=assets)
    started = time.perf_counter()
    settings = None if metaproperty else {"owned_metaproperty_id": None}
    async with bench_store(url, world, bynder_settings=settings) as bench:
        calls = Calls(bench.transport)
        async with httpx.AsyncClient(transport=calls) as http:
            tiers = tag_the_dams(bench)
            ids = await store_the_read(bench, http)
            await confirm_pass(bench, ids, tiers)
            counts = {k: len(v) for k, v in ids.items()}
            say(
                f"  store built in {time.perf_counter() - started:.1f} s: {counts} assets, {load()}"
            )
            drift = inject(bench, percent)
            say(
                "  drift: "
                + "; ".join(
                    f"{k}: " + ", ".join(f"{n} {len(v)}" for n, v in d.items())
                    for k, d in drift.items()
                )
            )
            minimum = minimum_writes(bench, drift, tiers)
            calls.take()
            run, elapsed = await reconcile_to_the_end(bench, http)
            first = calls.take()
            assert run.report is not None
            say(
                f"  first run: {run.status}, counts {run.report['counts']}, events "
                f"{run.report['events_queued']}, write-backs planned "
                f"{run.report['writebacks_planned']}; run and its jobs in {elapsed:.1f} s "
                f"({_seconds(run)} the run), {load()}"
            )
            report_calls("first", first, run, minimum)
            if show_report:
                say("  first run's report (GET /v1/runs/{id} 'report'):")
                say(json.dumps(run.report, indent=1, sort_keys=True))
            await check(bench, drift, tiers)
            again, elapsed = await reconcile_to_the_end(bench, http)
            second = calls.take()
            assert again.report is not None
            say(
                f"  second run: {again.status}, counts {again.report['counts']}, events "
                f"{again.report['events_queued']}, write-backs planned "
                f"{again.report['writebacks_planned']}; {elapsed:.1f} s, {load()}"
            )
            report_calls("second", second, again, dict.fromkeys(STREAMS, 0))


def _seconds(run: Run) -> str:
    if run.started_at is None or run.finished_at is None:
        return "?"
    return f"{(run.finished_at - run.started_at).total_seconds():.1f} s"


async def check(
    bench: Bench, drift: dict[str, dict[str, list[str]]], tiers: dict[str, dict[str, str]]
) -> None:
    """The stripped assets hold their tier again; nothing is left to send."""
    bench.bynder.apply_pending()
    wrong = 0
    for media_id in drift["bynder"]["stripped"]:
        owned = [t for t in bench.bynder.media(media_id)["tags"] if t.startswith(PREFIX)]
        wrong += owned != [tiers["bynder"][media_id]]
    for asset_id in drift["cloudinary"]["stripped"]:
        tags = bench.cloudinary.store.by_asset_id[asset_id].tags
        wrong += [t for t in tags if t.startswith(PREFIX)] != [tiers["cloudinary"][asset_id]]

    async def left(session: AsyncSession) -> int:
        found = await session.scalar(
            select(func.count()).select_from(WriteBack).where(WriteBack.status != "done")
        )
        return int(found or 0)

    say(
        f"  stripped assets not holding their tier: {wrong}; write-backs not done: "
        f"{await in_unit_of_work(bench.sessionmaker, left, write=False)}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--db", choices=("sqlite", "postgresql", "both"), default="sqlite")
    parser.add_argument("--assets", type=int, default=100_000, help="world assets (per DAM)")
    parser.add_argument("--drift", type=float, default=1.0, help="percent of assets drifting")
    parser.add_argument(
        "--metaproperty", action="store_true", help="keep Bynder's owned metaproperty"
    )
    parser.add_argument(
        "--show-report", action="store_true", help="print the first run's whole report"
    )
    args = parser.parse_args()
    for db in ("sqlite", "postgresql") if args.db == "both" else (args.db,):
        say(f"{db}: {args.assets:,} assets per DAM, {args.drift} % drift; {load()}")
        with_store(
            db,
            lambda url: measure(url, args.assets, args.drift, args.metaproperty, args.show_report),
        )
        say(f"  after: {load()}")


if __name__ == "__main__":
    main()
