"""Read speed of each HTTP connector against raw httpx paging of its simulator (issue 8, item 7).

Usage: ``python benchmarks/connector_read.py [--records 20000] [--page 100] [--runs 9]
[--only hubspot,ga4]``.

For each connector that ships an HTTP simulator (Bynder, Cloudinary, HubSpot, Salesforce,
GA4), a world is built so that one stream holds about ``--records`` records, and:

* **connector**: a full read of that stream through ``read()``, with the connector's rate
  limiter set to the simulator's limits (both raised so neither throttles: this measures
  cost, not politeness), no faults, pages of ``--page`` records where the vendor allows it
  (HubSpot caps list pages at 100, Salesforce answers at least 200 rows a batch);
* **raw**: plain ``httpx`` of the same simulator: every request the connector's read sent
  (the same URLs, parameters, bodies and credentials, so the same pages; its token exchange,
  describe or properties call too), sent again one after the other, each answer parsed as
  JSON, nothing else. Where a page link works only once (Salesforce's query locators) the raw
  side sends the query and follows the link in each answer instead.

Both sides go through the same request-recording transport over ``httpx.ASGITransport``, in
process; the simulator's objects are frozen out of the garbage collector's walks (they are
the vendor's memory, not the reader's). After one warm-up read the two alternate (connector
then raw, then raw then connector, ...) so that a change of machine load hits both alike;
each side is the median of ``--runs`` runs. It prints records/s for both, the ratio of the
medians connector / raw (target >= 0.8: the connector's own work, typing values, building
records, cursors and limiter, costs little), the spread of the ratios of each connector run
and the raw run next to it, the median of those ratios taken in CPU time of this process
(what each side cost, whatever else the machine ran meanwhile) and the HTTP requests each
side made. The two sides must make the same number of requests, run after run: the benchmark
fails otherwise. The load average is printed before and after, as the figures only mean
something next to it.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import platform
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
from syncbridge_ga4.sim_quota import PropertyQuota
from syncbridge_salesforce.simulator import SalesforceSimulator

from syncbridge.connector.http import create_http_client
from syncbridge.connector.registry import ConnectorRegistry
from syncbridge.connector.spec import Connector
from syncbridge.logs import configure_logging
from syncbridge.sandbox.spec import SandboxRegistry
from syncbridge.sandbox.world import World

BASE = "http://vendor.bench"
TARGET = 0.8


@dataclass(frozen=True)
class Case:
    """How to read one connector's biggest stream at about ``records`` records."""

    stream: str
    #: World size for about ``records`` records in the stream.
    world_for: Callable[[int], World]
    #: Simulator options that lift its limits.
    options: dict[str, Any] = field(default_factory=dict)
    #: Builds the simulator when its sandbox factory takes no options.
    build: Callable[[World], Any] | None = None
    #: Connection settings over the simulator's own (page size, limiter).
    settings: Callable[[int], dict[str, Any]] = lambda _page: {}
    #: For vendors whose page links work once (Salesforce's query locators): whether a
    #: request of the connector's followed such a link (the raw side follows its own).
    is_link: Callable[[httpx.Request], bool] = lambda _r: False
    #: The link to the next page in an answer, for those vendors.
    follow: Callable[[Any], str | None] = lambda _body: None


