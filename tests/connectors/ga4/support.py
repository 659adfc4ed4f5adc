"""Shared builders for the GA4 tests: a simulator, settings pointing at it, expected records.

``expected_records`` recomputes what a report must hold straight from the simulator's world
rows (its own state), with its own copy of the external-id rule, so tests never take the
connector's word for what is right.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from datetime import date, timedelta
from decimal import Decimal
from functools import cache
from typing import Any

import httpx
from syncbridge_ga4 import Ga4Settings
from syncbridge_ga4.connector import Ga4Connector
from syncbridge_ga4.sim_auth import SandboxServiceAccount
from syncbridge_ga4.simulator import Ga4Simulator

from syncbridge.connector.http import RetryPolicy, create_http_client
from syncbridge.sandbox.faults import FaultKnobs
from syncbridge.sandbox.world import AnalyticsRow, World

BASE = "https://analyticsdata.ga4.test"
STREAM = "asset_performance"
#: 200 assets: about 18 rows a day at the end of the window, 2,322 rows over 90 days.
ASSETS = 200
#: Backoff short enough that tests on real time do not wait long.
FAST_RETRY = RetryPolicy(attempts=6, base_s=0.001, max_s=0.01)
DIMENSIONS = (
    "date",
    "pagePath",
    "sessionCampaignName",
    "sessionSourceMedium",
    "customEvent:asset_id",
)
METRICS = ("screenPageViews", "sessions", "eventCount", "keyEvents", "totalRevenue")


@cache
def account() -> SandboxServiceAccount:
    """One sandbox service account for the whole session (RSA key generation is slow)."""
    return SandboxServiceAccount.generate(42)


@cache
def stranger() -> SandboxServiceAccount:
    """Another account with the same e-mail address but its own key: a forger."""
    return SandboxServiceAccount.generate(42)


def make_simulator(
    *, faults: FaultKnobs | None = None, assets: int = ASSETS, **options: Any
) -> Ga4Simulator:
    """A fresh simulated property over the sandbox world."""
    options.setdefault("account", account())
    return Ga4Simulator(World(seed=42, assets_count=assets), faults=faults, **options)


def settings_for(sim: Ga4Simulator, **overrides: Any) -> Ga4Settings:
    """Settings of a connection to ``sim`` at ``BASE`` (the whole window, pages of 200)."""
    values = {**sim.connection_settings(BASE), "page_size": 200, **overrides}
    return Ga4Settings(**values)


def client_for(app: Any) -> httpx.AsyncClient:
    """A shared-style client talking to ``app`` in-process."""
    return create_http_client(transport=httpx.ASGITransport(app=app))


def connector_for(sim: Ga4Simulator, client: httpx.AsyncClient, **overrides: Any) -> Ga4Connector:
    """A connector on ``client`` with settings for ``sim`` and a fast retry policy."""
    return Ga4Connector(settings_for(sim, **overrides), client, retry=FAST_RETRY)


def record_id(property_id: str, stream: str, day: str, dims: dict[str, str]) -> str:
    """The external-id rule, written down independently of the connector."""
    pairs = sorted((k, v) for k, v in dims.items() if k != "date")
    text = json.dumps([property_id, stream, pairs], separators=(",", ":"))
    return f"{day}:{hashlib.sha256(text.encode()).hexdigest()[:32]}"


_READ = {
    "pagePath": lambda r: r.page_path,
    "sessionCampaignName": lambda r: r.campaign_key,
    "sessionSourceMedium": lambda r: r.source_medium,
    "customEvent:asset_id": lambda r: r.asset_id,
}
_SUM = {
    "screenPageViews": lambda r: r.views,
    "sessions": lambda r: r.sessions,
    "eventCount": lambda r: r.event_count,
    "keyEvents": lambda r: r.key_events,
    "totalRevenue": lambda r: r.revenue,
}


def expected_records(
    sim: Ga4Simulator,
    *,
    days: Sequence[date] | None = None,
    dimensions: Sequence[str] = DIMENSIONS,
    metrics: Sequence[str] = METRICS,
    stream: str = STREAM,
) -> dict[str, dict[str, Any]]:
    """External id -> the data a report's record must carry, from the world's rows."""
    out: dict[str, dict[str, Any]] = {}
    for day in days if days is not None else sim.world.analytics_days:
        rows: list[AnalyticsRow] = sim.rows(day)
        groups: dict[tuple[str, ...], dict[str, Any]] = {}
        for row in rows:
            dims = {"date": day.isoformat(), **{d: _READ[d](row) for d in dimensions[1:]}}
            key = tuple(dims[d] for d in dimensions)
            acc = groups.setdefault(key, {**dims, **dict.fromkeys(metrics, 0)})
            for m in metrics:
                acc[m] += _SUM[m](row)
        for data in groups.values():
            if "totalRevenue" in data:
                data["totalRevenue"] = Decimal(data["totalRevenue"])
            dims = {d: str(data[d]) for d in dimensions}
            out[record_id(sim.property_id, stream, day.isoformat(), dims)] = data
    return out


def last_days(sim: Ga4Simulator, count: int) -> list[date]:
    """The last ``count`` days up to the simulator's today, ascending."""
    return [sim.today - timedelta(days=k) for k in range(count - 1, -1, -1)]


__all__ = [
    "ASSETS",
    "BASE",
    "DIMENSIONS",
    "FAST_RETRY",
    "METRICS",
    "STREAM",
    "account",
    "client_for",
    "connector_for",
    "expected_records",
    "last_days",
    "make_simulator",
    "record_id",
    "settings_for",
    "stranger",
]
