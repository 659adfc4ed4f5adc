"""The Bynder simulator must never be a benchmark's bottleneck (issue 7, item 7).

Usage: ``python benchmarks/sim_bynder_read.py [--assets 100000] [--page 100] [--runs 3]``.
Reads every medium of a simulated portal in pages over ``orderBy=dateModified asc`` (the
connector's own read), through the simulator's ASGI app in-process, and prints records/s:
the median of ``--runs`` full reads. Target: at least 10,000 records/s at 100,000 assets.
"""

from __future__ import annotations

import argparse
import time

import httpx
from _runs import report_runs
from syncbridge_bynder.sim_sns import SigningIdentity
from syncbridge_bynder.simulator import BynderSimulator

from syncbridge.sandbox.world import World


async def read_all(sim: BynderSimulator, page_size: int) -> int:
    """Read every medium page by page; the number of records read."""
    headers = {"Authorization": f"Bearer {sim.sandbox_info['token']}"}
    transport = httpx.ASGITransport(app=sim)
    read = 0
    async with httpx.AsyncClient(transport=transport, base_url="https://portal.test") as client:
        page = 1
        while True:
            params: dict[str, str | int] = {
                "orderBy": "dateModified asc",
                "limit": page_size,
                "page": page,
            }
            response = await client.get("/api/v4/media/", params=params, headers=headers)
            response.raise_for_status()
            items = response.json()
            read += len(items)
            if len(items) < page_size:
                return read
            page += 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--assets", type=int, default=100_000)
    parser.add_argument("--page", type=int, default=100)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    started = time.perf_counter()
    sim = BynderSimulator(
        World(seed=42, assets_count=args.assets), identity=SigningIdentity.generate()
    )
    built = time.perf_counter() - started
    print(f"portal of {args.assets:,} media built in {built:.1f} s")  # noqa: T201
    report_runs(lambda: read_all(sim, args.page), args.assets, args.runs)


if __name__ == "__main__":
    main()
