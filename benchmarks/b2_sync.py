"""B2: full syncs from the simulators into the store, records/s and peak memory.

Usage: ``python benchmarks/b2_sync.py [--quick] [--db sqlite|postgresql|both]
[--assets 100000] [--rows 1000000] [--crm 5000] [--page 1000] [--only bynder,ga4,hubspot]``.

``--quick`` runs a reduced B2 in a few minutes: 10,000 assets, analytics rows at 10,000 and
100,000, 2,000 CRM records (explicit sizes given with it still win).

For each store (a throwaway SQLite file, or a throwaway PostgreSQL database created through
``--pg-admin-dsn`` and dropped at the end) and each case, two processes run:

* the **simulator** (world and vendor API) served by uvicorn on a real localhost socket, so
  its memory and CPU stay out of the sync's figures (its own peak RSS is printed apart);
* the **sync**: reads one page to warm the simulator's indexes, then runs
  ``syncbridge.sync.run_sync`` (a full sync of the case's stream) over HTTP into the store.

Printed per case: records/s end to end (records read, encoded and written, pages committed
with their cursor); CPU per record of the sync process, of the PostgreSQL backends on the
benchmark's database (SQLite works inside the sync process) and of the simulator, the figures
that hold when the machine is shared; the sync process's peak RSS (``ru_maxrss``: everything
the sync process ever held) and the peak growth during the sync (``VmHWM``, reset just before
it, minus the RSS before it); the simulator's peak RSS; the 1-minute load average at the end.

B2 targets: >= 10,000 records/s on PostgreSQL over the whole set (assets, the larger
analytics stream, CRM records); the sync's peak memory with analytics rows at ``--rows`` no
more than 1.25 times that at a tenth of it (a sync holds a page at a time). Cases: ``bynder``
media (assets), ``ga4`` ``asset_performance`` (analytics rows), ``hubspot`` contacts (CRM).
Page size ``--page`` (default 1,000, capped by each vendor: HubSpot lists 100 at most).
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
from pathlib import Path
from typing import Any

# The benchmark's neighbours (the read cases) and the repository (the tests' store helpers).
sys.path[:0] = [str(Path(__file__).resolve().parent), str(Path(__file__).resolve().parent.parent)]

from connector_read import CASES, Case  # noqa: E402

from syncbridge.db import create_engine, migrate  # noqa: E402
from syncbridge.sandbox.spec import SandboxRegistry  # noqa: E402

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
TARGET_RATE = 10_000
TARGET_MEMORY_RATIO = 1.25
QUICK = {"assets": 10_000, "rows": 100_000, "crm": 2_000}
FULL = {"assets": 100_000, "rows": 1_000_000, "crm": 5_000}


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


# -- the simulator process ---------------------------------------------------------------------


def _simulator(key: str, case: Case, records: int) -> Any:
    world = case.world_for(records)
    if case.build is not None:
        return case.build(world)
    factory = SandboxRegistry.from_entry_points().get(key).simulator
    assert factory is not None
    return factory(world, **case.options)


def _serve(key: str, records: int) -> None:
    """Serve the case's simulator on a free localhost port: print the connection settings as
    a JSON line, then serve until SIGTERM."""
    import uvicorn

    from syncbridge.logs import configure_logging

    configure_logging(level="WARNING", json=True)
    sim = _simulator(key, CASES[key], records)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    base = f"http://127.0.0.1:{sock.getsockname()[1]}"
    settings = sim.connection_settings(base)
    print(json.dumps({"settings": settings}, default=str), flush=True)  # noqa: T201
    config = uvicorn.Config(sim, log_level="warning", lifespan="off", access_log=False)
    uvicorn.Server(config).run(sockets=[sock])


# -- the sync process --------------------------------------------------------------------------


async def _sync(url: str, key: str, page: int, sim_pid: int, settings: dict[str, Any]) -> Any:
    # Imported here: the parent process only orchestrates.
    from syncbridge.connector.http import create_http_client
    from syncbridge.db import create_sessionmaker
    from syncbridge.logs import configure_logging
    from syncbridge.models import Connection
    from syncbridge.sync import run_sync
    from syncbridge.sync.service import build_connector
    from tests.sync_support import add_connection, context, run_streams

    configure_logging(level="INFO", json=True)  # production logs, not the console renderer
    case = CASES[key]
    ctx = context()
    model = ctx.registry.get(key).settings_model.model_validate({**settings, **case.settings(page)})
    engine = create_engine(url)
    store = create_sessionmaker(engine)
    try:
        connection_id = await add_connection(store, ctx, key, model)
        async with create_http_client() as http:
            async with store() as session:
                connection = await session.get(Connection, connection_id)
            assert connection is not None
            warm = build_connector(ctx, connection, http)
            async for _page in warm.read(case.stream, None):
                break
            await warm.aclose()
            before = _status_kb("VmRSS")
            _reset_peak()
            db_cpu = await _db_cpu_s(engine)
            sim_cpu, cpu, started = _cpu_s(sim_pid), time.process_time(), time.perf_counter()
            run = await run_sync(
                store, ctx, http, connection_id=connection_id, full=True,
                streams=[case.stream], requested_by="b2",
            )  # fmt: skip
            seconds = time.perf_counter() - started
            cpu, sim_cpu = time.process_time() - cpu, _cpu_s(sim_pid) - sim_cpu
            growth = _status_kb("VmHWM") - before
            db_cpu = await _db_cpu_s(engine) - db_cpu
        rs = (await run_streams(store, run.id))[case.stream]
    finally:
        await engine.dispose()
    return {
        "status": run.status,
        "error": run.error,
        "records": rs.read,
        "inserted": rs.inserted,
        "pages": rs.pages,
        "seconds": seconds,
        "cpu_us": 1e6 * cpu / max(rs.read, 1),
        "sim_cpu_us": 1e6 * sim_cpu / max(rs.read, 1),
        "db_cpu_us": 1e6 * db_cpu / max(rs.read, 1),
        "peak_mb": _peak_mb(),
        "growth_mb": growth / 1024,
        "load": os.getloadavg()[0],
    }


# -- the parent --------------------------------------------------------------------------------


def _here() -> Path:
    return Path(__file__).resolve().parent.parent


def _measure(url: str, key: str, records: int, page: int) -> dict[str, Any]:
    """One case: the simulator started, one sync process run against it, both reported."""
    sim = subprocess.Popen(
        [sys.executable, __file__, "--serve", key, str(records)],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, cwd=_here(),
    )  # fmt: skip
    try:
        assert sim.stdout is not None
        settings = json.loads(sim.stdout.readline())["settings"]
        time.sleep(0.5)  # uvicorn starts serving
        with tempfile.NamedTemporaryFile("w", suffix=".json") as spec:
            json.dump(settings, spec)
            spec.flush()
            out = subprocess.run(
                [sys.executable, __file__, "--child", url, key, str(page), str(sim.pid), spec.name],
                capture_output=True, text=True, check=False, cwd=_here(),
            )  # fmt: skip
        if out.returncode != 0:
            raise RuntimeError(out.stderr[-3000:])
        result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
        result["sim_peak_mb"] = _status_kb("VmHWM", sim.pid) / 1024
    finally:
        sim.send_signal(signal.SIGTERM)
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
    f"{'store':<11}{'case':<8}{'records':>10}{'pages':>7}{'seconds':>9}{'rec/s':>8}"
    f"{'cpu us/rec':>11}{'pg us/rec':>10}{'sim us/rec':>11}{'peak MB':>9}{'growth MB':>10}"
    f"{'sim MB':>8}{'load':>6}"
)


def _line(db: str, key: str, out: dict[str, Any]) -> str:
    flag = "" if out["status"] == "succeeded" else f"  {out['status']}: {out['error']}"
    return (
        f"{db:<11}{key:<8}{out['records']:>10,}{out['pages']:>7,}{out['seconds']:>9.1f}"
        f"{out['records'] / out['seconds']:>8,.0f}{out['cpu_us']:>11.1f}{out['db_cpu_us']:>10.1f}"
        f"{out['sim_cpu_us']:>11.1f}"
        f"{out['peak_mb']:>9.1f}{out['growth_mb']:>10.1f}{out['sim_peak_mb']:>8.0f}"
        f"{out['load']:>6.2f}{flag}"
    )


def _summary(db: str, runs: dict[tuple[str, int], dict[str, Any]]) -> None:
    ga4 = sorted(n for k, n in runs if k == "ga4")
    if len(ga4) == 2:
        low, high = (runs["ga4", n] for n in ga4)
        for what, field in (("peak RSS", "peak_mb"), ("peak growth", "growth_mb")):
            ratio = high[field] / max(low[field], 0.1)
            print(  # noqa: T201
                f"{db}: ga4 {what} at {high['records']:,} rows / at {low['records']:,} rows"
                f" = {high[field]:.1f} / {low[field]:.1f} MB = {ratio:.2f}"
                f" (target <= {TARGET_MEMORY_RATIO})"
            )
    # The B2 set: every case at its largest size (the smaller GA4 run only checks memory).
    largest = {k: max(n for kk, n in runs if kk == k) for k, _n in runs}
    chosen = [runs[k, n] for k, n in largest.items()]
    records = sum(r["records"] for r in chosen)
    seconds = sum(r["seconds"] for r in chosen)
    print(  # noqa: T201
        f"{db}: {records:,} records in {seconds:.1f} s = {records / seconds:,.0f} records/s"
        f" end to end (target >= {TARGET_RATE:,} on PostgreSQL)",
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
    parser.add_argument("--only", default="bynder,ga4,hubspot")
    parser.add_argument("--pg-admin-dsn", default=PG_ADMIN)
    args = parser.parse_args()
    size = {k: getattr(args, k) or v for k, v in (QUICK if args.quick else FULL).items()}
    sizes = {"bynder": [size["assets"]], "ga4": [size["rows"] // 10, size["rows"]]}
    sizes["hubspot"] = [size["crm"]]
    dbs = ["sqlite", "postgresql"] if args.db == "both" else [args.db]
    print(  # noqa: T201
        f"{os.cpu_count()} CPUs, load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}"
        f" at start; page size {args.page}"
    )
    print(HEADER, flush=True)  # noqa: T201
    for db in dbs:
        runs: dict[tuple[str, int], dict[str, Any]] = {}
        for key in args.only.split(","):
            for records in sizes[key]:
                url, drop = _fresh_store(db, args.pg_admin_dsn)
                try:
                    runs[key, records] = out = _measure(url, key, records, args.page)
                finally:
                    drop()
                print(_line(db, key, out), flush=True)  # noqa: T201
        _summary(db, runs)
    print(f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())} at end")  # noqa: T201


if __name__ == "__main__":
    if sys.argv[1:2] == ["--serve"]:
        _serve(sys.argv[2], int(sys.argv[3]))
    elif sys.argv[1:2] == ["--child"]:
        _url, _key, _page, _pid, _spec = sys.argv[2:7]
        _settings = json.loads(Path(_spec).read_text())
        _result = asyncio.run(_sync(_url, _key, int(_page), int(_pid), _settings))
        print(json.dumps(_result))  # noqa: T201
    else:
        main()
