"""B2: full syncs from the simulators into the store, end to end, records/s and peak memory.

Usage: ``python benchmarks/b2_sync.py [--quick] [--db sqlite|postgresql|both]
[--assets 100000] [--rows 1000000] [--crm 5000] [--page 1000] [--analytics-page 10000]
[--no-link-rules]``.

``--page`` is the page size of the asset and CRM reads; ``--analytics-page`` that of the GA4
read, by default the connector's own default (10,000 rows, the Data API's default ``limit``):
the sync as a user runs it, who does not configure a page size. A run at ``--analytics-page
1000`` shows what small pages cost (a page's transaction and its round trips, ten times as
many of them).

``--quick`` runs a reduced B2 in a few minutes: 10,000 assets, analytics rows at 10,000 and
100,000, 500 CRM records (explicit sizes given with it still win).

One sandbox world of ``--assets`` assets (its campaigns, their assets, the analytics rows
measuring them) feeds three simulators, each served by uvicorn in a process of its own on a
real localhost socket, so that their memory and CPU stay out of the sync's figures:

* **Bynder**: the world's assets (``media``);
* **Google Analytics 4**: the rows of the last days of the world's window, as many days as
  it takes to reach the analytics row count (``asset_performance``);
* **Salesforce**: the world's campaigns (``Campaign``), each naming the ids of the assets it
  used: the CRM records (the world has a campaign per 20 assets, so ``--crm`` 5,000 comes
  with the 100,000 assets).

The **sync** process starts with a store (a throwaway SQLite file, or a throwaway PostgreSQL
database created through ``--pg-admin-dsn`` and dropped at the end) migrated and bootstrapped
as on first start (the default taxonomy and the default link rules, unless
``--no-link-rules``), adds the three connections, reads one page of each (warming the
simulators), then times one full sync run of the three streams, exactly as ``POST /v1/runs``
runs it: every page written and committed with its cursor, then the run settled (what it read
linked to the assets, and classified) before it is marked finished. records/s is the records
read over the time from the start of the run to its end.

It runs twice per store: with the analytics stream at a tenth of ``--rows`` and at
``--rows``, for the memory ratio. Printed per run: records, seconds and records/s end to end;
each stream's seconds and the settling's (linking and classifying); links made; CPU per
record of the sync process, of the PostgreSQL backends on the benchmark's database (SQLite
works inside the sync process) and of the simulators; the sync process's peak RSS
(``ru_maxrss``) and peak growth during the run (``VmHWM``, reset just before it, minus the
RSS before it); the 1-minute load average at the end.

B2 targets: >= 10,000 records/s end to end on PostgreSQL for the full set; the sync's peak
memory with analytics rows at ``--rows`` no more than 1.25 times that at a tenth of it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

# The benchmark's neighbours (the read cases) and the repository (the tests' store helpers).
sys.path[:0] = [str(Path(__file__).resolve().parent), str(Path(__file__).resolve().parent.parent)]

from connector_read import CASES, simulator_of  # noqa: E402

from syncbridge.db import create_engine, migrate  # noqa: E402
from syncbridge.sandbox.world import World  # noqa: E402

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
TARGET_RATE = 10_000
TARGET_MEMORY_RATIO = 1.25
QUICK = {"assets": 10_000, "rows": 100_000, "crm": 500}
FULL = {"assets": 100_000, "rows": 1_000_000, "crm": 5_000}
#: The connector of each simulator, its stream, and its connection settings over the
#: simulator's own (page size, and limiters raised as the read benchmark raises them).
STREAMS = {"bynder": "media", "ga4": "asset_performance", "salesforce": "Campaign"}


def _status_kb(field: str, pid: int | str = "self") -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field} in /proc/self/status")


def _reset_peak() -> None:
    # Writing 5 to clear_refs resets the process's peak RSS (VmHWM) to its current RSS.
    Path("/proc/self/clear_refs").write_text("5")


def _cpu_s(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def _db_cpu_s(engine: Any) -> float:
    """CPU seconds so far of the PostgreSQL backends serving the benchmark's database (0 on
    SQLite, whose work runs in the sync process and counts in its CPU)."""
    if engine.dialect.name != "postgresql":
        return 0.0
    from sqlalchemy import text

    async with engine.connect() as conn:
        pids = await conn.scalars(
            text("SELECT pid FROM pg_stat_activity WHERE datname = current_database()")
        )
        return sum(_cpu_s(pid) for pid in pids if os.path.exists(f"/proc/{pid}"))  # noqa: ASYNC240


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _days_for(world: World, rows: int) -> int:
    """The GA4 ``start_date`` (days back from the world's last day) whose window holds at
    least ``rows`` analytics rows (or the whole window)."""
    total = 0
    for back in range(len(world.analytics_days)):
        total += world.analytics_row_count(world.analytics_end - timedelta(days=back))
        if total >= rows:
            return back
    return len(world.analytics_days) - 1


def _settings(key: str, page: int, days: int, analytics_page: int) -> dict[str, Any]:
    extra: dict[str, Any] = {"ga4": {"start_date": days}}.get(key, {})
    return {**CASES[key].settings(analytics_page if key == "ga4" else page), **extra}


# -- the simulator processes -------------------------------------------------------------------


def _serve(key: str, assets: int) -> None:
    """Serve ``key``'s simulator of the world on a free localhost port: print the connection
    settings as a JSON line, then serve until SIGTERM."""
    import uvicorn

    from syncbridge.logs import configure_logging

    configure_logging(level="WARNING", json=True)
    sim = simulator_of(key, CASES[key], World(seed=42, assets_count=assets))
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    base = f"http://127.0.0.1:{sock.getsockname()[1]}"
    print(json.dumps({"settings": sim.connection_settings(base)}, default=str), flush=True)  # noqa: T201
    config = uvicorn.Config(sim, log_level="warning", lifespan="off", access_log=False)
    uvicorn.Server(config).run(sockets=[sock])


# -- the sync process --------------------------------------------------------------------------


async def _sync(url: str, spec: dict[str, Any]) -> dict[str, Any]:
    # Imported here: the parent process only orchestrates.
    from sqlalchemy import func, select

    from syncbridge.bootstrap import load_default_taxonomy
    from syncbridge.connector.http import create_http_client
    from syncbridge.db import create_sessionmaker
    from syncbridge.linking.defaults import load_default_link_rules
    from syncbridge.logs import configure_logging
    from syncbridge.models import Classification, Connection, Link, Run, RunStream
    from syncbridge.store.unit_of_work import in_unit_of_work
    from syncbridge.sync import run_sync
    from syncbridge.sync.service import build_connector
    from tests.sync_support import add_connection, context

    configure_logging(level="WARNING", json=True)  # production logs, not the console renderer
    ctx = context()
    engine = create_engine(url)
    store = create_sessionmaker(engine)
    sims: list[int] = spec["sim_pids"]
    try:
        await in_unit_of_work(store, lambda s: load_default_taxonomy(s))
        if spec["link_rules"]:
            await in_unit_of_work(store, lambda s: load_default_link_rules(s, "b2"))
        ids = {}
        for key, settings in spec["settings"].items():
            model = ctx.registry.get(key).settings_model.model_validate(settings)
            ids[key] = await add_connection(store, ctx, key, model, name=key)
        async with create_http_client() as http:
            for key, connection_id in ids.items():  # warm each simulator's indexes
                async with store() as session:
                    connection = await session.get(Connection, connection_id)
                assert connection is not None
                warm = build_connector(ctx, connection, http)
                async for _page in warm.read(STREAMS[key], None):
                    break
                await warm.aclose()
            before = _status_kb("VmRSS")
            _reset_peak()
            db_cpu = await _db_cpu_s(engine)
            sim_cpu = sum(_cpu_s(pid) for pid in sims)
            cpu, started = time.process_time(), time.perf_counter()
            run = await run_sync(
                store, ctx, http, full=True, streams=list(STREAMS.values()), requested_by="b2"
            )
            seconds = time.perf_counter() - started
            cpu = time.process_time() - cpu
            sim_cpu = sum(_cpu_s(pid) for pid in sims) - sim_cpu
            growth = _status_kb("VmHWM") - before
            db_cpu = await _db_cpu_s(engine) - db_cpu

        async def figures(session: Any) -> dict[str, Any]:
            of_run = select(RunStream).where(RunStream.run_id == run.id)
            streams = list(await session.scalars(of_run))
            finished = await session.get(Run, run.id)
            last = max(rs.finished_at for rs in streams)
            links = await session.scalar(select(func.count()).select_from(Link))
            classified = await session.scalar(
                select(func.count(func.distinct(Classification.asset_id)))
            )
            return {
                "streams": {
                    rs.stream: {
                        "read": rs.read,
                        "seconds": (rs.finished_at - rs.started_at).total_seconds(),
                    }
                    for rs in streams
                },
                "settle_s": (finished.finished_at - last).total_seconds(),
                "links": links,
                "classified": classified,
            }

        out = await in_unit_of_work(store, figures, write=False)
    finally:
        await engine.dispose()
    records = sum(s["read"] for s in out["streams"].values())
    return {
        **out,
        "status": run.status,
        "error": run.error,
        "records": records,
        "seconds": seconds,
        "cpu_us": 1e6 * cpu / max(records, 1),
        "sim_cpu_us": 1e6 * sim_cpu / max(records, 1),
        "db_cpu_us": 1e6 * db_cpu / max(records, 1),
        "peak_mb": _peak_mb(),
        "growth_mb": growth / 1024,
        "load": os.getloadavg()[0],
    }


# -- the parent --------------------------------------------------------------------------------


def _here() -> Path:
    return Path(__file__).resolve().parent.parent


def _start_simulator(key: str, assets: int) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, __file__, "--serve", key, str(assets)],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, cwd=_here(),
    )  # fmt: skip


def _measure(
    url: str, assets: int, days: int, pages: tuple[int, int], link_rules: bool
) -> dict[str, Any]:
    """One run: the three simulators started, one sync process run against them."""
    sims = {key: _start_simulator(key, assets) for key in STREAMS}
    try:
        settings = {}
        for key, sim in sims.items():
            assert sim.stdout is not None
            served = json.loads(sim.stdout.readline())["settings"]
            settings[key] = {**served, **_settings(key, pages[0], days, pages[1])}
        time.sleep(0.5)  # uvicorn starts serving
        spec = {
            "settings": settings,
            "sim_pids": [sim.pid for sim in sims.values()],
            "link_rules": link_rules,
        }
        with tempfile.NamedTemporaryFile("w", suffix=".json") as file:
            json.dump(spec, file, default=str)
            file.flush()
            out = subprocess.run(
                [sys.executable, __file__, "--child", url, file.name],
                capture_output=True, text=True, check=False, cwd=_here(),
            )  # fmt: skip
        if out.returncode != 0:
            raise RuntimeError(out.stderr[-3000:])
        result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
        result["sim_peak_mb"] = sum(_status_kb("VmHWM", sim.pid) for sim in sims.values()) / 1024
    finally:
        for sim in sims.values():
            sim.send_signal(signal.SIGTERM)
        for sim in sims.values():
            sim.communicate(timeout=60)
    return result


async def _pg(admin: str, sql: str) -> None:
    from sqlalchemy import text

    engine = create_engine(admin, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            await conn.execute(text(sql))
    finally:
        await engine.dispose()


def _fresh_store(db: str, admin: str) -> tuple[str, Any]:
    if db == "sqlite":
        folder = tempfile.mkdtemp(prefix="b2-")
        url = f"sqlite+aiosqlite:///{folder}/b2.db"
        migrate(url)
        return url, lambda: shutil.rmtree(folder, ignore_errors=True)
    name = f"sbbench_{uuid.uuid4().hex[:8]}"
    asyncio.run(_pg(admin, f'CREATE DATABASE "{name}"'))
    base = admin.rsplit("/", 1)[0]
    url = f"{base}/{name}"
    migrate(url)
    return url, lambda: asyncio.run(_pg(admin, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


HEADER = (
    f"{'store':<11}{'records':>10}{'seconds':>9}{'rec/s':>8}{'assets s':>9}{'rows s':>8}"
    f"{'crm s':>7}{'settle s':>9}{'links':>10}{'cpu us/rec':>11}{'pg us/rec':>10}"
    f"{'sim us/rec':>11}{'peak MB':>9}{'growth MB':>10}{'load':>6}"
)


def _line(db: str, out: dict[str, Any]) -> str:
    flag = "" if out["status"] == "succeeded" else f"  {out['status']}: {out['error']}"
    streams = out["streams"]
    reads = ", ".join(f"{name} {s['read']:,}" for name, s in sorted(streams.items()))
    return (
        f"{db:<11}{out['records']:>10,}{out['seconds']:>9.1f}"
        f"{out['records'] / out['seconds']:>8,.0f}"
        f"{streams['media']['seconds']:>9.1f}{streams['asset_performance']['seconds']:>8.1f}"
        f"{streams['Campaign']['seconds']:>7.1f}{out['settle_s']:>9.1f}{out['links']:>10,}"
        f"{out['cpu_us']:>11.1f}{out['db_cpu_us']:>10.1f}{out['sim_cpu_us']:>11.1f}"
        f"{out['peak_mb']:>9.1f}{out['growth_mb']:>10.1f}{out['load']:>6.2f}"
        f"  ({reads}; {out['classified']:,} assets classified){flag}"
    )


def _summary(db: str, small: dict[str, Any], large: dict[str, Any]) -> None:
    rows = [out["streams"]["asset_performance"]["read"] for out in (small, large)]
    for what, field in (("peak RSS", "peak_mb"), ("peak growth", "growth_mb")):
        ratio = large[field] / max(small[field], 0.1)
        print(  # noqa: T201
            f"{db}: {what} at {rows[1]:,} analytics rows / at {rows[0]:,}"
            f" = {large[field]:.1f} / {small[field]:.1f} MB = {ratio:.2f}"
            f" (target <= {TARGET_MEMORY_RATIO})"
        )
    print(  # noqa: T201
        f"{db}: {large['records']:,} records in {large['seconds']:.1f} s ="
        f" {large['records'] / large['seconds']:,.0f} records/s end to end"
        f" (target >= {TARGET_RATE:,} on PostgreSQL)",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a reduced B2 in a few minutes")
    parser.add_argument("--db", default="both", choices=["sqlite", "postgresql", "both"])
    parser.add_argument("--assets", type=int)
    parser.add_argument("--rows", type=int)
    parser.add_argument("--crm", type=int)
    parser.add_argument("--page", type=int, default=1000)
    parser.add_argument(
        "--analytics-page", type=int, default=10_000, help="GA4 rows per page (its default)"
    )
    parser.add_argument("--no-link-rules", action="store_true", help="load no link rules")
    parser.add_argument("--pg-admin-dsn", default=PG_ADMIN)
    args = parser.parse_args()
    pages = (args.page, args.analytics_page)
    size = {k: getattr(args, k) or v for k, v in (QUICK if args.quick else FULL).items()}
    # The world has a campaign per 20 assets: its size is what gives the CRM records asked.
    assets = max(size["assets"], 20 * size["crm"] - 19)
    world = World(seed=42, assets_count=assets)
    windows = [_days_for(world, size["rows"] // 10), _days_for(world, size["rows"])]
    dbs = ["sqlite", "postgresql"] if args.db == "both" else [args.db]
    print(  # noqa: T201
        f"{os.cpu_count()} CPUs, load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}"
        f" at start; page size {pages[0]}, analytics {pages[1]}; world of {assets:,} assets"
        f" ({len(world.campaigns):,} campaigns); analytics windows of {windows[0] + 1} and"
        f" {windows[1] + 1} days; link rules {'none' if args.no_link_rules else 'the defaults'}"
    )
    print(HEADER, flush=True)  # noqa: T201
    for db in dbs:
        outs = []
        for days in windows:
            url, drop = _fresh_store(db, args.pg_admin_dsn)
            try:
                outs.append(_measure(url, assets, days, pages, not args.no_link_rules))
            finally:
                drop()
            print(_line(db, outs[-1]), flush=True)  # noqa: T201
        _summary(db, outs[0], outs[1])
    print(f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())} at end")  # noqa: T201


if __name__ == "__main__":
    if sys.argv[1:2] == ["--serve"]:
        _serve(sys.argv[2], int(sys.argv[3]))
    elif sys.argv[1:2] == ["--child"]:
        _spec = json.loads(Path(sys.argv[3]).read_text())
        print(json.dumps(asyncio.run(_sync(sys.argv[2], _spec)), default=str))  # noqa: T201
    else:
        main()
