"""Shared builders for the Salesforce tests: a simulated org, settings, a connector, a key."""

from __future__ import annotations

from functools import cache
from typing import Any

import httpx
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from syncbridge_salesforce import SalesforceConnector, SalesforceSettings
from syncbridge_salesforce.simulator import SalesforceSimulator

from syncbridge.connector.http import RetryPolicy, create_http_client
from syncbridge.sandbox.faults import FaultKnobs
from syncbridge.sandbox.world import World

INSTANCE = "https://acme.my.salesforce.test"
ASSETS = 200
#: The simulator answers at most this many rows a batch (Salesforce "may return fewer").
BATCH_CAP = 7
USERNAME = "integration@acme.example"
#: Backoff short enough that tests on real time do not wait long.
FAST_RETRY = RetryPolicy(attempts=6, base_s=0.001, max_s=0.01)


@cache
def jwt_key() -> rsa.RSAPrivateKey:
    """The connected app's JWT signing key for the whole session (generation is slow)."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@cache
def other_key() -> rsa.RSAPrivateKey:
    """A key the connected app does not know."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def pem(key: rsa.RSAPrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


def make_simulator(
    *, faults: FaultKnobs | None = None, assets: int = ASSETS, **options: Any
) -> SalesforceSimulator:
    """A fresh simulated org over the sandbox world, with small batches and the JWT key."""
    options.setdefault("batch_cap", BATCH_CAP)
    options.setdefault("jwt_public_key", jwt_key().public_key())
    options.setdefault("usernames", (USERNAME,))
    return SalesforceSimulator(World(seed=42, assets_count=assets), faults=faults, **options)


def settings_values(sim: SalesforceSimulator, **overrides: Any) -> dict[str, Any]:
    """The settings ``sim`` gives for a connection at ``INSTANCE``, with overrides."""
    return {**sim.connection_settings(INSTANCE), **overrides}


def jwt_overrides(**overrides: Any) -> dict[str, Any]:
    """Settings overrides that switch a connection to the JWT bearer flow."""
    return {
        "auth_flow": "jwt_bearer",
        "login_url": INSTANCE,
        "client_secret": None,
        "username": USERNAME,
        "private_key": pem(jwt_key()),
        **overrides,
    }


def client_for(app: Any) -> httpx.AsyncClient:
    """A shared-style client talking to ``app`` in-process."""
    return create_http_client(transport=httpx.ASGITransport(app=app))


def connector_for(
    sim: SalesforceSimulator, client: httpx.AsyncClient, **overrides: Any
) -> SalesforceConnector:
    """A connector on ``client`` with settings for ``sim`` and a fast retry policy."""
    settings = SalesforceSettings(**settings_values(sim, **overrides))
    return SalesforceConnector(settings, client, retry=FAST_RETRY)
