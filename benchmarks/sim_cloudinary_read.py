"""The Cloudinary simulator must never be a benchmark's bottleneck (issue 7, item 7).

Usage: ``python benchmarks/sim_cloudinary_read.py [--assets 100000] [--page 100] [--runs 3]``.
Reads every resource of a simulated product environment, resource type by resource type, in
pages of ``--page`` (``max_results``, at most 500) following ``next_cursor``, oldest first with
tags, context and metadata (the connector's own read), through the simulator's ASGI app
in-process, and prints records/s: the median of ``--runs`` full reads (the simulator caches
nothing between reads). Target: at least 10,000 records/s at 100,000 assets.
"""

from __future__ import annotations

import argparse
import time

import httpx
from _runs import report_runs
from syncbridge_cloudinary.simulator import CloudinarySimulator, simulator

from syncbridge.sandbox.world import World

INCLUDE = {"tags": "true", "context": "true", "metadata": "true", "direction": "asc"}


async def read_all(sim: CloudinarySimulator, page_size: int) -> int:
    """Read every resource page by page; the number of records read."""
    opts = sim.options
    transport = httpx.ASGITransport(app=sim)
    auth = (opts.api_key, opts.api_secret)
    read = 0
    async with httpx.AsyncClient(
        transport=transport, base_url="https://api.cloudinary.test", auth=auth
    ) as client:
        for resource_type in ("image", "video", "raw"):
            cursor: str | None = None
            while True:
                params = {"max_results": str(page_size), **INCLUDE}
                if cursor:
                    params["next_cursor"] = cursor
                url = f"/v1_1/{opts.cloud_name}/resources/{resource_type}"
                response = await client.get(url, params=params)
                response.raise_for_status()
                body = response.json()
                read += len(body["resources"])
                cursor = body.get("next_cursor")
                if not cursor:
                    break
    return read


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--assets", type=int, default=100_000)
    parser.add_argument("--page", type=int, default=100)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    started = time.perf_counter()
    # The budget is lifted: this measures the simulator, not the Free plan's 500 calls/hour.
    sim = simulator(World(seed=42, assets_count=args.assets), admin_rate_limit=10**9)
    built = time.perf_counter() - started
    print(f"environment of {args.assets:,} resources built in {built:.1f} s")  # noqa: T201
    report_runs(lambda: read_all(sim, args.page), args.assets, args.runs)


if __name__ == "__main__":
    main()
