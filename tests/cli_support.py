"""Fixtures of the CLI tests that run against the sandbox's file-based connections (local
folder, CSV exports): the sandbox's folders written and its connections stored, and the CLI
pointed at the test database. A module sets ``SANDBOX_ASSETS`` to size the world (30)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from syncbridge.cli.serve import sandbox_settings
from syncbridge.connector.registry import ConnectorRegistry
from syncbridge.sandbox.embedded import EmbeddedSandbox, prepare_sandbox_connections
from syncbridge.sandbox.spec import SandboxRegistry
from syncbridge.sandbox.world import World
from syncbridge.settings import Settings, get_settings

PUBLIC_URL = "http://127.0.0.1:8000"


@pytest.fixture
def folder(settings: Settings, tmp_path: Path, request: pytest.FixtureRequest) -> Path:
    """The sandbox's folders written, and its connections stored."""
    sandbox = EmbeddedSandbox.build(
        SandboxRegistry.from_entry_points(),
        ConnectorRegistry.from_entry_points(),
        world=World(assets_count=getattr(request.module, "SANDBOX_ASSETS", 30)),
        public_url=PUBLIC_URL,
        folder=tmp_path / "sandbox-dam",
    )
    local = sandbox_settings(settings, PUBLIC_URL, sandbox.folder)
    asyncio.run(prepare_sandbox_connections(local, sandbox, ConnectorRegistry.from_entry_points()))
    return sandbox.folder


@pytest.fixture
def cli(db_url: str, folder: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Point the CLI at the test database and let it use the sandbox's folders."""
    monkeypatch.setenv("SYNCBRIDGE_DATABASE_URL", db_url)
    monkeypatch.setenv("SYNCBRIDGE_SANDBOX_FOLDERS", json.dumps([str(folder)]))
    monkeypatch.setenv("SYNCBRIDGE_WORKER_POLL_INTERVAL_S", "0.05")
    monkeypatch.setenv("COLUMNS", "250")
    get_settings.cache_clear()
    yield db_url
    get_settings.cache_clear()
