"""B4, rate-limit use of write-back: 10,000 pending write-backs against a simulator enforcing
100 requests per 10 s (issue 10, item 7; QUALITY B4).

The store is built as B3 builds it (``b3_writeback_calls``): the Bynder simulator's assets of
a sandbox ``World``, each with a desired tag and nothing confirmed, so planning puts one
write-back per asset in the outbox. The simulator enforces 100 requests per 10 s per client
(Bynder's per-IP limit, then a block) and the connection says the same limit. Bynder takes
one call per medium to re-read it, one for the connector's own read and one to write.

Time is virtual, shared by the connector's limiter and the simulator: a sleep moves it on
at once, so a run at 10 requests/s does not take hours. What it measures is the pacing: the
achieved request rate against the limit (target at least 0.9), the busiest window of 10 s
(target: never over 100) and the 429s. The wall time and the load average are printed too.

    .venv/bin/python benchmarks/b4_writeback_rate.py                     # SQLite, 10,000
    .venv/bin/python benchmarks/b4_writeback_rate.py --db postgresql --writebacks 2000
"""

from __future__ import annotations

import argparse
import asyncio
import time
from typing import Any

from b3_writeback_calls import (
    bench_store,
    desired_row,
    insert_rows,
    load,
    say,
    send_all,
    with_store,
)
from sqlalchemy.ext.asyncio import AsyncSession

from syncbridge.connector.ratelimit import TimeSource, override_time
from syncbridge.models import DesiredTag
from syncbridge.sandbox.world import World
from syncbridge.store.unit_of_work import in_unit_of_work
from syncbridge.writeback.sending import SendPolicy
from syncbridge.writeback.service import plan_writebacks

LIMIT, WINDOW_S = 100, 10.0


class VirtualTime:
    """Time that moves only when someone sleeps."""

    def __init__(self) -> None:
        self.at = time.time()

    def now(self) -> float:
        return self.at

    async def sleep(self, seconds: float) -> None:
        self.at += max(0.0, seconds)
        await asyncio.sleep(0)


def windows(arrivals: list[float], window_s: float, limit: int) -> tuple[int, int]:
    """The most calls in any window of ``window_s`` ending at a call, and how many such
    windows hold more than ``limit``."""
    times = sorted(arrivals)
    most = over = start = 0
    for end, at in enumerate(times):
        while times[start] <= at - window_s:
            start += 1
        inside = end - start + 1
        most = max(most, inside)
        over += inside > limit
    return most, over


async def measure(url: str, count: int) -> None:
    clock = VirtualTime()
    settings = {
        "rate_limit_requests": LIMIT,
        "rate_limit_period_s": WINDOW_S,
        "rate_limit_block_s": WINDOW_S,
        "fetch_delay_s": 0,
    }
    world = World(assets_count=count)
    async with bench_store(url, world, clock=clock.now, bynder_settings=settings) as bench:
        limit = bench.bynder.rate_limit
        limit.max_requests, limit.window_s, limit.block_s = LIMIT, WINDOW_S, WINDOW_S
        limit.clock = clock.now
        rows = [
            desired_row(bench, asset_id, "perf:middle")
            for asset_id, _rt in bench.assets["bynder"].values()
        ]
        await insert_rows(bench.sessionmaker, DesiredTag, rows)

        async def plan(session: AsyncSession) -> Any:
            return await plan_writebacks(session)

        bench.connections.pop("cloudinary")  # B4 is about one rate-limited connection
        result = await in_unit_of_work(bench.sessionmaker, plan)
        say(f"  pending write-backs: {result.planned.get(bench.connections['bynder'], 0):,}")
        started_wall, started = time.perf_counter(), clock.now()
        with override_time(TimeSource(clock=clock.now, sleep=clock.sleep, wall_clock=clock.now)):
            reports = await send_all(bench, SendPolicy(batch=1000))
        wall = time.perf_counter() - started_wall
        arrivals = bench.transport.arrivals.get("bynder", [])
        span = max(arrivals) - min(arrivals) if len(arrivals) > 1 else 0.0
        rate = (len(arrivals) - 1) / span if span else float("nan")
        most, over = windows(arrivals, WINDOW_S, LIMIT)
        say(f"  attempts: {reports['bynder'].attempts}")
        say(
            f"  requests {len(arrivals):,} over {span:,.1f} virtual s (sending took "
            f"{clock.now() - started:,.1f}): {rate:.3f} requests/s against the limit "
            f"{LIMIT / WINDOW_S:.1f} = {rate / (LIMIT / WINDOW_S):.3f} of it (target >= 0.9)"
        )
        say(
            f"  busiest {WINDOW_S:.0f} s window: {most} requests (limit {LIMIT}); windows over "
            f"the limit: {over}; 429s: {bench.bynder.rate_limited}; wall {wall:.1f} s"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--db", choices=("sqlite", "postgresql", "both"), default="sqlite")
    parser.add_argument("--writebacks", type=int, default=10_000)
    args = parser.parse_args()
    for db in ("sqlite", "postgresql") if args.db == "both" else (args.db,):
        say(f"{db}: {args.writebacks:,} write-backs, limit {LIMIT}/{WINDOW_S:.0f} s; {load()}")
        with_store(db, lambda url: measure(url, args.writebacks))
        say(f"  after: {load()}")


if __name__ == "__main__":
    main()
