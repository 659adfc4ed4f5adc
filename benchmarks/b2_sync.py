"""B2: full syncs from the simulators into the store, records/s and peak memory.

Usage: ``python benchmarks/b2_sync.py [--db sqlite|postgresql|both] [--assets 100000]
[--rows 1000000] [--crm 5000] [--only bynder,ga4,hubspot] [--page 100]``.

For each store (a throwaway SQLite file, or a throwaway PostgreSQL database created through
``--pg-admin-dsn`` and dropped at the end) and each case, one child process builds the
simulator in-process (``httpx.ASGITransport``), reads one page to warm its indexes, then runs
``syncbridge.sync.run_sync`` (a full sync of the case's stream) and reports:

* records/s end to end: records read, encoded and written, pages committed with their cursor;
* peak memory of the sync: the process's peak RSS during the sync (``VmHWM``, reset with
  ``/proc/self/clear_refs`` just before it) minus its RSS before (the simulator's world).

The memory check of B2 compares GA4 (analytics rows) at ``--rows`` and at a tenth of it: a
sync holds a page at a time, so the peak should not grow with the stream (target ratio
<= 1.25). Targets: >= 10,000 records/s on PostgreSQL. Cases: ``bynder`` media (assets),
``ga4`` ``asset_performance`` rows, ``hubspot`` contacts (CRM records).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx

# The benchmark's neighbours (the read cases) and the repository (the tests' store helpers).
sys.path[:0] = [str(Path(__file__).resolve().parent), str(Path(__file__).resolve().parent.parent)]

from connector_read import BASE, CASES, Case  # noqa: E402

from syncbridge.connector.http import create_http_client  # noqa: E402
from syncbridge.db import create_engine, create_sessionmaker, migrate  # noqa: E402
from syncbridge.sandbox.spec import SandboxRegistry  # noqa: E402

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
TARGET_RATE = 10_000
TARGET_MEMORY_RATIO = 1.25


def _status_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field} in /proc/self/status")


def _reset_peak() -> None:
    # Writing 5 to clear_refs resets the process's peak RSS (VmHWM) to its current RSS.
    Path("/proc/self/clear_refs").write_text("5")


def _simulator(key: str, case: Case, records: int) -> Any:
    world = case.world_for(records)
    if case.build is not None:
        return case.build(world)
    factory = SandboxRegistry.from_entry_points().get(key).simulator
    assert factory is not None
    return factory(world, **case.options)


async def _child(url: str, key: str, records: int, page: int) -> dict[str, Any]:
    # Imported here: the parent process only orchestrates.
    from syncbridge.sync import run_sync
    from syncbridge.sync.service import build_connector
    from tests.sync_support import add_connection, context

    case = CASES[key]
    sim = _simulator(key, case, records)
    ctx = context()
    spec = ctx.registry.get(key)
    model = spec.settings_model.model_validate(
        {**sim.connection_settings(BASE), **case.settings(page)}
    )
    engine = create_engine(url)
    store = create_sessionmaker(engine)
    try:
        connection_id = await add_connection(store, ctx, key, model)
        async with create_http_client(transport=httpx.ASGITransport(app=sim)) as http:
            from syncbridge.models import Connection

            async with store() as session:
                connection = await session.get(Connection, connection_id)
            assert connection is not None
            warm = build_connector(ctx, connection, http)
            async for _page in warm.read(case.stream, None):
                break
            await warm.aclose()
            before = _status_kb("VmRSS")
            _reset_peak()
            started = time.perf_counter()
            run = await run_sync(
                store, ctx, http, connection_id=connection_id, full=True,
                streams=[case.stream], requested_by="b2",
            )  # fmt: skip
            seconds = time.perf_counter() - started
            peak = _status_kb("VmHWM")
        from tests.sync_support import run_streams

        rs = (await run_streams(store, run.id))[case.stream]
    finally:
        await engine.dispose()
    return {
        "case": key,
        "status": run.status,
        "error": run.error,
        "records": rs.read,
        "inserted": rs.inserted,
        "pages": rs.pages,
        "seconds": seconds,
        "rate": rs.read / seconds,
        "rss_before_mb": before / 1024,
        "peak_extra_mb": (peak - before) / 1024,
    }


def _run_child(url: str, key: str, records: int, page: int) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, __file__, "--child", url, key, str(records), str(page)],
        capture_output=True,
        text=True,
        check=False,
        cwd=Path(__file__).resolve().parent.parent,
    )
    if out.returncode != 0:
        raise RuntimeError(out.stderr[-3000:])
    return json.loads(out.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


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
        return url, lambda: None
    name = f"sbbench_{uuid.uuid4().hex[:8]}"
    asyncio.run(_pg(admin, f'CREATE DATABASE "{name}"'))
    base = admin.rsplit("/", 1)[0]
    url = f"{base}/{name}"
    migrate(url)
    return url, lambda: asyncio.run(_pg(admin, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", default="both", choices=["sqlite", "postgresql", "both"])
    parser.add_argument("--assets", type=int, default=100_000)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--crm", type=int, default=5_000)
    parser.add_argument("--page", type=int, default=100)
    parser.add_argument("--only", default="bynder,ga4,hubspot")
    parser.add_argument("--pg-admin-dsn", default=PG_ADMIN)
    args = parser.parse_args()
    sizes = {"bynder": [args.assets], "ga4": [args.rows // 10, args.rows], "hubspot": [args.crm]}
    dbs = ["sqlite", "postgresql"] if args.db == "both" else [args.db]
    print(f"{'store':<11}{'case':<9}{'records':>10}{'seconds':>9}{'rec/s':>9}{'peak MB':>9}")  # noqa: T201
    for db in dbs:
        peaks: dict[int, float] = {}
        for key in args.only.split(","):
            for records in sizes[key]:
                url, drop = _fresh_store(db, args.pg_admin_dsn)
                try:
                    out = _run_child(url, key, records, args.page)
                finally:
                    drop()
                if key == "ga4":
                    peaks[records] = out["peak_extra_mb"]
                flag = "" if out["status"] == "succeeded" else f"  {out['status']}: {out['error']}"
                print(  # noqa: T201
                    f"{db:<11}{key:<9}{out['records']:>10,}{out['seconds']:>9.1f}"
                    f"{out['rate']:>9,.0f}{out['peak_extra_mb']:>9.1f}{flag}",
                    flush=True,
                )
        if len(peaks) == 2:
            low, high = sorted(peaks)
            ratio = peaks[high] / max(peaks[low], 0.1)
            print(  # noqa: T201
                f"{db}: ga4 peak memory at {high:,} rows / at {low:,} rows = {ratio:.2f} "
                f"(target <= {TARGET_MEMORY_RATIO})"
            )


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        _url, _key, _records, _page = sys.argv[2:6]
        result = asyncio.run(_child(_url, _key, int(_records), int(_page)))
        print(json.dumps(result))  # noqa: T201
    else:
        main()
