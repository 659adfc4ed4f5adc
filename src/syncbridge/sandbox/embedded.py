"""The embedded sandbox: vendor simulators inside the API process, with ready connections.

``syncbridge serve --sandbox`` mounts every installed connector's simulator at
``/sandbox/<key>`` of the API itself, writes a sandbox asset folder for file-based DAMs, and
keeps one connection per simulator (``sandbox-<key>``) pointing at it, so a fresh machine has
working vendors to check, read and write against without any account anywhere.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession

from syncbridge.connections import repository as connections_repository
from syncbridge.connections.schemas import ConnectionCreate, ConnectionUpdate
from syncbridge.connections.secrets import SecretBox
from syncbridge.connections.service import (
    ConnectionContext,
    create_connection,
    read_secrets,
    update_connection,
)
from syncbridge.connections.ssrf import origins
from syncbridge.connector.errors import ConnectorError
from syncbridge.connector.registry import ConnectorRegistry
from syncbridge.connector.spec import HostPolicy
from syncbridge.db import open_store
from syncbridge.logs import get_logger
from syncbridge.sandbox.spec import Materializer, SandboxRegistry, Simulator
from syncbridge.sandbox.world import World
from syncbridge.settings import Settings
from syncbridge.store.unit_of_work import in_unit_of_work

log = get_logger(__name__)
ACTOR = "sandbox"


@dataclass
class EmbeddedSandbox:
    """Simulators built from one world, and the connection settings that reach them."""

    world: World
    public_url: str
    folder: Path
    simulators: dict[str, Simulator] = field(default_factory=dict)
    connection_settings: dict[str, dict[str, Any]] = field(default_factory=dict)

    @classmethod
    def build(
        cls,
        sandboxes: SandboxRegistry,
        connectors: ConnectorRegistry,
        *,
        world: World,
        public_url: str,
        folder: Path,
    ) -> EmbeddedSandbox:
        """Build the simulator of every installed connector that ships one; write the sample
        folder of each file-based one (``<folder>/<key>``)."""
        sandbox = cls(world=world, public_url=public_url.rstrip("/"), folder=folder.resolve())
        for key in sandboxes.keys():
            if key not in connectors:
                log.warning("sandbox.without_connector", connector=key)
                continue
            try:
                spec = sandboxes.get(key)
            except ConnectorError as exc:
                log.warning("sandbox.skipped", connector=key, reason=exc.detail)
                continue
            if spec.simulator is not None:
                sandbox._add_simulator(key, spec.simulator(world))
            elif spec.materialize is not None:
                sandbox._add_folder(key, spec.materialize)
        return sandbox

    @property
    def folders(self) -> tuple[Path, ...]:
        """The sandbox's own folders, which its file-based connections may use as roots."""
        return (self.folder,)

    def _add_simulator(self, key: str, simulator: Simulator) -> None:
        self.simulators[key] = simulator
        self.connection_settings[key] = dict(
            simulator.connection_settings(f"{self.public_url}/sandbox/{key}")
        )

    def _add_folder(self, key: str, materialize: Materializer) -> None:
        target = self.folder / key
        marker = target / ".syncbridge-sandbox.json"
        if marker.is_file():
            # Written by an earlier start: keep what people and syncbridge changed since.
            settings = json.loads(marker.read_text(encoding="utf-8"))
        else:
            target.mkdir(parents=True, exist_ok=True)
            settings = dict(materialize(self.world, target))
            marker.write_text(json.dumps(settings, default=str), encoding="utf-8")
        self.connection_settings[key] = settings

    def mount(self, app: FastAPI) -> None:
        """Serve each simulator under ``/sandbox/<key>`` of ``app``."""
        for key, simulator in self.simulators.items():
            app.mount(f"/sandbox/{key}", simulator, name=f"sandbox-{key}")

    async def ensure_connections(self, session: AsyncSession, ctx: ConnectionContext) -> list[str]:
        """Create or refresh ``sandbox-<key>`` connections (flushed, audited); returns names."""
        names = []
        for key, settings in self.connection_settings.items():
            name = f"sandbox-{key}"
            await _upsert(session, ctx, key, name, settings)
            names.append(name)
        return names


async def _upsert(
    session: AsyncSession,
    ctx: ConnectionContext,
    key: str,
    name: str,
    settings: Mapping[str, Any],
) -> None:
    existing = await connections_repository.by_name(session, name)
    if existing is None:
        body = ConnectionCreate(connector=key, name=name, settings=dict(settings))
        await create_connection(session, ctx, body, actor=ACTOR)
    elif existing.connector_key == key:
        stored = {**existing.settings, **read_secrets(ctx, existing)}
        if any(stored.get(name) != value for name, value in settings.items()):
            # Simulators make fresh keys (e.g. an SNS signing cert) on each start.
            update = ConnectionUpdate(settings=dict(settings))
            await update_connection(session, ctx, existing, update, actor=ACTOR)


async def prepare_sandbox_connections(
    settings: Settings, sandbox: EmbeddedSandbox, registry: ConnectorRegistry
) -> list[str]:
    """Create or refresh the sandbox connections in the store at ``settings.database_url``."""
    ctx = ConnectionContext(
        registry=registry,
        box=SecretBox.from_key_material(settings.secret_key.get_secret_value()),
        allow_local=settings.allow_local_connections,
        allowed_origins=origins([*settings.sandbox_origins, sandbox.public_url]),
        policy=HostPolicy(sandbox_folders=(*settings.sandbox_folders, *sandbox.folders)),
    )
    async with open_store(settings.database_url) as sessionmaker:
        return await in_unit_of_work(
            sessionmaker, lambda session: sandbox.ensure_connections(session, ctx)
        )