CASES: dict[str, Case] = {
    "bynder": Case(
        stream="media",
        world_for=lambda n: World(seed=42, assets_count=n),
        options={"rate_limit": 10**9},
        settings=lambda page: {"page_size": page, "rate_limit_requests": 10**9},
    ),
    "cloudinary": Case(
        stream="resources",
        world_for=lambda n: World(seed=42, assets_count=n),
        options={"admin_rate_limit": 10**9},
        settings=lambda page: {"page_size": min(page, 500), "admin_rate_limit_per_hour": 10**9},
    ),
    "hubspot": Case(
        stream="contacts",
        # The world holds a contact per 4 assets.
        world_for=lambda n: World(seed=42, assets_count=4 * n),
        options={"burst_limit": 10**9, "daily_limit": 10**12, "search_per_s": 10**6},
        settings=lambda page: {
            "page_size": min(page, 100),
            "rate_limit_requests": 10_000,
            "rate_limit_period_s": 0.01,
            "search_rate_limit_per_s": 100,
        },
    ),
    "salesforce": Case(
        stream="Contact",
        world_for=lambda n: World(seed=42, assets_count=4 * n),
        build=lambda world: SalesforceSimulator(world, daily_api_limit=10**9),
        settings=lambda page: {
            "page_size": max(200, page),
            "rate_limit_requests": 10_000,
            "rate_limit_period_s": 0.01,
        },
        # ``.../query/<locator>``: the query's own path is ``.../query`` (or ``queryAll``).
        is_link=lambda r: "/query" in r.url.path and not r.url.path.endswith(("/query", "All")),
        follow=lambda body: body.get("nextRecordsUrl") if isinstance(body, dict) else None,
    ),
    "ga4": Case(
        stream="asset_performance",
        # About 40 % of assets are live in the 90-day window, 30-60 days each: some 17 rows
        # an asset (20,335 rows for 20,000; n // 15 gave 25,699).
        world_for=lambda n: World(seed=42, assets_count=max(20, n // 17)),
        options={
            "quota": PropertyQuota(
                tokens_per_hour=10**9, tokens_per_day=10**9, tokens_per_project_per_hour=10**9
            )
        },
        settings=lambda page: {
            "page_size": max(page, 100),
            "rate_limit_requests": 1000,
            "rate_limit_period_s": 0.01,
        },
    ),
}


class Recording(httpx.AsyncBaseTransport):
    """Counts requests and keeps them, in order, on the way to an inner transport."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner
        self.requests: list[httpx.Request] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        await request.aread()
        self.requests.append(request)
        return await self.inner.handle_async_request(request)


@dataclass(frozen=True)
class Run:
    """One timed read: what it got, how long it took, the requests it sent."""

    items: int
    #: Wall-clock seconds.
    seconds: float
    #: CPU seconds of this process: what the read cost, whatever else ran on the machine.
    cpu: float
    requests: list[httpx.Request]


async def connector_read(key: str, case: Case, sim: Any, page: int) -> Run:
    """One full read through the connector."""
    spec = ConnectorRegistry.from_entry_points().get(key)
    settings = {**sim.connection_settings(BASE), **case.settings(page)}
    model = spec.settings_model.model_validate(settings)
    recording = Recording(httpx.ASGITransport(app=sim))
    async with create_http_client(transport=recording) as client:
        connector: Connector = spec.factory(model, client)
        started, cpu = time.perf_counter(), time.process_time()
        read = 0
        async for batch in connector.read(case.stream, None):
            read += len(batch.records)
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
        await connector.aclose()
    return Run(read, elapsed, cpu, recording.requests)


async def raw_read(sim: Any, case: Case, sent: list[httpx.Request]) -> Run:
    """The connector's requests again with bare httpx: send, parse JSON, count the items of
    each list answer (and follow the page links that work once)."""
    recording = Recording(httpx.ASGITransport(app=sim))
    replayed = [r for r in sent if not case.is_link(r)]
    async with httpx.AsyncClient(transport=recording) as client:
        started, cpu = time.perf_counter(), time.process_time()
        items = 0
        for request in replayed:
            url: httpx.URL | None = request.url
            while url is not None:
                response = await client.request(
                    request.method, url, headers=request.headers, content=request.content
                )
                response.raise_for_status()
                body = response.json()
                items += _items(body)
                link = case.follow(body)
                url = request.url.join(link) if link else None
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    return Run(items, elapsed, cpu, recording.requests)


def _items(body: Any) -> int:
    if isinstance(body, list):
        return len(body)
    if not isinstance(body, dict):
        return 0
    for name in ("results", "resources", "records", "rows"):
        if isinstance(body.get(name), list):
            return len(body[name])
    return 0


class Unfair(RuntimeError):
    """The two sides did not do the same HTTP work: the figures would mean nothing."""


def _check(key: str, read: int, requests: int, connector: Run, raw: Run) -> None:
    if connector.items != read or len(connector.requests) != requests:
        raise Unfair(
            f"{key}: this connector read got {connector.items} records in "
            f"{len(connector.requests)} requests, the warm-up {read} in {requests}"
        )
    if len(raw.requests) != requests:
        raise Unfair(
            f"{key}: raw paging sent {len(raw.requests)} requests, the connector {requests}"
        )
    # At least the connector's records: the same pages (Bynder's overlap a little, as its
    # cursor re-reads the boundary second of each page and drops the ids already seen).
    if raw.items < read:
        raise Unfair(f"{key}: raw paging saw {raw.items} items, the connector read {read}")


def simulator_of(key: str, case: Case, world: World) -> Any:
    """The case's simulator of ``world``, its limits lifted."""
    if case.build is not None:
        return case.build(world)
    factory = SandboxRegistry.from_entry_points().get(key).simulator
    assert factory is not None
    return factory(world, **case.options)


def bench(key: str, case: Case, records: int, page: int, runs: int) -> dict[str, Any]:
    sim = simulator_of(key, case, case.world_for(records))
    warm = asyncio.run(connector_read(key, case, sim, page))
    read, sent = warm.items, warm.requests
    asyncio.run(raw_read(sim, case, sent))  # warm-up of the raw side
    # The simulator's world (up to some 250,000 objects) is the vendor's memory, not the
    # reader's: left to the collector, each full collection walked it for 35-75 ms, and
    # one fell in every other read, mostly on the side that allocates more. Frozen, the
    # collections walk what the reads themselves allocate, as they would in production.
    gc.freeze()
    try:
        return _runs(key, case, sim, page, runs, read, sent)
    finally:
        gc.unfreeze()


def _runs(
    key: str, case: Case, sim: Any, page: int, runs: int, read: int, sent: list[httpx.Request]
) -> dict[str, Any]:
    connector_rates, raw_rates, ratios, cpu_ratios = [], [], [], []
    for i in range(runs):
        # Alternate which side goes first, so that neither always runs on a warmer machine.
        if i % 2 == 0:
            connector = asyncio.run(connector_read(key, case, sim, page))
            raw = asyncio.run(raw_read(sim, case, sent))
        else:
            raw = asyncio.run(raw_read(sim, case, sent))
            connector = asyncio.run(connector_read(key, case, sim, page))
        _check(key, read, len(sent), connector, raw)
        connector_rates.append(read / connector.seconds)
        raw_rates.append(read / raw.seconds)
        ratios.append(raw.seconds / connector.seconds)
        cpu_ratios.append(raw.cpu / connector.cpu)
    return {
        "records": read,
        "connector": statistics.median(connector_rates),
        "raw": statistics.median(raw_rates),
        "ratios": (min(ratios), max(ratios)),
        "cpu_ratio": statistics.median(cpu_ratios),
        "requests": len(connector.requests),
        "raw_requests": len(raw.requests),
    }


def _load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f} {five:.2f} {fifteen:.2f} on {os.cpu_count()} CPUs"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=20_000)
    parser.add_argument("--page", type=int, default=100)
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--only", default=",".join(CASES))
    args = parser.parse_args()
    # Production logs (JSON lines on stderr), not the development console renderer.
    configure_logging(level="INFO", json=True)
    print(f"Python {platform.python_version()}, {args.runs} runs a side; {_load()}")  # noqa: T201
    header = f"{'connector':<11}{'records':>9}{'conn rec/s':>12}{'raw rec/s':>11}{'ratio':>7}"
    print(f"{header}{'run ratios':>12}{'cpu ratio':>10}{'requests conn/raw':>19}")  # noqa: T201
    for key in args.only.split(","):
        out = bench(key, CASES[key], args.records, args.page, args.runs)
        ratio = out["connector"] / out["raw"]
        low, high = out["ratios"]
        flag = "" if ratio >= TARGET else f"  (below {TARGET})"
        print(  # noqa: T201
            f"{key:<11}{out['records']:>9,}{out['connector']:>12,.0f}{out['raw']:>11,.0f}"
            f"{ratio:>7.2f}{f'{low:.2f}-{high:.2f}':>12}{out['cpu_ratio']:>10.2f}"
            f"{out['requests']:>11}/{out['raw_requests']:<7}{flag}"
        )
    print(_load())  # noqa: T201


if __name__ == "__main__":
    main()
