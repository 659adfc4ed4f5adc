"""Read speed of each HTTP connector against raw httpx paging of its simulator (issue 8, item 7).

Usage: ``python benchmarks/connector_read.py [--records 20000] [--page 100] [--runs 3]
[--only hubspot,ga4]``.

For each connector that ships an HTTP simulator (Bynder, Cloudinary, HubSpot, Salesforce,
GA4), a world is built so that one stream holds about ``--records`` records, and:

* **connector**: a full read of that stream through ``read()``, with the connector's rate
  limiter set to the simulator's limits (both raised so neither throttles: this measures
  cost, not politeness), no faults, pages of ``--page`` records where the vendor allows it
  (GA4 reads one day per report, HubSpot caps list pages at 100);
* **raw**: plain ``httpx`` paging of the same simulator: the list requests the connector's
  read sent (the same URLs, parameters, bodies and credentials, so the same pages), sent
  again one after the other, each answer parsed as JSON, nothing else.

Both run in-process (``httpx.ASGITransport``), alternating, after one warm-up read; each side
is the median of ``--runs`` runs. It prints records/s for both, the ratio connector / raw
(target >= 0.8: the connector's own work, typing values, building records, cursors and
limiter, costs little) and the HTTP requests each made (the connector's extra requests, such
as a token exchange, a describe or a properties call, are counted and shown).
"""

from __future__ import annotations

import argparse
import asyncio
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
    #: Whether a request is one of the stream's list pages (the raw side replays those).
    is_page: Callable[[httpx.Request], bool] = lambda _r: True
    #: For vendors whose page links work once (Salesforce's query locators): the raw side
    #: sends the first requests of each query and follows the link in each answer.
    follow: Callable[[Any], str | None] | None = None


CASES: dict[str, Case] = {
    "bynder": Case(
        stream="media",
        world_for=lambda n: World(seed=42, assets_count=n),
        options={"rate_limit": 10**9},
        settings=lambda page: {"page_size": page, "rate_limit_requests": 10**9},
        is_page=lambda r: r.url.path.endswith("/v4/media/"),
    ),
    "cloudinary": Case(
        stream="resources",
        world_for=lambda n: World(seed=42, assets_count=n),
        options={"admin_rate_limit": 10**9},
        settings=lambda page: {"page_size": min(page, 500), "admin_rate_limit_per_hour": 10**9},
        is_page=lambda r: "/resources/" in r.url.path and "by_asset_ids" not in r.url.path,
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
        is_page=lambda r: r.url.path.endswith("/crm/v3/objects/contacts"),
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
        is_page=lambda r: "/query" in r.url.path and "q" in r.url.params,
        follow=lambda body: body.get("nextRecordsUrl"),
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
        is_page=lambda r: r.url.path.endswith(":runReport"),
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


async def connector_read(
    key: str, case: Case, sim: Any, page: int
) -> tuple[int, float, list[httpx.Request]]:
    """One full read through the connector: records, seconds, the requests it made."""
    spec = ConnectorRegistry.from_entry_points().get(key)
    settings = {**sim.connection_settings(BASE), **case.settings(page)}
    model = spec.settings_model.model_validate(settings)
    recording = Recording(httpx.ASGITransport(app=sim))
    async with create_http_client(transport=recording) as client:
        connector: Connector = spec.factory(model, client)
        started = time.perf_counter()
        read = 0
        async for batch in connector.read(case.stream, None):
            read += len(batch.records)
        elapsed = time.perf_counter() - started
        await connector.aclose()
    return read, elapsed, recording.requests


async def raw_read(sim: Any, case: Case, pages: list[httpx.Request]) -> tuple[int, int, float]:
    """The same pages with bare httpx: send, parse JSON, count the items on the page (and
    follow the page links where they work once); items, requests and seconds."""
    transport = httpx.ASGITransport(app=sim)
    async with httpx.AsyncClient(transport=transport) as client:
        started = time.perf_counter()
        items = sent = 0
        for request in pages:
            url: httpx.URL | str | None = request.url
            while url is not None:
                response = await client.request(
                    request.method, url, headers=request.headers, content=request.content
                )
                sent += 1
                response.raise_for_status()
                body = response.json()
                items += _items(body)
                link = case.follow(body) if case.follow is not None else None
                url = request.url.join(link) if link else None
        return items, sent, time.perf_counter() - started


def _items(body: Any) -> int:
    if isinstance(body, list):
        return len(body)
    for name in ("results", "resources", "records", "rows"):
        if isinstance(body.get(name), list):
            return len(body[name])
    return 0


def bench(key: str, case: Case, records: int, page: int, runs: int) -> dict[str, Any]:
    world = case.world_for(records)
    if case.build is not None:
        sim = case.build(world)
    else:
        factory = SandboxRegistry.from_entry_points().get(key).simulator
        assert factory is not None
        sim = factory(world, **case.options)  # type: ignore[call-arg]
    read, _, requests = asyncio.run(connector_read(key, case, sim, page))  # warm-up
    pages = [r for r in requests if case.is_page(r)]
    connector_rates, raw_rates = [], []
    for _ in range(runs):
        raw_items, raw_requests, raw_s = asyncio.run(raw_read(sim, case, pages))
        # At least the connector's records: the same pages (Bynder's overlap a little, as its
        # cursor re-reads the boundary second of each page and drops the ids already seen).
        assert raw_items >= read, f"{key}: raw paging saw {raw_items} items, the connector {read}"
        raw_rates.append(read / raw_s)
        got, seconds, requests = asyncio.run(connector_read(key, case, sim, page))
        assert got == read, f"{key}: read {got}, then {read}"
        connector_rates.append(got / seconds)
    return {
        "records": read,
        "connector": statistics.median(connector_rates),
        "raw": statistics.median(raw_rates),
        "connector_requests": len(requests),
        "raw_requests": raw_requests,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=20_000)
    parser.add_argument("--page", type=int, default=100)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--only", default=",".join(CASES))
    args = parser.parse_args()
    # Production logs (JSON lines on stderr), not the development console renderer.
    configure_logging(level="INFO", json=True)
    header = f"{'connector':<11}{'records':>9}{'conn rec/s':>12}{'raw rec/s':>11}{'ratio':>7}"
    print(f"{header}{'requests conn/raw':>20}")  # noqa: T201
    for key in args.only.split(","):
        out = bench(key, CASES[key], args.records, args.page, args.runs)
        ratio = out["connector"] / out["raw"]
        flag = "" if ratio >= TARGET else f"  (below {TARGET})"
        print(  # noqa: T201
            f"{key:<11}{out['records']:>9,}{out['connector']:>12,.0f}{out['raw']:>11,.0f}"
            f"{ratio:>7.2f}{out['connector_requests']:>11}/{out['raw_requests']:<8}{flag}"
        )


if __name__ == "__main__":
    main()
