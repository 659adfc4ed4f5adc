"""What the runs tests share: an app whose vendor is a simulated Bynder portal, a gate that
holds a vendor call until the test lets it go, and a worker sharing the app's vendor access."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from syncbridge_bynder.simulator import BynderSimulator

from syncbridge.connections.endpoints import app_context
from syncbridge.jobs import HandlerRegistry, Job, Worker
from syncbridge.jobs.services import JobServices
from syncbridge.models import AuditEntry, Connection
from syncbridge.store.unit_of_work import in_unit_of_work
from tests.connectors.bynder.support import make_simulator, settings_for
from tests.sync_support import add_connection

#: Where the simulated portal answers, and the public-looking address it resolves to.
PORTAL_HOST = "acme.bynder.test"
PORTAL_ADDRESS = "93.184.216.50"


def portal(assets: int = 30) -> BynderSimulator:
    return make_simulator(assets=assets)


class Gate(httpx.AsyncBaseTransport):
    """Forwards to ``inner``; the request that ``stop_at`` picks waits until :meth:`open`."""

    def __init__(
        self, inner: httpx.AsyncBaseTransport, stop_at: Callable[[httpx.Request, int], bool]
    ) -> None:
        self.inner = inner
        self.stop_at = stop_at
        self.seen = 0
        self.arrived = asyncio.Event()
        self._open = asyncio.Event()

    def open(self) -> None:
        self._open.set()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.seen += 1
        if not self._open.is_set() and self.stop_at(request, self.seen):
            self.arrived.set()
            await self._open.wait()
        return await self.inner.handle_async_request(request)


async def connect(
    app: FastAPI, sim: BynderSimulator, *, name: str | None = None, page_size: int = 10
) -> uuid.UUID:
    """A Bynder connection to ``sim`` stored with the app's own secret key."""
    model = settings_for(sim, base_url=f"https://{PORTAL_HOST}", page_size=page_size)
    return await add_connection(
        app.state.sessionmaker, app_context(app), "bynder", model, name=name
    )


def worker_of(app: FastAPI, **options: Any) -> Worker:
    """A worker on the app's store, with the built-in handlers and the app's vendor access."""
    services = JobServices(connections=app_context(app), http=app.state.http)
    return Worker(
        app.state.engine, HandlerRegistry.load(), services=services, listen=False, **options
    )


async def jobs(app: FastAPI) -> list[Job]:
    async def read(session: AsyncSession) -> list[Job]:
        return list(await session.scalars(select(Job).order_by(Job.created_at)))

    return await in_unit_of_work(app.state.sessionmaker, read, write=False)


async def audit(app: FastAPI, action: str) -> list[AuditEntry]:
    async def read(session: AsyncSession) -> list[AuditEntry]:
        rows = await session.scalars(
            select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id)
        )
        return list(rows)

    return await in_unit_of_work(app.state.sessionmaker, read, write=False)


async def disable(app: FastAPI, connection_id: uuid.UUID) -> None:
    async def write(session: AsyncSession) -> None:
        connection = await session.get(Connection, connection_id)
        assert connection is not None
        connection.enabled = False

    await in_unit_of_work(app.state.sessionmaker, write)
