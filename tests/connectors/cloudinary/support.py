"""Shared set-up for the Cloudinary tests: a simulator and settings pointed at it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
from syncbridge_cloudinary.connector import CloudinaryConnector
from syncbridge_cloudinary.settings import CloudinarySettings
from syncbridge_cloudinary.simulator import CloudinarySimulator, simulator

from syncbridge.connector.http import RetryPolicy, create_http_client
from syncbridge.sandbox.faults import FaultKnobs
from syncbridge.sandbox.world import World

#: 57 assets over three resource types, read 10 at a time: several pages per type.
ASSETS = 57
PAGE_SIZE = 10
BASE_URL = "http://cloudinary.test"
#: Retries without real waits worth mentioning.
FAST_RETRY = RetryPolicy(attempts=6, base_s=0.001, max_s=0.01)


def make_simulator(
    *, faults: FaultKnobs | None = None, assets: int = ASSETS, **options: Any
) -> CloudinarySimulator:
    return simulator(World(seed=42, assets_count=assets), faults=faults, **options)


def settings_for(sim: CloudinarySimulator, **overrides: Any) -> CloudinarySettings:
    info = sim.sandbox_info
    values: dict[str, Any] = {
        "base_url": BASE_URL,
        "cloud_name": info["cloud_name"],
        "api_key": info["api_key"],
        "api_secret": info["api_secret"],
        "page_size": PAGE_SIZE,
        "signature_algorithm": sim.options.signature_algorithm,
        "notification_signature_algorithm": sim.options.signature_algorithm,
    }
    return CloudinarySettings(**{**values, **overrides})


def client_for(sim: CloudinarySimulator) -> httpx.AsyncClient:
    return create_http_client(transport=httpx.ASGITransport(app=sim))


def connector_for(
    sim: CloudinarySimulator,
    client: httpx.AsyncClient,
    *,
    retry: RetryPolicy = FAST_RETRY,
    **overrides: Any,
) -> CloudinaryConnector:
    return CloudinaryConnector(settings_for(sim, **overrides), client, retry=retry)


def owned(tags: list[str], prefix: str = "perf:") -> set[str]:
    return {t for t in tags if t.startswith(prefix)}


def human(tags: list[str], prefix: str = "perf:") -> set[str]:
    return {t for t in tags if not t.startswith(prefix)}


Clock = Callable[[], float]
