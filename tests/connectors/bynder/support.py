"""Shared builders for the Bynder tests: a simulator, settings pointing at it, a connector."""

from __future__ import annotations

from functools import cache
from typing import Any

import httpx
from syncbridge_bynder import BynderConnector, BynderSettings
from syncbridge_bynder.sim_sns import SigningIdentity
from syncbridge_bynder.simulator import BynderSimulator

from syncbridge.connector.http import RetryPolicy, create_http_client
from syncbridge.sandbox.faults import FaultKnobs
from syncbridge.sandbox.world import World

PORTAL = "https://acme.bynder.test"
ASSETS = 57
PAGE_SIZE = 10
#: Backoff short enough that tests on real time do not wait long.
FAST_RETRY = RetryPolicy(attempts=6, base_s=0.001, max_s=0.01)


@cache
def identity() -> SigningIdentity:
    """One SNS signing identity for the whole test session (RSA key generation is slow)."""
    return SigningIdentity.generate()


@cache
def other_identity() -> SigningIdentity:
    """A second identity: a forger's key and certificate."""
    return SigningIdentity.generate()


def make_simulator(
    *, faults: FaultKnobs | None = None, assets: int = ASSETS, **options: Any
) -> BynderSimulator:
    """A fresh simulated portal over the sandbox world."""
    options.setdefault("identity", identity())
    return BynderSimulator(World(seed=42, assets_count=assets), faults=faults, **options)


def settings_for(sim: BynderSimulator, **overrides: Any) -> BynderSettings:
    """Settings of a connection to ``sim`` (pinned SNS cert, no fetch delay, small pages)."""
    values: dict[str, Any] = {
        "base_url": PORTAL,
        "permanent_token": sim.sandbox_info["token"],
        "page_size": PAGE_SIZE,
        "sns_topic_arns": [sim.sandbox_info["topic_arn"]],
        "sns_pinned_cert_pem": sim.sandbox_info["cert_pem"],
        "fetch_delay_s": 0,
        "rate_limit_block_s": 0.01,
    }
    return BynderSettings(**{**values, **overrides})


def client_for(app: Any) -> httpx.AsyncClient:
    """A shared-style client talking to ``app`` in-process."""
    return create_http_client(transport=httpx.ASGITransport(app=app))


def connector_for(
    sim: BynderSimulator, client: httpx.AsyncClient, **overrides: Any
) -> BynderConnector:
    """A connector on ``client`` with settings for ``sim`` and a fast retry policy."""
    return BynderConnector(settings_for(sim, **overrides), client, retry=FAST_RETRY)
