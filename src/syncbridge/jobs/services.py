"""What job handlers that call vendors are given: the connection context and the process's
shared HTTP client, behind the same SSRF guard as the API's.

The API process hands its own to the in-process worker; ``syncbridge worker`` (and the CLI's
``sync``) build them from settings with :func:`job_services`, which closes them at the end.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import httpx

from syncbridge.connections.secrets import SecretBox
from syncbridge.connections.service import ConnectionContext
from syncbridge.connections.ssrf import Resolver, guarded_transport, origins, resolve_host
from syncbridge.connector.http import create_http_client
from syncbridge.connector.registry import ConnectorRegistry
from syncbridge.connector.spec import HostPolicy
from syncbridge.settings import Settings


@dataclass(frozen=True)
class JobServices:
    """Connectors, secrets and the SSRF policy, and the shared (guarded) HTTP client."""

    connections: ConnectionContext
    http: httpx.AsyncClient


@asynccontextmanager
async def job_services(
    settings: Settings,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
    resolver: Resolver | None = None,
) -> AsyncIterator[JobServices]:
    """Services built from ``settings`` as the API builds its own; the client is closed when
    the block ends. Vendor calls go through ``transport`` (real HTTP by default)."""
    resolve = resolver or resolve_host
    allowed = origins(settings.sandbox_origins)
    context = ConnectionContext(
        registry=ConnectorRegistry.from_entry_points(),
        box=SecretBox.from_key_material(settings.secret_key.get_secret_value()),
        allow_local=settings.allow_local_connections,
        resolver=resolve,
        allowed_origins=allowed,
        policy=HostPolicy(sandbox_folders=tuple(settings.sandbox_folders)),
    )
    guard = guarded_transport(
        transport,
        resolver=resolve,
        allow_local=settings.allow_local_connections,
        allowed_origins=allowed,
    )
    http = create_http_client(transport=guard)
    try:
        yield JobServices(connections=context, http=http)
    finally:
        await http.aclose()


__all__ = ["JobServices", "job_services"]
