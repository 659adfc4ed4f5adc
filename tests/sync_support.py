"""Builders for the sync tests: a store, connections to simulated vendors, and store dumps."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx
from cryptography.fernet import Fernet
from pydantic import SecretStr
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from syncbridge_bynder.simulator import BynderSimulator

from syncbridge.connections.secrets import SecretBox
from syncbridge.connections.service import ConnectionContext
from syncbridge.connector.registry import ConnectorRegistry
from syncbridge.connector.spec import ConnectorSettings
from syncbridge.models import Asset, Connection, RunStream, StoredRecord, StreamState
from syncbridge.store.unit_of_work import in_unit_of_work
from tests.connectors.bynder.support import make_simulator, settings_for

Sessionmaker = async_sessionmaker[AsyncSession]
#: Where the simulated Bynder portals answer (one host per portal).
PORTAL_HOST = "acme{n}.bynder.test"


def context(
    registry: ConnectorRegistry | None = None, *, key: bytes | None = None
) -> ConnectionContext:
    """A connection context over the installed connectors and a secrets key (fresh unless
    given)."""
    return ConnectionContext(
        registry=registry or ConnectorRegistry.from_entry_points(),
        box=SecretBox([key or Fernet.generate_key()]),
        allow_local=True,
    )


class HostRouter(httpx.AsyncBaseTransport):
    """Sends each request to the simulator serving its host (several vendors in one test)."""

    def __init__(self, apps: Mapping[str, Any]) -> None:
        self.routes = {host: httpx.ASGITransport(app=app) for host, app in apps.items()}
        self.calls = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.calls += 1
        return await self.routes[request.url.host].handle_async_request(request)


def split(model: ConnectorSettings) -> tuple[dict[str, Any], dict[str, str]]:
    """A settings model as a connection stores it: public settings and secrets apart."""
    secret_names = type(model).secret_fields()
    public = model.model_dump(mode="json", exclude=set(secret_names))
    secrets = {
        name: value.get_secret_value()
        for name in secret_names
        if isinstance(value := getattr(model, name), SecretStr)
    }
    return public, secrets


async def add_connection(
    sessionmaker: Sessionmaker,
    ctx: ConnectionContext,
    key: str,
    model: ConnectorSettings,
    *,
    name: str | None = None,
) -> uuid.UUID:
    """Store a connection of connector ``key`` with ``model``'s settings."""
    public, secrets = split(model)

    async def work(session: AsyncSession) -> uuid.UUID:
        connection = Connection(
            connector_key=key,
            name=name or f"{key}-{uuid.uuid4().hex[:8]}",
            settings=public,
            secrets=ctx.box.encrypt(secrets),
        )
        session.add(connection)
        await session.flush()
        return connection.id

    return await in_unit_of_work(sessionmaker, work)


@dataclass
class Portal:
    """A simulated Bynder portal and the connection to it."""

    sim: BynderSimulator
    host: str
    connection_id: uuid.UUID


def bynder_portal(n: int = 0, *, assets: int = 30, **options: Any) -> tuple[BynderSimulator, str]:
    """A simulated portal with ``assets`` media, and the host it answers on."""
    return make_simulator(assets=assets, **options), PORTAL_HOST.format(n=n)


async def connect_bynder(
    sessionmaker: Sessionmaker,
    ctx: ConnectionContext,
    sim: BynderSimulator,
    host: str,
    *,
    page_size: int = 10,
) -> uuid.UUID:
    """A Bynder connection to ``sim`` at ``host`` (small pages, short rate-limit blocks)."""
    model = settings_for(sim, base_url=f"https://{host}", page_size=page_size)
    return await add_connection(sessionmaker, ctx, "bynder", model)


Item = tuple[str, str, str, bool]


async def items(sessionmaker: Sessionmaker, connection_id: uuid.UUID) -> list[Item]:
    """Every stored item of a connection: (stream, external id, content hash, deleted)."""

    async def work(session: AsyncSession) -> list[Item]:
        out: list[Item] = []
        for model in (Asset, StoredRecord):
            rows = await session.execute(
                select(model.stream, model.external_id, model.content_hash, model.deleted_at)
                .where(model.connection_id == connection_id)
                .order_by(model.stream, model.external_id)
            )
            out += [(s, e, h, d is not None) for s, e, h, d in rows]
        return out

    return await in_unit_of_work(sessionmaker, work, write=False)


async def store_dump(sessionmaker: Sessionmaker, connection_id: uuid.UUID) -> dict[str, Any]:
    """What a sync leaves for a connection: its items with their data, and stream cursors."""

    async def work(session: AsyncSession) -> dict[str, Any]:
        data: dict[str, Any] = {}
        for model in (Asset, StoredRecord):
            rows = await session.execute(
                select(model.stream, model.external_id, model.data, model.deleted_at).where(
                    model.connection_id == connection_id
                )
            )
            for stream, external_id, value, deleted_at in rows:
                data[f"{stream}/{external_id}"] = (value, deleted_at is None)
        cursors = await session.execute(
            select(StreamState.stream, StreamState.cursor).where(
                StreamState.connection_id == connection_id
            )
        )
        return {"items": data, "cursors": {str(s): c for s, c in cursors}}

    return await in_unit_of_work(sessionmaker, work, write=False)


async def run_streams(sessionmaker: Sessionmaker, run_id: uuid.UUID) -> dict[str, RunStream]:
    """The streams of a run by name."""

    async def work(session: AsyncSession) -> dict[str, RunStream]:
        rows = await session.scalars(select(RunStream).where(RunStream.run_id == run_id))
        return {row.stream: row for row in rows}

    return await in_unit_of_work(sessionmaker, work, write=False)
