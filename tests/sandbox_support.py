"""Every sandbox connection of one world, served in process, stored with the default link
rules: what the linking, classification and metrics tests sync from."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
from cryptography.fernet import Fernet
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from syncbridge.connections.secrets import SecretBox
from syncbridge.connections.service import ConnectionContext
from syncbridge.connections.ssrf import origins
from syncbridge.connector.registry import ConnectorRegistry
from syncbridge.connector.spec import HostPolicy
from syncbridge.linking.defaults import load_default_link_rules
from syncbridge.models import Run
from syncbridge.sandbox.embedded import EmbeddedSandbox
from syncbridge.sandbox.spec import SandboxRegistry
from syncbridge.sandbox.world import World
from syncbridge.store.unit_of_work import in_unit_of_work
from syncbridge.sync.runs import run_sync

Sessionmaker = async_sessionmaker[AsyncSession]
PUBLIC_URL = "http://127.0.0.1:8000"


@dataclass
class EmbeddedWorld:
    """The world's simulators, the connection context to them and a client that reaches
    them in process."""

    sandbox: EmbeddedSandbox
    ctx: ConnectionContext
    http: httpx.AsyncClient
    sessionmaker: Sessionmaker

    async def sync(self, *, full: bool = False) -> Run:
        """A sync run of every connection, which must succeed."""
        run = await run_sync(self.sessionmaker, self.ctx, self.http, requested_by="test", full=full)
        assert run.status == "succeeded", run.error
        return run


@asynccontextmanager
async def embedded_world(
    sessionmaker: Sessionmaker, world: World, folder: Path
) -> AsyncIterator[EmbeddedWorld]:
    """Every sandbox connection of ``world`` stored (the folder DAM under ``folder``), with
    the default link rules loaded; nothing synced yet."""
    registry = ConnectorRegistry.from_entry_points()
    sandbox = EmbeddedSandbox.build(
        SandboxRegistry.from_entry_points(),
        registry,
        world=world,
        public_url=PUBLIC_URL,
        folder=folder,
    )
    app = FastAPI()
    sandbox.mount(app)
    ctx = ConnectionContext(
        registry=registry,
        box=SecretBox([Fernet.generate_key()]),
        allow_local=True,
        allowed_origins=origins([PUBLIC_URL]),
        policy=HostPolicy(sandbox_folders=sandbox.folders),
    )
    await in_unit_of_work(sessionmaker, lambda s: sandbox.ensure_connections(s, ctx))
    await in_unit_of_work(sessionmaker, lambda s: load_default_link_rules(s, "test"))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app)) as http:
        yield EmbeddedWorld(sandbox, ctx, http, sessionmaker)
