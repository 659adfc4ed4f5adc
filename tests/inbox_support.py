"""A ``serve --sandbox``-shaped app for the webhook tests: every simulator mounted, every
sandbox connection stored, vendor calls going through the app's own SSRF guard into the
mounted simulators, and the job worker running in the API process."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.types import Receive, Scope, Send

from syncbridge.app import create_app
from syncbridge.cli.serve import sandbox_settings
from syncbridge.connector.registry import ConnectorRegistry
from syncbridge.inbox import jobs as inbox_jobs
from syncbridge.inbox.receiver import InboxWriter
from syncbridge.jobs import HandlerRegistry, RetryPolicy, Worker, WorkerConfig
from syncbridge.models import Connection, InboxEvent
from syncbridge.sandbox.embedded import EmbeddedSandbox, prepare_sandbox_connections
from syncbridge.sandbox.spec import SandboxRegistry
from syncbridge.sandbox.world import World
from syncbridge.settings import Settings
from syncbridge.store.unit_of_work import in_unit_of_work
from tests.conftest import TEST_DB, _pg_admin

PUBLIC_URL = "http://127.0.0.1:8000"


@dataclass
class Sandboxed:
    app: FastAPI
    sandbox: EmbeddedSandbox
    client: httpx.AsyncClient
    connections: dict[str, uuid.UUID]

    def simulator(self, key: str) -> Any:
        return self.sandbox.simulators[key]

    def webhook_url(self, key: str, suffix: str = "") -> str:
        return f"{PUBLIC_URL}/webhooks/{self.connections[key]}{suffix}"

    async def process(self) -> int:
        """Run the queued inbox jobs that are due, with a worker of the app's own services
        (as the in-process worker would), until none is left; how many ran."""
        registry = HandlerRegistry()
        inbox_jobs.register(registry)
        worker = Worker(
            self.app.state.engine,
            registry,
            listen=False,
            services=self.app.state.job_services,
            config=WorkerConfig(retry=RetryPolicy(base_s=0.0, max_s=0.0)),
        )
        ran = 0
        while outcomes := await worker.run_once():
            ran += len(outcomes)
        return ran

    async def events(self) -> list[InboxEvent]:
        async def read(session: AsyncSession) -> list[InboxEvent]:
            return list(await session.scalars(select(InboxEvent).order_by(InboxEvent.received_at)))

        return await in_unit_of_work(self.app.state.sessionmaker, read, write=False)


@asynccontextmanager
async def sandboxed_app(
    settings: Settings, folder: Path, *, assets: int = 20, **overrides: Any
) -> AsyncIterator[Sandboxed]:
    sandbox = EmbeddedSandbox.build(
        SandboxRegistry.from_entry_points(),
        ConnectorRegistry.from_entry_points(),
        world=World(assets_count=assets),
        public_url=PUBLIC_URL,
        folder=folder,
    )
    local = sandbox_settings(settings, PUBLIC_URL, sandbox.folder).model_copy(update=overrides)
    await prepare_sandbox_connections(local, sandbox, ConnectorRegistry.from_entry_points())
    built: list[FastAPI] = []

    async def into_the_app(scope: Scope, receive: Receive, send: Send) -> None:
        await built[0](scope, receive, send)

    app = create_app(local, sandbox, transport=httpx.ASGITransport(app=into_the_app))
    built.append(app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=PUBLIC_URL) as client,
    ):

        async def ids(session: AsyncSession) -> dict[str, uuid.UUID]:
            rows = await session.execute(select(Connection.connector_key, Connection.id))
            return {str(row[0]): row[1] for row in rows.all()}

        connections = await in_unit_of_work(app.state.sessionmaker, ids, write=False)
        yield Sandboxed(app, sandbox, client, connections)


async def add_connection(sessionmaker: Any, connector_key: str = "hubspot") -> uuid.UUID:
    """An enabled connection row of ``connector_key`` (no settings): what the inbox's rows
    point at, for tests of the inbox writer itself."""
    connection_id = uuid.uuid4()

    async def add(session: AsyncSession) -> None:
        session.add(
            Connection(id=connection_id, connector_key=connector_key, name=f"c-{connection_id}",
                       settings={}, secrets="", enabled=True)
        )  # fmt: skip

    await in_unit_of_work(sessionmaker, add)
    return connection_id


@asynccontextmanager
async def running(writer: InboxWriter) -> AsyncIterator[InboxWriter]:
    """``writer`` started for the block and stopped after it, whatever the block raised."""
    await writer.start()
    try:
        yield writer
    finally:
        await writer.stop()


async def terminate_backends(database: str) -> None:
    """Cut every PostgreSQL connection to ``database`` (a restart, as its clients see it)."""
    await _pg_admin(
        TEST_DB,
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
        f"WHERE datname = '{database}' AND pid <> pg_backend_pid()",
    )


@asynccontextmanager
async def refusing_connections(database: str) -> AsyncIterator[None]:
    """PostgreSQL refuses connections to ``database`` for the block, its open ones cut."""
    await _pg_admin(TEST_DB, f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS false')
    try:
        await terminate_backends(database)
        yield
    finally:
        await _pg_admin(TEST_DB, f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS true')
